/**
 * Interop, part 2: room administration and services with real client libraries (StanzaJS 12, @xmpp/client 0.14)
 * and a raw client: nick conflicts, the owner's configuration form and room passwords (XEP-0045 §7.2.5, §7.2.9,
 * §10.2), leaving and closing (XEP-0045 §7.14, RFC 7395 §3.6), TURN credentials (XEP-0215).
 *
 * Target: `wrangler dev` (default, what CI runs) or Debian's Prosody with `TARGET=prosody`.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { NS, nextStanzaEvent, turnPassword, uniqueRoom } from "../helpers/xmpp-clients";
import { joinXmppJs, setPassword, useInteropTarget, xjsStatusCodes } from "./fixture";

const fx = useInteropTarget();

describe(`XMPP client interop: rooms, passwords, leaving, services (${fx.kind})`, () => {

  it("a nick already in use is refused with <conflict/> (type cancel) and the room is unaffected", async () => {
    const room = uniqueRoom("nick");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const mallory = await fx.xmppjs(room);
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
    const roomJid = fx.target.roomJid(room);
    const owner = await fx.stanza(room);
    await owner.joinRoom(roomJid, "owner");
    const bob = await fx.xmppjs(room);
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
    const roomJid = fx.target.roomJid(room);
    const owner = await fx.stanza(room);
    await owner.joinRoom(roomJid, "owner");
    await setPassword(owner, roomJid, "open sesame");

    const guest = await fx.xmppjs(room);
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
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await fx.raw(room);
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
    const c = await fx.stanza(room);
    const info = await c.getDiscoInfo(fx.target.domain);
    expect(info.features).toContain(NS.extdisco);

    const list = await c.getServices(fx.target.domain, "turn");
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
      expect(s.password).toBe(turnPassword(fx.turnSecret, username));
      expect(s.password).not.toBe(turnPassword(fx.turnSecret + "x", username));
      if (s.expires) expect(Math.abs(s.expires.getTime() / 1000 - expiry)).toBeLessThanOrEqual(1);
    }
  });

});

function statusOf(el: {
  getChildren(n: string, ns?: string): Array<{ getChildren(n: string): Array<{ getAttribute(a: string): string | undefined }> }>;
}): string[] {
  return el
    .getChildren("x", NS.mucUser)
    .flatMap((x) => x.getChildren("status"))
    .map((s) => s.getAttribute("code") ?? "");
}
