/**
 * SECURITY.md "Abuse limits": guessing a room password from one address is slowed down, end to end against the
 * real edge (`wrangler dev`). The room server (durable/features/muc-password.ts) lets 3 wrong passwords through
 * with `not-authorized`, then blocks that client for 2 s, 4 s, 8 s, ... and refuses every attempt while blocked
 * (even the right password) with `policy-violation` (type wait, "retry in N s"); another address is unaffected.
 * Rotating addresses buy nothing: an IPv6 client is one client per /64, and a room takes ROOM_FREE_FAILURES wrong
 * passwords from everyone together before it spaces password checks ROOM_SPACING_MS apart, so 500 guessers on 500
 * different networks get about 20 guesses checked, not 1500, and the room's PBKDF2 work stays bounded.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FREE_ATTEMPTS, ROOM_FREE_FAILURES, ROOM_SPACING_MS } from "../../durable/features/muc-password";
import { RawXmppClient } from "./helpers/raw-xmpp";
import { startEdge, type EdgeHandle } from "./helpers/wrangler-dev";

const DOMAIN = "127.0.0.1";

type JoinResult = { joined: true } | { joined: false; condition: string; type: string; text: string };

/** Try to join (XEP-0045 §7.2, with a password if given); resolves with "joined" or the error condition, type and text. */
async function tryJoin(c: RawXmppClient, roomJid: string, nick: string, password?: string): Promise<JoinResult> {
  const id = `j-${randomUUID().slice(0, 8)}`;
  const pw = password === undefined ? "" : `<password>${password}</password>`;
  c.send(`<presence xmlns="jabber:client" id="${id}" to="${roomJid}/${nick}"><x xmlns="http://jabber.org/protocol/muc">${pw}</x></presence>`);
  const f = await c.take([`from="${roomJid}/${nick}"`]);
  if (!f.includes('type="error"')) {
    expect(f).toContain('code="110"');
    return { joined: true };
  }
  const condition = /<([a-z-]+) xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/.exec(f)?.[1] ?? "?";
  const type = /<error type="(\w+)"/.exec(f)?.[1] ?? "?";
  const text = /<text[^>]*>([^<]*)<\/text>/.exec(f)?.[1] ?? "";
  return { joined: false, condition, type, text };
}

