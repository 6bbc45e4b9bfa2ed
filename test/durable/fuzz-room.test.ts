/**
 * Fuzzing the real room Durable Object over real WebSockets (workerd, through the Worker's fetch), SECURITY.md
 * "Abuse limits". A "mallory" occupant sends random, mutated, binary and oversize frames while alice and bob sit
 * in the same room. Properties, per frame:
 *  - a frame that is not well-formed, restricted, binary or oversize is answered with a stream error of the
 *    matching condition (RFC 6120 §4.9.3, RFC 7395 §3.6) and the socket is closed;
 *  - otherwise the connection keeps working (a ping right after it is answered) or was ended with a stream error;
 *  - alice and bob are never disconnected, never receive malformed XML, and a message from alice still reaches
 *    bob afterwards. An uncaught exception in the object would reset it and drop alice and bob: that fails too.
 */
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFrame, XmlError } from "../../durable/xmpp/xml";
import { DEV_SECRETS } from "../../contract/secrets";
import { connect, connected, join, login, type TestClient } from "./helpers";

const ROOM = "fuzz-room";
const DOMAIN = "localhost";
const ROOM_JID = `${ROOM}@conference.${DOMAIN}`;
const MAX_BYTES = 65_536; // MAX_STANZA_BYTES default (durable/config.ts)

let alice: TestClient;
let bob: TestClient;
let mallory: TestClient;
let n = 0;

let lastMalloryN = 0;
async function newMallory(): Promise<void> {
  mallory = await connect(ROOM);
  await login(mallory);
  lastMalloryN = ++n;
  await join(mallory, ROOM, `mallory-${lastMalloryN}`);
}

function expectedStreamError(frame: string): string | undefined {
  if (new TextEncoder().encode(frame).length > MAX_BYTES) return "policy-violation";
  try {
    parseFrame(frame);
    return undefined;
  } catch (e) {
    if (e instanceof XmlError) return e.condition;
    throw e;
  }
}

/** Send `frame` as mallory, then a ping; resolve once the ping is answered or the stream was ended. */
async function fuzzOne(
  frame: string | ArrayBuffer,
  expectStreamError = false,
): Promise<{ ended: boolean; streamError?: string; frames: string[] }> {
  if (mallory.closed) await newMallory();
  mallory.frames.splice(0);
  mallory.send(frame as string);
  // Two pings after the frame: the room server has been seen to answer the first ping before the stream error
  // of the frame before it (out of order; reported to the room-server owner). The second ping cannot be answered
  // once the stream has ended, so after it every effect of `frame` has been observed.
  let ended = false;
  for (const k of [1, 2]) {
    const sync = `sync-${++n}-${k}`;
    try {
      mallory.send(`<iq xmlns="jabber:client" type="get" id="${sync}" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`);
      await mallory.next((f) => f.raw.includes(`id="${sync}"`), 20_000, `ping ${sync}`);
    } catch (e) {
      if (!mallory.closed) throw e;
      ended = true;
      break;
    }
  }
  if (!ended && expectStreamError) {
    try {
      await mallory.waitClosed(10_000);
      ended = true;
    } catch {
      /* not closed: judged by the caller */
    }
  }
  if (mallory.closed) ended = true;
  const frames = mallory.frames.map((f) => f.raw);
  const se = frames.find((f) => f.startsWith("<stream:error"));
  return se === undefined ? { ended, frames } : { ended, streamError: se, frames };
}

async function expectRoomHealthy(what: string): Promise<void> {
  expect(alice.closed, `${what}: alice disconnected`).toBeUndefined();
  expect(bob.closed, `${what}: bob disconnected`).toBeUndefined();
  for (const c of [alice, bob]) {
    for (const f of c.frames) expect(() => parseFrame(f.raw), `${what}: malformed XML to an innocent occupant: ${f.raw}`).not.toThrow();
    c.frames.splice(0);
  }
  const marker = `health-${++n}`;
  alice.send(`<message xmlns="jabber:client" to="${ROOM_JID}" type="groupchat" id="${marker}"><body>${marker}</body></message>`);
  const got = await bob.expect(`<body>${marker}</body>`);
  expect(got.raw).toContain(`from="${ROOM_JID}/alice"`);
}

const nasty = fc.constantFrom("<", ">", "&", '"', "'", "\u0000", "\u0007", "\uFFFE", "]]>", "<!--", "<!DOCTYPE x [<!ENTITY a 'b'>]>", "&a;", "&#0;", "<?pi?>", "<![CDATA[x]]>", "\uD800", "😀", "xmlns:a='x'");
const CORPUS = [
  `<message xmlns="jabber:client" to="${ROOM_JID}" type="groupchat" id="m1"><body>hello</body></message>`,
  `<message xmlns="jabber:client" to="${ROOM_JID}/bob" type="chat"><body>psst</body></message>`,
  `<presence xmlns="jabber:client" to="${ROOM_JID}/mallory"><show>away</show></presence>`,
  `<iq xmlns="jabber:client" type="get" id="i1" to="${ROOM_JID}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`,
  `<iq xmlns="jabber:client" type="get" id="i3" to="${DOMAIN}"><services xmlns="urn:xmpp:extdisco:2"/></iq>`,
  `<iq xmlns="jabber:client" type="set" id="i5" to="${ROOM_JID}"><query xmlns="http://jabber.org/protocol/muc#admin"><item nick="bob" role="none"/></query></iq>`,
  `<iq xmlns="jabber:client" type="set" id="i7" to="${ROOM_JID}/bob"><jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s1"/></iq>`,
  `<iq xmlns="jabber:client" type="get" id="i6" to="${ROOM_JID}"><media xmlns="urn:parley:media:0"/></iq>`,
];
const mutated = fc
  .record({ base: fc.constantFrom(...CORPUS), pos: fc.nat(), del: fc.integer({ min: 0, max: 20 }), ins: fc.oneof(nasty, fc.string({ maxLength: 8 })) })
  .map(({ base, pos, del, ins }) => {
    const p = pos % (base.length + 1);
    return base.slice(0, p) + ins + base.slice(p + del);
  });
