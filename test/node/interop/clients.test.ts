/**
 * Interop, part 1: real, unmodified XMPP client libraries (StanzaJS 12, @xmpp/client 0.14, Strophe.js 5) against the
 * room server over XMPP-over-WebSocket (RFC 7395) with anonymous login (RFC 4505) and Multi-User Chat (XEP-0045):
 * login, join status codes, groupchat reflection, private messages, IQ routing, disconnects.
 *
 * Target: `wrangler dev` (default, what CI runs) or Debian's Prosody with `TARGET=prosody` (the behaviour
 * reference, used to validate this harness). Every case uses its own room.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { NS, nextStanzaEvent, uniqueRoom, xml, type XmppJsElement } from "../helpers/xmpp-clients";
import { fullJidPattern, joinXmppJs, useInteropTarget, xjsStatusCodes } from "./fixture";

const fx = useInteropTarget();

describe(`XMPP client interop: login, join, messages, routing (${fx.kind})`, () => {

  it("StanzaJS logs in anonymously (SASL ANONYMOUS) and gets a random full JID", async () => {
    const room = uniqueRoom("login");
    const c = await fx.stanza(room);
    expect(c.jid).toMatch(fullJidPattern(fx.target.domain));
  });

  it("xmpp.js logs in anonymously and gets a random full JID; two logins get different JIDs", async () => {
    const room = uniqueRoom("login");
    const a = await fx.xmppjs(room);
    const b = await fx.xmppjs(room);
    expect(a.jid).toMatch(fullJidPattern(fx.target.domain));
    expect(b.jid).not.toBe(a.jid);
  });

  it("join: the creator gets 110 + 201, a second occupant gets 110 only and sees the first one", async () => {
    const room = uniqueRoom("join");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    const aliceSelf = await alice.joinRoom(roomJid, "alice");
    expect(aliceSelf.from).toBe(`${roomJid}/alice`);
    expect(aliceSelf.muc.statusCodes).toEqual(expect.arrayContaining(["110", "201"]));

    const aliceSeesBob = nextStanzaEvent(
      alice,
      "muc:available",
      (p) => p.from === `${roomJid}/bob`,
    );
    const bob = await fx.xmppjs(room);
    const bobSelf = await joinXmppJs(bob, roomJid, "bob");
    expect(bobSelf.attrs.type).toBeUndefined();
    expect(xjsStatusCodes(bobSelf)).toContain("110");
    expect(xjsStatusCodes(bobSelf)).not.toContain("201");
    // XEP-0045 §7.2.3: existing occupants' presence comes before the joiner's self-presence.
    const aliceIdx = bob.received.findIndex((e) => e.name === "presence" && e.attrs.from === `${roomJid}/alice`);
    const selfIdx = bob.received.indexOf(bobSelf);
    expect(aliceIdx).toBeGreaterThanOrEqual(0);
    expect(aliceIdx).toBeLessThan(selfIdx);
    const seen = await aliceSeesBob;
    expect(seen.muc.statusCodes ?? []).not.toContain("110");
  });

  it("groupchat is reflected to every occupant, to the sender with the same id and origin-id", async () => {
    const room = uniqueRoom("chat");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await fx.xmppjs(room);
    await joinXmppJs(bob, roomJid, "bob");

    const body = `hello ${randomUUID()}`;
    const echo = nextStanzaEvent(
      alice,
      "groupchat",
      (m) => m.body === body,
    );
    const id = alice.sendMessage({ to: roomJid, type: "groupchat", body });
    const mine = await echo;
    expect(mine.id).toBe(id);
    expect(mine.from).toBe(`${roomJid}/alice`);
    expect(mine.originId).toBeTruthy();

    const atBob = await bob.waitFor(
      (el) => el.name === "message" && el.attrs.type === "groupchat" && el.getChildText("body") === body,
      15_000,
      "groupchat at bob",
    );
    expect(atBob.attrs.from).toBe(`${roomJid}/alice`);
    expect(atBob.attrs.to).toBe(bob.jid);
    expect(atBob.attrs.id).toBe(id);
    expect(atBob.getChild("origin-id", NS.sid)?.attrs.id).toBe(mine.originId);
  });

  it("a private message to room/nick arrives at that occupant from room/sender", async () => {
    const room = uniqueRoom("pm");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await fx.xmppjs(room);
    await joinXmppJs(bob, roomJid, "bob");

    const body = `psst ${randomUUID()}`;
    const got = nextStanzaEvent(
      alice,
      "chat",
      (m) => m.body === body,
    );
    await bob.xmpp.send(xml("message", { to: `${roomJid}/alice`, type: "chat" }, xml("body", {}, body)));
    const m = await got;
    expect(m.from).toBe(`${roomJid}/bob`);
    expect(m.to).toBe(alice.jid);
  });

  it("an IQ to room/nick is routed to that occupant from room/sender and the result is routed back", async () => {
    const room = uniqueRoom("iq");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await fx.xmppjs(room);
    await joinXmppJs(bob, roomJid, "bob");
    const seenAtBob: XmppJsElement[] = [];
    bob.xmpp.iqCallee.get("jabber:iq:version", "query", (ctx) => {
      seenAtBob.push(ctx.stanza);
      return xml("query", { xmlns: "jabber:iq:version" }, xml("name", {}, "interop-bob"), xml("version", {}, "1"));
    });

    // XEP-0045 §7.5 routing; StanzaJS only accepts the result if it comes from the JID it addressed (room/bob).
    const res = await alice.sendIQ({ type: "get", to: `${roomJid}/bob`, softwareVersion: {} });
    expect(res.type).toBe("result");
    expect(res.from).toBe(`${roomJid}/bob`);
    expect(res.softwareVersion?.name).toBe("interop-bob");
    expect(seenAtBob).toHaveLength(1);
    expect(seenAtBob[0]!.attrs.from).toBe(`${roomJid}/alice`);
    expect(seenAtBob[0]!.attrs.to).toBe(bob.jid);
  });

  it("Strophe.js logs in (session answered), joins, chats both ways and leaves with unavailable + <close/> together", async () => {
    const room = uniqueRoom("strophe");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const s = await fx.strophe(room);
    expect(s.jid).toMatch(fullJidPattern(fx.target.domain));
    const self = await s.join(roomJid, "stro");
    expect(self.getAttribute("type")).toBeNull();

    const fromStrophe = `from strophe ${randomUUID()}`;
    const atAlice = nextStanzaEvent(alice, "groupchat", (m) => m.body === fromStrophe);
    s.conn.send(s.lib.$msg({ to: roomJid, type: "groupchat" }).c("body").t(fromStrophe));
    expect((await atAlice).from).toBe(`${roomJid}/stro`);

    const fromAlice = `from alice ${randomUUID()}`;
    alice.sendMessage({ to: roomJid, type: "groupchat", body: fromAlice });
    const got = await s.waitFor(
      (el) => el.tagName === "message" && el.getElementsByTagName("body")[0]?.textContent === fromAlice,
      15_000,
      "groupchat from alice",
    );
    expect(got.getAttribute("from")).toBe(`${roomJid}/alice`);

    // Strophe's disconnect sends a global <presence type='unavailable'/> and <close/> back to back.
    const gone = nextStanzaEvent(alice, "muc:unavailable", (p) => p.from === `${roomJid}/stro`);
    await s.disconnect();
    expect((await gone).type).toBe("unavailable");
  });

  it("an occupant whose socket drops without a close frame is removed with an unavailable broadcast", async () => {
    const room = uniqueRoom("drop");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await fx.xmppjs(room);
    await joinXmppJs(bob, roomJid, "bob");

    const gone = nextStanzaEvent(
      alice,
      "muc:unavailable",
      (p) => p.from === `${roomJid}/bob`,
      30_000,
    );
    // Destroy the TCP connection under xmpp.js: no WebSocket close frame, no <close/>, no unavailable presence.
    const sock = bob.xmpp.socket?.socket;
    expect(sock?.terminate).toBeTypeOf("function");
    sock!.terminate!();
    const p = await gone;
    expect(p.type).toBe("unavailable");

    // The nick is free again.
    const bob2 = await fx.xmppjs(room);
    const self = await joinXmppJs(bob2, roomJid, "bob");
    expect(self.attrs.type).toBeUndefined();
  });

});
