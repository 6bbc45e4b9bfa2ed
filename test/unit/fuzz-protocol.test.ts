/**
 * Property-based fuzzing of the room server's protocol layer (durable/core/step.ts `handleFrame` over
 * durable/xmpp/*), SECURITY.md "Abuse limits". Thousands of random and mutated frames go to one joined
 * connection ("mallory") while two other occupants (alice, bob) sit in the room. Properties:
 *  - `handleFrame` never throws (no uncaught exception can reach the Durable Object);
 *  - everything the server sends, to anyone, is well-formed XML (no injection through echoed input);
 *  - a frame that is not well-formed / restricted XML / oversize gets a stream error of that condition (RFC 6120
 *    §4.9.3) followed by `<close/>` and a WebSocket close;
 *  - an IQ get/set always gets exactly one answer (RFC 6120 §8.2.3): a result or an error with the same id,
 *    unless it was routed to another occupant;
 *  - alice and bob stay in the room, and a groupchat message from alice still reaches bob afterwards.
 */
import fc from "fast-check";
import { BYTE_BURST_STANZAS, BYTE_RATE_PER_SECOND } from "../../durable/features/rate-limit";
import { beforeEach, describe, expect, it } from "vitest";
import type { Effect } from "../../durable/core/effects";
import { addConn, newRoom, type ConnState } from "../../durable/core/state";
import { handleFrame, newRuntime, type Runtime } from "../../durable/core/step";
import { escapeAttr, parseFrame, XmlError } from "../../durable/xmpp/xml";
import { applyEffects, testDeps } from "./helpers/core-harness";

const DOMAIN = "parley.test";
const ROOM = "fuzz";
const ROOM_JID = `${ROOM}@conference.${DOMAIN}`;
const MAX_BYTES = 4096;
const NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
const OPEN = `<open xmlns="${NS_FRAMING}" to="${DOMAIN}" version="1.0"/>`;

interface World {
  rt: Runtime;
  clock: { now: number };
  /** frames delivered per connection id */
  inbox: Map<string, string[]>;
  closed: Map<string, number>;
  mallory: string;
  n: number;
}

function deliver(w: World, effects: Effect[]): void {
  const box = (id: string) => {
    let b = w.inbox.get(id);
    if (!b) w.inbox.set(id, (b = []));
    return b;
  };
  applyEffects(w.rt.room, effects, box, (conn, code) => w.closed.set(conn, code));
}

async function feed(w: World, id: string, frame: string): Promise<string[]> {
  const before = w.inbox.get(id)?.length ?? 0;
  deliver(w, await handleFrame(w.rt, id, frame));
  return (w.inbox.get(id) ?? []).slice(before);
}

/** Open, SASL ANONYMOUS, restart, bind, join ROOM as `nick` through the real protocol code. */
async function joinAs(w: World, id: string, nick: string): Promise<void> {
  const c: ConnState = { v: 1, id, domain: DOMAIN, ipKey: `ip-${id}`, phase: "init" };
  addConn(w.rt.room, c);
  await feed(w, id, OPEN);
  await feed(w, id, `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS"/>`);
  await feed(w, id, OPEN);
  await feed(w, id, `<iq xmlns="jabber:client" type="set" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>`);
  await feed(w, id, `<presence xmlns="jabber:client" to="${ROOM_JID}/${nick}"><x xmlns="http://jabber.org/protocol/muc"/></presence>`);
  expect(w.rt.room.conns.get(id)?.occ?.nick, `join of ${nick}: ${w.inbox.get(id)?.join("\n")}`).toBe(nick);
}

async function world(): Promise<World> {
  const clock = { now: 1_800_000_000_000 };
  const deps = testDeps(
    clock,
    { turnTtlSeconds: 3600, turnSecret: "fuzz-turn-secret-0123456789abcdefghij", bridgeSecret: "fuzz-bridge-secret-0123456789abcdefghij" },
    "r",
  );
  // Rate limit out of the way for the fuzz itself (it is tested on its own below).
  const rt = newRuntime(newRoom(ROOM), deps, { maxStanzaBytes: MAX_BYTES, ratePerSecond: 1e6, burst: 1e6, bytesPerSecond: 1e9, byteBurst: 1e9 });
  const w: World = { rt, clock, inbox: new Map(), closed: new Map(), mallory: "", n: 0 };
  await joinAs(w, "alice", "alice");
  await joinAs(w, "bob", "bob");
  await newMallory(w);
  return w;
}