const frames = fc.oneof(
  { weight: 3, arbitrary: mutated },
  { weight: 2, arbitrary: fc.string({ maxLength: 120 }) },
  { weight: 1, arbitrary: fc.array(nasty, { minLength: 1, maxLength: 6 }).map((a) => a.join("")) },
  { weight: 1, arbitrary: fc.constantFrom(`<a>`.repeat(100), `<message xmlns="jabber:client"><body>${"x".repeat(MAX_BYTES)}</body></message>`) },
);

describe("room Durable Object fuzz over real WebSockets", () => {
  beforeAll(async () => {
    alice = await connected(ROOM, "alice");
    bob = await connected(ROOM, "bob");
    await newMallory();
  }, 60_000);
  afterAll(() => {
    for (const c of [alice, bob, mallory]) c?.close();
  });

  it("answers every bad frame with a stream error and leaves the other occupants unaffected", async () => {
    let streamErrors = 0;
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        const want = expectedStreamError(frame);
        const r = await fuzzOne(frame, want !== undefined);
        if (want !== undefined) {
          expect(r.ended, `stream survived ${JSON.stringify(frame.slice(0, 200))}: ${r.frames.join("\n")}`).toBe(true);
          expect(r.streamError, `no stream error for ${JSON.stringify(frame.slice(0, 200))}: ${r.frames.join("\n")}`).toBeDefined();
          // The condition is the frame's own, except when an earlier frame's stream error (from a stanza check
          // after parsing) arrives first: the stream then ended for that earlier frame, which is also a bad one.
          if (!r.streamError!.includes(`<${want} `)) expect(r.streamError, `stream error for ${JSON.stringify(frame.slice(0, 200))}`).toMatch(/<text [^>]*>&lt;(presence|message|iq)&gt;/);
        }
        if (r.ended) {
          // whatever ended it, it ended with a stream error then <close/> (RFC 7395 §3.6), never a silent drop
          expect(r.streamError, `silent close after ${JSON.stringify(frame.slice(0, 200))}: ${r.frames.join("\n")}`).toBeDefined();
          streamErrors++;
          await newMallory();
        }
        expect(alice.closed).toBeUndefined();
        expect(bob.closed).toBeUndefined();
      }),
      { numRuns: 250 },
    );
    expect(streamErrors).toBeGreaterThan(50);
    await expectRoomHealthy("after fuzz");
    // No ghosts: every connection that was cut off is gone from the room; exactly alice, bob and the last mallory.
    const info = await exports.default.fetch(
      new Request(`http://${DOMAIN}/admin/rooms/${ROOM}`, { headers: { authorization: `Bearer ${DEV_SECRETS.ADMIN_TOKEN}` } }),
    );
    expect(info.status).toBe(200);
    const body = (await info.json()) as { occupants: { nick: string }[] };
    expect(body.occupants.map((o) => o.nick).sort()).toEqual(["alice", "bob", `mallory-${lastMalloryN}`].sort());
  }, 300_000);

  it("answers a binary frame with unsupported-encoding", async () => {
    const r = await fuzzOne(new Uint8Array([0x3c, 0x61, 0x2f, 0x3e]).buffer, true);
    expect(r.ended).toBe(true);
    expect(r.streamError).toContain("<unsupported-encoding ");
    await newMallory();
    await expectRoomHealthy("after binary frame");
  }, 60_000);

  it("answers well-formed but wrong stanzas with stanza errors and keeps the stream", async () => {
    const cases: [string, string][] = [
      [`<iq xmlns="jabber:client" type="get" to="${ROOM_JID}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`, "bad-request"],
      [`<iq xmlns="jabber:client" type="get" id="x1" to="not a jid@@/"><ping xmlns="urn:xmpp:ping"/></iq>`, "jid-malformed"],
      [`<message xmlns="jabber:client" to="other-room@conference.${DOMAIN}" type="groupchat"><body>x</body></message>`, "not-allowed"],
      [`<iq xmlns="jabber:client" type="get" id="x2" to="${DOMAIN}"><unknown xmlns="urn:example:nope"/></iq>`, "service-unavailable"],
      [`<message xmlns="jabber:client" to="${ROOM_JID}/nobody-here" type="chat"><body>x</body></message>`, "item-not-found"],
    ];
    for (const [frame, condition] of cases) {
      const r = await fuzzOne(frame);
      expect(r.ended, frame).toBe(false);
      expect(r.frames.some((f) => f.includes('type="error"') && f.includes(`<${condition} `)), `${frame}\n=> ${r.frames.join("\n")}`).toBe(true);
    }
    await expectRoomHealthy("after stanza errors");
  }, 60_000);
});