describe("room password guessing is slowed per address (wrangler dev)", () => {
  let edge: EdgeHandle;
  const room = `pw-${randomUUID().slice(0, 8)}`;
  const roomJid = `${room}@conference.${DOMAIN}`;
  const SECRET = "correct horse battery staple";
  const clients: RawXmppClient[] = [];
  let url: string;

  async function lockedRoom(name: string): Promise<{ url: string; jid: string; owner: RawXmppClient }> {
    const roomUrl = `${edge.wsUrl}/xmpp-websocket/${name}`;
    const jid = `${name}@conference.${DOMAIN}`;
    // The owner creates the room and locks it (XEP-0045 §10.2 muc#roomconfig_roomsecret).
    const owner = await RawXmppClient.connect(roomUrl, "10.88.0.1");
    clients.push(owner);
    await owner.login(DOMAIN);
    expect(await tryJoin(owner, jid, "owner")).toEqual({ joined: true });
    owner.send(
      `<iq xmlns="jabber:client" type="set" id="cfg" to="${jid}"><query xmlns="http://jabber.org/protocol/muc#owner">` +
        `<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
        `<field var="muc#roomconfig_passwordprotectedroom"><value>1</value></field>` +
        `<field var="muc#roomconfig_roomsecret"><value>${SECRET}</value></field></x></query></iq>`,
    );
    expect(await owner.take([`id="cfg"`])).toContain('type="result"');
    return { url: roomUrl, jid, owner };
  }

  beforeAll(async () => {
    // the room's own session limit is lifted here so that the password path itself is what is measured
    edge = await startEdge({ vars: { ROOM_NEW_SESSIONS_PER_MINUTE: "100000" } });
    url = `${edge.wsUrl}/xmpp-websocket/${room}`;
    await lockedRoom(room);
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await edge?.stop();
  });

  it("blocks one address after 3 wrong guesses, refuses even the right password while blocked, doubles the wait", async () => {
    const attacker = await RawXmppClient.connect(url, "10.88.0.66");
    clients.push(attacker);
    await attacker.login(DOMAIN);
    for (let i = 0; i < 3; i++) {
      expect(await tryJoin(attacker, roomJid, "guesser", `guess-${i}`)).toMatchObject({ joined: false, condition: "not-authorized" });
    }
    // 4th wrong guess: still not-authorized, and now the address is blocked for 2 s.
    expect(await tryJoin(attacker, roomJid, "guesser", "guess-3")).toMatchObject({ joined: false, condition: "not-authorized" });
    const blocked = await tryJoin(attacker, roomJid, "guesser", SECRET);
    expect(blocked).toMatchObject({ joined: false, condition: "policy-violation", type: "wait" });
    expect(blocked.joined === false && blocked.text).toMatch(/retry in [12] s/);

    // Another address with the right password is not affected.
    const friend = await RawXmppClient.connect(url, "10.88.0.2");
    clients.push(friend);
    await friend.login(DOMAIN);
    expect(await tryJoin(friend, roomJid, "friend", SECRET)).toEqual({ joined: true });

    // Once the block has passed, the next wrong guess blocks for twice as long (4 s).
    const deadline = Date.now() + 30_000;
    let r = await tryJoin(attacker, roomJid, "guesser", "guess-4");
    while (r.joined === false && r.condition === "policy-violation" && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 250));
      r = await tryJoin(attacker, roomJid, "guesser", "guess-4");
    }
    expect(r).toMatchObject({ joined: false, condition: "not-authorized" });
    const again = await tryJoin(attacker, roomJid, "guesser", SECRET);
    expect(again).toMatchObject({ joined: false, condition: "policy-violation" });
    expect(again.joined === false && again.text).toMatch(/retry in [34] s/);
  }, 120_000);

  /** One guess from a fresh connection at `ip` (the back-off key is taken when the session is opened). */
  async function guessFrom(ip: string, roomUrl: string, jid: string, password: string): Promise<JoinResult> {
    const c = await RawXmppClient.connect(roomUrl, ip, 60_000);
    try {
      await c.login(DOMAIN);
      return await tryJoin(c, jid, "guesser", password);
    } finally {
      c.close();
    }
  }

  it("500 guessers on 500 different IPv6 networks: the room checks about 20 guesses, then one per 5 s", { timeout: 600_000 }, async () => {
    const r = await lockedRoom(`pw6-${randomUUID().slice(0, 8)}`);
    const started = Date.now();
    const results: JoinResult[] = [];
    for (let i = 0; i < 500; i += 25) {
      const batch = Array.from({ length: 25 }, (_, k) => guessFrom(`2001:db8:${(i + k).toString(16)}:7::1`, r.url, r.jid, `guess-${i + k}`));
      results.push(...(await Promise.all(batch)));
    }
    const seconds = (Date.now() - started) / 1000;
    const checked = results.filter((x) => x.joined === false && x.condition === "not-authorized").length;
    const refused = results.filter((x) => x.joined === false && x.condition === "policy-violation").length;
    console.log(`500 rotating-network guesses in ${seconds.toFixed(1)} s: ${checked} checked (PBKDF2), ${refused} refused unchecked`);
    expect(checked + refused).toBe(500);
    expect(checked).toBeGreaterThanOrEqual(ROOM_FREE_FAILURES);
    expect(checked).toBeLessThanOrEqual(ROOM_FREE_FAILURES + Math.ceil((seconds * 1000) / ROOM_SPACING_MS) + 1);
    // the refusal says why and when to come back
    const one = results.find((x) => x.joined === false && x.condition === "policy-violation");
    expect(one?.joined === false && one.text).toMatch(/many wrong passwords; retry in [1-5] s/);
    // the owner's traffic still flows, and a friend with the right password gets in once the spacing has passed
    r.owner.send(`<iq xmlns="jabber:client" type="get" id="alive" to="${r.jid}"><ping xmlns="urn:xmpp:ping"/></iq>`);
    expect(await r.owner.take([`id="alive"`])).toContain('type="result"');
    const friend = await RawXmppClient.connect(r.url, "192.0.2.77");
    clients.push(friend);
    await friend.login(DOMAIN);
    const deadline = Date.now() + 30_000;
    let j = await tryJoin(friend, r.jid, "friend", SECRET);
    while (j.joined === false && j.condition === "policy-violation" && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 500));
      j = await tryJoin(friend, r.jid, "friend", SECRET);
    }
    expect(j).toEqual({ joined: true });
  });

  it("rotating through the addresses of one IPv6 /64 is one client", { timeout: 300_000 }, async () => {
    const r = await lockedRoom(`pw64-${randomUUID().slice(0, 8)}`);
    const results: JoinResult[] = [];
    for (let i = 0; i < 12; i++) results.push(await guessFrom(`2001:db8:64:64:${(i + 1).toString(16)}::${i + 7}`, r.url, r.jid, `g-${i}`));
    const checked = results.filter((x) => x.joined === false && x.condition === "not-authorized").length;
    // FREE_ATTEMPTS free, the next one blocks for 2 s; the rest come while it is blocked (a few may land after it)
    expect(checked).toBeGreaterThanOrEqual(FREE_ATTEMPTS + 1);
    expect(checked).toBeLessThanOrEqual(FREE_ATTEMPTS + 3);
    expect(results.slice(FREE_ATTEMPTS + 1).some((x) => x.joined === false && x.condition === "policy-violation")).toBe(true);
  });
});