async function newMallory(w: World): Promise<void> {
  w.mallory = `mallory-${++w.n}`;
  await joinAs(w, w.mallory, w.mallory);
}

/** Everything the server emitted must parse: it never forwards or reflects broken XML. */
function expectWellFormed(frames: string[], ctx: string): void {
  for (const f of frames) {
    try {
      parseFrame(f);
    } catch (e) {
      throw new Error(`server emitted malformed XML after ${JSON.stringify(ctx)}:\n${f}\n${String(e)}`);
    }
  }
}

/** The room still works for the innocent: both present, alice's message reaches bob. */
async function expectRoomHealthy(w: World, ctx: string): Promise<void> {
  const { room } = w.rt;
  expect(room.conns.get("alice")?.occ?.nick, ctx).toBe("alice");
  expect(room.conns.get("bob")?.occ?.nick, ctx).toBe("bob");
  expect(w.closed.has("alice") || w.closed.has("bob"), ctx).toBe(false);
  const marker = `health-${++w.n}`;
  await feed(w, "alice", `<message xmlns="jabber:client" to="${ROOM_JID}" type="groupchat" id="${marker}"><body>${marker}</body></message>`);
  const got = (w.inbox.get("bob") ?? []).filter((f) => f.includes(`<body>${marker}</body>`));
  expect(got, `${ctx}: bob did not get alice's message`).toHaveLength(1);
  expect(got[0]).toContain(`from="${ROOM_JID}/alice"`);
}

/** Send one fuzz frame as mallory and check the per-frame properties; re-join mallory if the stream was ended. */
async function fuzzOne(w: World, frame: string): Promise<string[]> {
  const id = w.mallory;
  let got: string[];
  try {
    got = await feed(w, id, frame);
  } catch (e) {
    throw new Error(`handleFrame threw on ${JSON.stringify(frame)}: ${String(e)}`);
  }
  expectWellFormed(got, frame);
  for (const who of ["alice", "bob"]) expectWellFormed((w.inbox.get(who) ?? []).slice(-5), frame);
  if (w.closed.has(id)) {
    // A stream that ended did so with a stream error (or the client's own <close/>), then <close/>.
    const last2 = got.slice(-2);
    expect(last2[1], frame).toBe(`<close xmlns="${NS_FRAMING}"/>`);
    const isClientClose = parseSafe(frame)?.some((e) => e.local === "close");
    if (!isClientClose) expect(last2[0], `no stream error for ${JSON.stringify(frame)}`).toMatch(/^<stream:error /);
    expect(w.rt.room.conns.has(id)).toBe(false);
    await newMallory(w);
  }
  return got;
}

function parseSafe(frame: string) {
  try {
    return parseFrame(frame);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Generators

const nastyChar = fc.constantFrom("<", ">", "&", '"', "'", "/", "=", " ", "\u0000", "\u0007", "\uFFFE", "]]>", "<!--", "<!DOCTYPE x [<!ENTITY a 'b'>]>", "&a;", "&#0;", "&#x110000;", "<?pi?>", "<![CDATA[x]]>", "xmlns:x='urn:x'", "\uD800", "é", "😀", "\n");
const jidish = fc.oneof(
  fc.constant(ROOM_JID),
  fc.constant(`${ROOM_JID}/alice`),
  fc.constant(`${ROOM_JID}/bob`),
  fc.constant(DOMAIN),
  fc.constant(`conference.${DOMAIN}`),
  fc.constant(`other@conference.${DOMAIN}`),
  fc.constant("evil.example/x"),
  fc.string({ maxLength: 40 }).map((s) => `${ROOM_JID}/${s}`),
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 20 }).map((s) => `${s}@${s}/${s}`),
);
/** Escape for use inside an attribute value so the generated stanza stays well-formed. */
const attr = (s: string) => escapeAttr(s.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/g, "?"));

