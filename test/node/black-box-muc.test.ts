/**
 * Hostile visitors against the README's local stack (`npm start`: `workers/scripts/dev.mjs`, raw RFC 7395 frames): a
 * page of another website cannot open a signaling session (Origin check, 403), while a native client that sends no
 * Origin can; a participant cannot change the
 * room subject by writing `<subject/>` with a prefix (XEP-0045 §8.1: moderators only), and an IQ result sent to an
 * occupant that asked nothing reaches no one (IQs between occupants travel under ids the room gives).
 * "Reaches no one" is shown without sleeping: the room handles one connection's frames in order, so once a marker
 * message sent after the hostile stanza has arrived everywhere, anything the hostile stanza caused has arrived too.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startLocalStack, type LocalStack } from "./helpers/local-stack";
import { RawXmppClient } from "./helpers/raw-xmpp";

const DOMAIN = "127.0.0.1";

describe("hostile visitors, black box (npm start)", () => {
  let stack: LocalStack;
  const edge = { wsUrl: "" };
  const room = `bb-${randomUUID().slice(0, 8)}`;
  const roomJid = `${room}@conference.${DOMAIN}`;
  const people: Record<"alice" | "bob" | "carol", RawXmppClient> = {} as never;

  async function join(nick: keyof typeof people, ip: string): Promise<void> {
    const c = await RawXmppClient.connect(`${edge.wsUrl}/xmpp-websocket/${room}`, ip);
    people[nick] = c;
    await c.login(DOMAIN);
    c.send(`<presence xmlns="jabber:client" to="${roomJid}/${nick}"><x xmlns="http://jabber.org/protocol/muc"/></presence>`);
    expect(await c.take([`from="${roomJid}/${nick}"`, 'code="110"'])).not.toContain('type="error"');
    await c.take(["<subject/>"]); // the join is complete
  }

  /** `from` sends a groupchat marker; resolves once every occupant has it. */
  async function barrier(from: keyof typeof people): Promise<string> {
    const mark = `mark-${randomUUID().slice(0, 8)}`;
    people[from].send(`<message xmlns="jabber:client" to="${roomJid}" type="groupchat" id="${mark}"><body>${mark}</body></message>`);
    await Promise.all(Object.values(people).map((c) => c.waitFor(`<body>${mark}</body>`)));
    return mark;
  }

  beforeAll(async () => {
    stack = await startLocalStack({ bridge: false, turn: false });
    edge.wsUrl = stack.httpUrl.replace(/^http/, "ws");
    await join("alice", "10.91.0.1"); // creates the room: owner and moderator
    await join("bob", "10.91.0.2");
    await join("carol", "10.91.0.3");
  }, 120_000);
  afterAll(async () => {
    for (const c of Object.values(people)) c.close();
    await stack?.stop();
  });

  /** The HTTP status of a WebSocket upgrade to the room's signaling URL with this Origin (none: no header). */
  function upgradeStatus(origin: string | undefined): Promise<number> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${edge.wsUrl}/xmpp-websocket/${room}`, ["xmpp"], origin ? { origin } : {});
      ws.once("open", () => (ws.close(), resolve(101)));
      ws.once("unexpected-response", (_req, res) => (res.resume(), resolve(res.statusCode ?? 0)));
      ws.once("error", (e) => reject(e));
    });
  }

  it("refuses a foreign browser Origin with 403 and accepts the edge's own and none", async () => {
    expect(await upgradeStatus("https://evil.example")).toBe(403);
    expect(await upgradeStatus(stack.httpUrl)).toBe(101);
    expect(await upgradeStatus(undefined)).toBe(101);
  });

  it("a participant's prefixed <subject/> is refused and reaches no one", async () => {
    const spellings = [
      `<message to="${roomJid}" type="groupchat" id="s1"><c:subject xmlns:c="jabber:client">pwned-1</c:subject></message>`,
      `<message xmlns="jabber:client" to="${roomJid}" type="groupchat" id="s2"><c:subject xmlns:c="jabber:client">pwned-2</c:subject></message>`,
      `<message xmlns="jabber:client" xmlns:c="jabber:client" to="${roomJid}" type="groupchat" id="s3"><c:subject>pwned-3</c:subject></message>`,
    ];
    for (const [i, s] of spellings.entries()) {
      people.bob.send(s);
      const err = await people.bob.take([`id="s${i + 1}"`, 'type="error"']);
      expect(err).toContain("<forbidden");
    }
    await barrier("bob");
    for (const c of Object.values(people)) expect(c.frames.filter((f) => f.text.includes("pwned")).map((f) => f.text)).toEqual([]);
    // a prefixed stanza is not taken at all (its children would change namespace when relayed)
    const mallory = await RawXmppClient.connect(`${edge.wsUrl}/xmpp-websocket/${room}`, "10.91.0.9");
    try {
      await mallory.login(DOMAIN);
      mallory.send(`<c:message xmlns:c="jabber:client" to="${roomJid}" type="groupchat"><subject>pwned-4</subject></c:message>`);
      await mallory.waitFor("<bad-namespace-prefix");
    } finally {
      mallory.close();
    }
    await barrier("alice");
    for (const c of Object.values(people)) expect(c.frames.some((f) => f.text.includes("pwned-4"))).toBe(false);
  }, 60_000);

  it("an unsolicited IQ result reaches no one; a solicited one comes back with the asker's id", async () => {
    // carol "answers" a request alice never sent her, with ids alice's client might be waiting on
    for (const id of ["x1", "bind", "j1"]) {
      people.carol.send(`<iq xmlns="jabber:client" to="${roomJid}/alice" type="result" id="${id}"><query xmlns="urn:x:forged"/></iq>`);
      people.carol.send(`<iq xmlns="jabber:client" to="${roomJid}/alice" type="error" id="${id}"><error type="cancel"/></iq>`);
    }
    await barrier("carol");
    for (const c of Object.values(people)) {
      expect(c.frames.filter((f) => f.text.includes("urn:x:forged") || f.text.includes(`from="${roomJid}/carol" type="error"`)).map((f) => f.text)).toEqual([]);
    }
    // a real request from alice to bob: bob sees the room's id, alice gets the answer under her own
    people.alice.send(`<iq xmlns="jabber:client" to="${roomJid}/bob" type="get" id="ask-1"><query xmlns="urn:x:q"/></iq>`);
    const req = await people.bob.take(['<query xmlns="urn:x:q"/>', `from="${roomJid}/alice"`]);
    const routed = /id="([^"]+)"/.exec(req)![1]!;
    expect(routed).not.toBe("ask-1");
    // carol cannot answer in bob's place even with that id
    people.carol.send(`<iq xmlns="jabber:client" to="${roomJid}/alice" type="result" id="${routed}"><query xmlns="urn:x:forged"/></iq>`);
    people.bob.send(`<iq xmlns="jabber:client" to="${roomJid}/alice" type="result" id="${routed}"><query xmlns="urn:x:answer"/></iq>`);
    const res = await people.alice.take(['<query xmlns="urn:x:answer"/>']);
    expect(res).toContain(`from="${roomJid}/bob"`);
    expect(res).toContain('id="ask-1"');
    await barrier("carol");
    expect(people.alice.frames.some((f) => f.text.includes("urn:x:forged"))).toBe(false);
  }, 60_000);
});
