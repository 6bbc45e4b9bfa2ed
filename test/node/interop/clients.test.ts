/**
 * Interop: real, unmodified XMPP client libraries (StanzaJS 12, @xmpp/client 0.14) against the room server over
 * XMPP-over-WebSocket (RFC 7395), anonymous login (RFC 4505), Multi-User Chat (XEP-0045) and external service
 * discovery (XEP-0215).
 *
 * Target: `wrangler dev` (default, what CI runs) or Debian's Prosody with `TARGET=prosody` (the behaviour
 * reference, used to validate this harness). Every case uses its own room.
 */
import { randomUUID } from "node:crypto";
import { $msg } from "strophe.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  connectStanza,
  connectStrophe,
  connectXmppJs,
  disconnectStanza,
  nextStanzaEvent,
  NS,
  RawXmpp,
  startTarget,
  targetKindFromEnv,
  turnPassword,
  uniqueRoom,
  xml,
  type StanzaAgent,
  type StropheClient,
  type XmppJs,
  type XmppJsElement,
  type XmppTarget,
} from "../helpers/xmpp-clients";

const kind = targetKindFromEnv();
const TURN_SECRET = `interop-turn-${randomUUID()}`;

describe(`XMPP client interop (${kind})`, () => {
  let target: XmppTarget;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    target = await startTarget(kind, { turnSecret: TURN_SECRET, vars: { TURN_HOST: "127.0.0.1" } });
  });
  afterEach(async () => {
    await Promise.allSettled(cleanups.splice(0).map((f) => f()));
  });
  afterAll(async () => {
    await target?.stop();
  });

  async function stanza(room: string): Promise<StanzaAgent> {
    const c = await connectStanza(target, room);
    cleanups.push(() => disconnectStanza(c));
    return c;
  }
  async function xmppjs(room: string): Promise<XmppJs> {
    const c = await connectXmppJs(target, room);
    cleanups.push(() => c.stop());
    return c;
  }
  async function raw(room: string): Promise<RawXmpp> {
    const c = await RawXmpp.login(target.wsUrl(room), target.domain);
    cleanups.push(async () => (c.isClosed ? undefined : c.close()));
    return c;
  }
  async function strophe(room: string): Promise<StropheClient> {
    const c = await connectStrophe(target, room);
    cleanups.push(() => c.disconnect());
    return c;
  }
  /** xmpp.js: join with a MUC presence and wait for the self-presence (status 110) and the subject. */
  async function joinXmppJs(c: XmppJs, roomJid: string, nick: string, password?: string): Promise<XmppJsElement> {
    const x = xml("x", { xmlns: NS.muc }, xml("history", { maxstanzas: "0" }));
    if (password !== undefined) x.children.push(xml("password", {}, password));
    await c.xmpp.send(xml("presence", { to: `${roomJid}/${nick}` }, x));
    const self = await c.waitFor(
      (el) =>
        el.name === "presence" &&
        el.attrs.from === `${roomJid}/${nick}` &&
        (el.attrs.type === "error" || xjsStatusCodes(el).includes("110")),
      15_000,
      `self-presence ${roomJid}/${nick}`,
    );
    if (self.attrs.type !== "error") {
      await c.waitFor(
        (el) => el.name === "message" && el.attrs.from === roomJid && !!el.getChild("subject"),
        15_000,
        "join subject",
      );
    }
    return self;
  }
  async function setPassword(owner: StanzaAgent, roomJid: string, password: string): Promise<void> {
    // XEP-0045 §10.2: fetch the configuration form, then submit it with muc#roomconfig_roomsecret.
    const form = await owner.getRoomConfig(roomJid);
    expect(form.fields?.some((f) => f.name === "muc#roomconfig_roomsecret")).toBe(true);
    await owner.configureRoom(roomJid, {
      type: "submit",
      fields: [
        { name: "FORM_TYPE", type: "hidden", value: "http://jabber.org/protocol/muc#roomconfig" },
        { name: "muc#roomconfig_passwordprotectedroom", type: "boolean", value: true },
        { name: "muc#roomconfig_roomsecret", type: "text-private", value: password },
      ],
    });
  }

  it("StanzaJS logs in anonymously (SASL ANONYMOUS) and gets a random full JID", async () => {
    const room = uniqueRoom("login");
    const c = await stanza(room);
    expect(c.jid).toMatch(new RegExp(`^[^@/]+@${escapeRe(target.domain)}/.+$`));
  });

  it("xmpp.js logs in anonymously and gets a random full JID; two logins get different JIDs", async () => {
    const room = uniqueRoom("login");
    const a = await xmppjs(room);
    const b = await xmppjs(room);
    expect(a.jid).toMatch(new RegExp(`^[^@/]+@${escapeRe(target.domain)}/.+$`));
    expect(b.jid).not.toBe(a.jid);
  });

  it("join: the creator gets 110 + 201, a second occupant gets 110 only and sees the first one", async () => {
    const room = uniqueRoom("join");
    const roomJid = target.roomJid(room);
    const alice = await stanza(room);
    const aliceSelf = await alice.joinRoom(roomJid, "alice");
    expect(aliceSelf.from).toBe(`${roomJid}/alice`);
    expect(aliceSelf.muc.statusCodes).toEqual(expect.arrayContaining(["110", "201"]));

    const aliceSeesBob = nextStanzaEvent(
      alice,
      "muc:available",
      (p) => p.from === `${roomJid}/bob`,
    );
    const bob = await xmppjs(room);
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
    const roomJid = target.roomJid(room);
    const alice = await stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await xmppjs(room);
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
    const roomJid = target.roomJid(room);
    const alice = await stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await xmppjs(room);
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
    const roomJid = target.roomJid(room);
    const alice = await stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await xmppjs(room);
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

  it("a nick already in use is refused with <conflict/> (type cancel) and the room is unaffected", async () => {
    const room = uniqueRoom("nick");
    const roomJid = target.roomJid(room);
    const alice = await stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const mallory = await xmppjs(room);
    const res = await joinXmppJs(mallory, roomJid, "alice");
    expect(res.attrs.type).toBe("error");
    expect(res.attrs.from).toBe(`${roomJid}/alice`);
    const err = res.getChild("error");
    expect(err?.attrs.type).toBe("cancel");
    expect(err?.getChild("conflict", NS.stanzas)).toBeTruthy();
    // Alice is still the only "alice" and keeps chatting.
    const body = `still here ${randomUUID()}`;
    const echo = nextStanzaEvent(
alice, "groupchat", (m) => m.body === body);
    alice.sendMessage({ to: roomJid, type: "groupchat", body });
    await echo;
  });

  it("owner sets a password via the config form: others get status 104, disco#info lists muc_passwordprotected", async () => {
    const room = uniqueRoom("cfg");
    const roomJid = target.roomJid(room);
    const owner = await stanza(room);
    await owner.joinRoom(roomJid, "owner");
    const bob = await xmppjs(room);
    await joinXmppJs(bob, roomJid, "bob");

    const before = await owner.getDiscoInfo(roomJid);
    expect(before.features).toContain(NS.muc);
    expect(before.features).not.toContain("muc_passwordprotected");

    await setPassword(owner, roomJid, "s3cret");
    // XEP-0045 §10.2.1: occupants are told about a non-privacy-related configuration change with status 104.
    const note = await bob.waitFor(
      (el) => el.name === "message" && el.attrs.from === roomJid && xjsStatusCodes(el).includes("104"),
      15_000,
      "status 104",
    );
    expect(note.attrs.type).toBe("groupchat");
    const after = await owner.getDiscoInfo(roomJid);
    expect(after.features).toContain("muc_passwordprotected");
    expect(after.features).not.toContain("muc_unsecured");
  });

  it("a password-protected room refuses a missing or wrong password with <not-authorized/> (auth), then admits the right one", async () => {
    const room = uniqueRoom("pw");
    const roomJid = target.roomJid(room);
    const owner = await stanza(room);
    await owner.joinRoom(roomJid, "owner");
    await setPassword(owner, roomJid, "open sesame");

    const guest = await xmppjs(room);
    for (const pw of [undefined, "wrong"]) {
      const res = await joinXmppJs(guest, roomJid, `guest`, pw);
      expect(res.attrs.type).toBe("error");
      const err = res.getChild("error");
      expect(err?.attrs.type).toBe("auth");
      expect(err?.getChild("not-authorized", NS.stanzas)).toBeTruthy();
      guest.received.length = 0;
    }
    // The password is checked before the nick: a taken nick with a wrong password is still not-authorized.
    const taken = await joinXmppJs(guest, roomJid, "owner", "wrong");
    expect(taken.getChild("error")?.getChild("not-authorized", NS.stanzas)).toBeTruthy();
    guest.received.length = 0;

    const ok = await joinXmppJs(guest, roomJid, "guest", "open sesame");
    expect(ok.attrs.type).toBeUndefined();
    expect(xjsStatusCodes(ok)).toContain("110");
  });

  it("leave: others get the unavailable presence, the leaver gets its own with 110; <close/> ends the stream cleanly", async () => {
    const room = uniqueRoom("leave");
    const roomJid = target.roomJid(room);
    const alice = await stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await raw(room);
    await bob.join(roomJid, "bob");

    const aliceSeesLeave = nextStanzaEvent(
      alice,
      "muc:unavailable",
      (p) => p.from === `${roomJid}/bob`,
    );
    bob.send(`<presence xmlns='${NS.client}' to='${roomJid}/bob' type='unavailable'/>`);
    const own = await bob.nextEl(
      (e) => e.name === "presence" && e.getAttribute("type") === "unavailable",
      15_000,
      "own unavailable",
    );
    expect(own.getAttribute("from")).toBe(`${roomJid}/bob`);
    expect(statusOf(own)).toContain("110");
    const seen = await aliceSeesLeave;
    expect(seen.type).toBe("unavailable");
    expect(seen.muc.role).toBe("none");
    expect(seen.muc.statusCodes ?? []).not.toContain("110");

    // RFC 7395 §3.6: the server answers <close/> with <close/> and closes the WebSocket.
    const closed = await bob.close();
    expect(bob.frames.some((f) => f.el?.name === "close" && f.el.getNamespace() === NS.framing)).toBe(true);
    expect(closed.code).toBe(1000);

    // Alice's session is unaffected.
    const body = `after leave ${randomUUID()}`;
    const echo = nextStanzaEvent(
alice, "groupchat", (m) => m.body === body);
    alice.sendMessage({ to: roomJid, type: "groupchat", body });
    await echo;
  });

  it("XEP-0215: TURN credentials from getServices verify as base64(HMAC-SHA1(TURN_SECRET, username))", async () => {
    const room = uniqueRoom("turn");
    const c = await stanza(room);
    const info = await c.getDiscoInfo(target.domain);
    expect(info.features).toContain(NS.extdisco);

    const list = await c.getServices(target.domain, "turn");
    const turn = (list.services ?? []).filter((s) => s.type === "turn");
    expect(turn.length).toBeGreaterThan(0);
    const now = Math.floor(Date.now() / 1000);
    for (const s of turn) {
      expect(s.host).toBeTruthy();
      expect(s.port).toBeGreaterThan(0);
      expect(s.transport === "udp" || s.transport === "tcp").toBe(true);
      // coturn use-auth-secret: the username is (or starts with) the expiry as a unix time.
      const username = s.username ?? "";
      const expiry = Number(username.split(":")[0]);
      expect(Number.isInteger(expiry)).toBe(true);
      expect(expiry).toBeGreaterThan(now);
      expect(s.password).toBe(turnPassword(TURN_SECRET, username));
      expect(s.password).not.toBe(turnPassword(TURN_SECRET + "x", username));
      if (s.expires) expect(Math.abs(s.expires.getTime() / 1000 - expiry)).toBeLessThanOrEqual(1);
    }
  });

  it("Strophe.js logs in (session answered), joins, chats both ways and leaves with unavailable + <close/> together", async () => {
    const room = uniqueRoom("strophe");
    const roomJid = target.roomJid(room);
    const alice = await stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const s = await strophe(room);
    expect(s.jid).toMatch(new RegExp(`^[^@/]+@${escapeRe(target.domain)}/.+$`));
    const self = await s.join(roomJid, "stro");
    expect(self.getAttribute("type")).toBeNull();

    const fromStrophe = `from strophe ${randomUUID()}`;
    const atAlice = nextStanzaEvent(alice, "groupchat", (m) => m.body === fromStrophe);
    s.conn.send($msg({ to: roomJid, type: "groupchat" }).c("body").t(fromStrophe));
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
    const roomJid = target.roomJid(room);
    const alice = await stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await xmppjs(room);
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
    const bob2 = await xmppjs(room);
    const self = await joinXmppJs(bob2, roomJid, "bob");
    expect(self.attrs.type).toBeUndefined();
  });
});

function xjsStatusCodes(el: XmppJsElement): string[] {
  return el
    .getChildren("x", NS.mucUser)
    .flatMap((x) => x.getChildren("status"))
    .map((s) => s.attrs.code ?? "");
}

function statusOf(el: { getChildren(n: string, ns?: string): Array<{ getChildren(n: string): Array<{ getAttribute(a: string): string | undefined }> }> }): string[] {
  return el
    .getChildren("x", NS.mucUser)
    .flatMap((x) => x.getChildren("status"))
    .map((s) => s.getAttribute("code") ?? "");
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