/** A corpus of valid stanzas a real client sends, to be mutated. */
const CORPUS = [
  `<message xmlns="jabber:client" to="${ROOM_JID}" type="groupchat" id="m1"><body>hello</body></message>`,
  `<message xmlns="jabber:client" to="${ROOM_JID}/alice" type="chat" id="m2"><body>psst</body><x xmlns="http://jabber.org/protocol/muc#user"/></message>`,
  `<presence xmlns="jabber:client" to="${ROOM_JID}/mallory"><show>away</show><status>brb</status></presence>`,
  `<iq xmlns="jabber:client" type="get" id="i1" to="${ROOM_JID}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`,
  `<iq xmlns="jabber:client" type="get" id="i2" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`,
  `<iq xmlns="jabber:client" type="get" id="i3" to="${DOMAIN}"><services xmlns="urn:xmpp:extdisco:2"/></iq>`,
  `<iq xmlns="jabber:client" type="get" id="i4" to="${ROOM_JID}"><query xmlns="http://jabber.org/protocol/muc#owner"/></iq>`,
  `<iq xmlns="jabber:client" type="set" id="i5" to="${ROOM_JID}"><query xmlns="http://jabber.org/protocol/muc#admin"><item nick="bob" role="none"><reason>bye</reason></item></query></iq>`,
  `<iq xmlns="jabber:client" type="get" id="i6" to="${ROOM_JID}"><media xmlns="urn:parley:media:0"/></iq>`,
  `<iq xmlns="jabber:client" type="set" id="i7" to="${ROOM_JID}/bob"><jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s1"><content name="a"/></jingle></iq>`,
  `<iq xmlns="jabber:client" type="set" id="i8" to="${ROOM_JID}"><query xmlns="http://jabber.org/protocol/muc#owner"><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var="muc#roomconfig_roomsecret"><value>pw</value></field></x></query></iq>`,
  `<presence xmlns="jabber:client" to="${ROOM_JID}/mallory" type="unavailable"/>`,
  `<open xmlns="${NS_FRAMING}" to="${DOMAIN}" version="1.0"/>`,
];

type Mutation = (s: string, r: { pos: number; len: number; ins: string }) => string;
const MUTATIONS: Mutation[] = [
  (s, r) => s.slice(0, r.pos % (s.length + 1)) + r.ins + s.slice(r.pos % (s.length + 1)), // insert
  (s, r) => s.slice(0, r.pos % (s.length + 1)) + s.slice((r.pos % (s.length + 1)) + r.len), // delete
  (s, r) => s.slice(0, r.pos % (s.length + 1)), // truncate
  (s, r) => s.replace(/"[^"]*"/, `"${r.ins}"`), // replace the first attribute value raw
  (s, r) => s.replace(/jabber:client/, r.ins), // namespace swap
  (s, r) => s.replace(/id="[^"]*"/, `id="${attr(r.ins)}" id="x"`), // duplicate attribute
  (s, r) => s.replace(/>/, ` ${r.ins}>`), // junk in the start tag
  (s, r) => s.repeat(1 + (r.len % 3)), // several elements in one frame
  (s, r) => "<a>".repeat(10 + r.len * 4) + s, // deep nesting (unclosed)
  (s) => s.replace(/<(\w+)/, "<x:$1"), // unbound prefix
  (s, r) => s + "x".repeat(r.len * 200), // trailing garbage / oversize
];

