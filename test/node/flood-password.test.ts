/**
 * SECURITY.md "Abuse limits": guessing a room password from one address is slowed down, end to end against the
 * real edge (`wrangler dev`). The room server (durable/features/muc-password.ts) lets 3 wrong passwords through
 * with `not-authorized`, then blocks that client for 2 s, 4 s, 8 s, ... and refuses every attempt while blocked
 * (even the right password) with `policy-violation` (type wait, "retry in N s"); another address is unaffected.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

  beforeAll(async () => {
    edge = await startEdge();
    url = `${edge.wsUrl}/xmpp-websocket/${room}`;
    // The owner creates the room and locks it (XEP-0045 §10.2 muc#roomconfig_roomsecret).
    const owner = await RawXmppClient.connect(url, "10.88.0.1");
    clients.push(owner);
    await owner.login(DOMAIN);
    expect(await tryJoin(owner, roomJid, "owner")).toEqual({ joined: true });
    owner.send(
      `<iq xmlns="jabber:client" type="set" id="cfg" to="${roomJid}"><query xmlns="http://jabber.org/protocol/muc#owner">` +
        `<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
        `<field var="muc#roomconfig_passwordprotectedroom"><value>1</value></field>` +
        `<field var="muc#roomconfig_roomsecret"><value>${SECRET}</value></field></x></query></iq>`,
    );
    expect(await owner.take([`id="cfg"`])).toContain('type="result"');
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
});