const mutated = fc
  .record({
    base: fc.constantFrom(...CORPUS),
    ops: fc.array(
      fc.record({
        m: fc.integer({ min: 0, max: MUTATIONS.length - 1 }),
        pos: fc.nat(),
        len: fc.integer({ min: 0, max: 30 }),
        ins: fc.oneof(fc.string({ maxLength: 12 }), nastyChar, fc.array(nastyChar, { maxLength: 4 }).map((a) => a.join(""))),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  })
  .map(({ base, ops }) => ops.reduce((s, o) => MUTATIONS[o.m]!(s, o), base));

const garbage = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.array(fc.oneof(nastyChar, fc.string({ maxLength: 5 })), { maxLength: 30 }).map((a) => a.join("")),
);

/** A well-formed IQ get/set with random addressing, id and payload namespace. */
const iqGetSet = fc
  .record({
    type: fc.constantFrom("get", "set"),
    id: fc.string({ minLength: 1, maxLength: 20 }),
    to: fc.option(jidish, { nil: undefined }),
    payloadNs: fc.oneof(
      fc.constantFrom(
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items",
        "urn:xmpp:ping",
        "urn:xmpp:extdisco:2",
        "http://jabber.org/protocol/muc#owner",
        "http://jabber.org/protocol/muc#admin",
        "urn:parley:media:0",
        "urn:ietf:params:xml:ns:xmpp-session",
        "jabber:iq:roster",
        "vcard-temp",
      ),
      fc.string({ maxLength: 20 }),
    ),
    local: fc.constantFrom("query", "ping", "services", "media", "session", "vCard", "x"),
    inner: fc.constantFrom("", "<item/>", `<item nick="bob" role="none"/>`, `<x xmlns="jabber:x:data" type="submit"/>`, "text"),
  })
  .map(({ type, id, to, payloadNs, local, inner }) => ({
    id,
    frame:
      `<iq xmlns="jabber:client" type="${type}" id="${attr(id)}"${to === undefined ? "" : ` to="${attr(to)}"`}>` +
      `<${local} xmlns="${attr(payloadNs)}">${inner}</${local}></iq>`,
  }));

// ---------------------------------------------------------------------------------------------------------------

describe("protocol fuzz (fast-check)", () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  it("random garbage: never throws; ill-formed frames end the stream with the matching stream error", async () => {
    await fc.assert(
      fc.asyncProperty(garbage, async (frame) => {
        const id = w.mallory;
        let expected: string | undefined;
        try {
          parseFrame(frame);
        } catch (e) {
          if (e instanceof XmlError) expected = e.condition;
          else throw e;
        }
        if (new TextEncoder().encode(frame).length > MAX_BYTES) expected = "policy-violation";
        const got = await fuzzOne(w, frame);
        if (expected !== undefined) {
          expect(w.rt.room.conns.has(id), `stream survived ${JSON.stringify(frame)}`).toBe(false);
          expect(got.some((f) => f.startsWith("<stream:error ") && f.includes(`<${expected} `)), `want ${expected} for ${JSON.stringify(frame)}: ${got.join("\n")}`).toBe(true);
        }
      }),
      { numRuns: 1500 },
    );
    await expectRoomHealthy(w, "after garbage");
  }, 180_000);

  it("mutated real stanzas: never throws, only well-formed output, errors for what is broken, room unaffected", async () => {
    let streamErrors = 0;
    let stanzaErrors = 0;
    await fc.assert(
      fc.asyncProperty(mutated, async (frame) => {
        const id = w.mallory;
        const got = await fuzzOne(w, frame);
        if (!w.rt.room.conns.has(id)) streamErrors++;
        if (got.some((f) => / type="error"/.test(f))) stanzaErrors++;
        if (parseSafe(frame) === undefined) {
          expect(w.rt.room.conns.has(id), `ill-formed frame accepted: ${JSON.stringify(frame)}`).toBe(false);
        }
        // Mallory may have been kicked-out-and-rejoined; alice and bob must stay.
        expect(w.rt.room.conns.get("alice")?.occ).toBeDefined();
        expect(w.rt.room.conns.get("bob")?.occ).toBeDefined();
      }),
      { numRuns: 2500 },
    );
    // The generator really exercises both error paths.
    expect(streamErrors).toBeGreaterThan(100);
    expect(stanzaErrors).toBeGreaterThan(20);
    await expectRoomHealthy(w, "after mutations");
  }, 180_000);

  it("every IQ get/set gets exactly one result or error with its id (RFC 6120 §8.2.3), or is routed to an occupant", async () => {
    await fc.assert(
      fc.asyncProperty(iqGetSet, async ({ id, frame }) => {
        const aliceBefore = w.inbox.get("alice")?.length ?? 0;
        const bobBefore = w.inbox.get("bob")?.length ?? 0;
        const got = await fuzzOne(w, frame);
        const answers = got
          .map((f) => parseFrame(f)[0]!)
          .filter((e) => e.local === "iq" && e.attrs["id"] === id && (e.attrs["type"] === "result" || e.attrs["type"] === "error"));
        const routed =
          (w.inbox.get("alice")?.length ?? 0) > aliceBefore || (w.inbox.get("bob")?.length ?? 0) > bobBefore;
        if (routed) expect(answers.length, frame).toBeLessThanOrEqual(1);
        else expect(answers.length, `${frame}\n=> ${got.join("\n")}`).toBe(1);
      }),
      { numRuns: 1500 },
    );
    await expectRoomHealthy(w, "after iq fuzz");
  }, 180_000);
});

describe("per-connection stanza flood (token bucket)", () => {
  it("cuts off a flooding connection with a policy-violation stream error; the others carry on", async () => {
    const clock = { now: 1_800_000_000_000 };
    const rt = newRuntime(
      newRoom(ROOM),
      testDeps(clock, { turnTtlSeconds: 3600, turnSecret: "t".repeat(32), bridgeSecret: "b".repeat(32) }, "r"),
      // the production defaults (durable/config.ts): 50/s sustained, burst 200
      { maxStanzaBytes: 65536, ratePerSecond: 50, burst: 200 },
    );
    const w: World = { rt, clock, inbox: new Map(), closed: new Map(), mallory: "", n: 0 };
    await joinAs(w, "alice", "alice");
    await joinAs(w, "bob", "bob");
    await joinAs(w, "flooder", "flooder");
    let sent = 0;
    while (!w.closed.has("flooder") && sent < 1000) {
      await feed(w, "flooder", `<message xmlns="jabber:client" to="${ROOM_JID}" type="groupchat"><body>${sent++}</body></message>`);
    }
    expect(w.closed.get("flooder")).toBe(1008);
    expect(sent).toBeGreaterThan(150);
    expect(sent).toBeLessThan(260);
    const last = (w.inbox.get("flooder") ?? []).slice(-2);
    expect(last[0]).toMatch(/^<stream:error .*<policy-violation /);
    // bob saw flooder leave (unavailable) and the room still works
    expect((w.inbox.get("bob") ?? []).some((f) => f.includes(`from="${ROOM_JID}/flooder"`) && f.includes('type="unavailable"'))).toBe(true);
    await expectRoomHealthy(w, "after flood");
    // A client within the sustained rate is never cut off.
    clock.now += 10_000;
    for (let i = 0; i < 500; i++) {
      clock.now += 25; // 40 stanzas/s < 50/s
      await feed(w, "alice", `<message xmlns="jabber:client" to="${ROOM_JID}" type="groupchat"><body>ok${i}</body></message>`);
    }
    expect(w.closed.has("alice")).toBe(false);
  }, 60_000);

  it("cuts off a burst of large stanzas by its bytes (byte budget), long before it is fanned out 200 times", async () => {
    const clock = { now: 1_800_000_000_000 };
    const rt = newRuntime(
      newRoom(ROOM),
      testDeps(clock, { turnTtlSeconds: 3600, turnSecret: "t".repeat(32), bridgeSecret: "b".repeat(32) }, "r"),
      { maxStanzaBytes: 65536, ratePerSecond: 50, burst: 200 }, // production defaults, byte budget by default
    );
    const w: World = { rt, clock, inbox: new Map(), closed: new Map(), mallory: "", n: 0 };
    await joinAs(w, "alice", "alice");
    await joinAs(w, "bob", "bob");
    await joinAs(w, "big", "big");
    const head = `<message xmlns="jabber:client" to="${ROOM_JID}" type="groupchat"><body>`;
    const tail = "</body></message>";
    const big = (i: number) => head + `${i} `.padEnd(65536 - head.length - tail.length, "x") + tail;
    expect(big(0).length).toBe(65536);
    const before = (w.inbox.get("bob") ?? []).length;
    let sent = 0;
    while (!w.closed.has("big") && sent < 200) await feed(w, "big", big(sent++));
    expect(w.closed.get("big")).toBe(1008);
    expect((w.inbox.get("big") ?? []).slice(-2)[0]).toMatch(/^<stream:error .*<policy-violation .*bytes per second/);
    // the burst is BYTE_BURST_STANZAS largest frames, less what the join already took
    expect(sent).toBeGreaterThanOrEqual(BYTE_BURST_STANZAS);
    expect(sent).toBeLessThanOrEqual(BYTE_BURST_STANZAS + 1);
    const copies = (w.inbox.get("bob") ?? []).slice(before).filter((f) => f.includes("<body>"));
    expect(copies).toHaveLength(sent - 1);
    await expectRoomHealthy(w, "after byte flood");
    // the budget refills at BYTE_RATE_PER_SECOND: a large stanza every 4 s or so passes, multi-byte text counted in bytes
    await joinAs(w, "steady", "steady");
    for (let i = 0; i < 12; i++) {
      clock.now += Math.ceil((65536 / BYTE_RATE_PER_SECOND) * 1000);
      await feed(w, "steady", big(i));
    }
    expect(w.closed.has("steady")).toBe(false);
    const wide = head + "\u20AC".repeat(Math.floor((65536 - head.length - tail.length) / 3)) + tail; // 3 bytes each
    for (let i = 0; i < BYTE_BURST_STANZAS + 1 && !w.closed.has("steady"); i++) await feed(w, "steady", wide);
    expect(w.closed.get("steady")).toBe(1008);
  }, 60_000);
});
