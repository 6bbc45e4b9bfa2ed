/**
 * Interop, part 3: XEP-0045 details that real clients (Jingle-over-MUC apps in particular) rely on, checked with a raw
 * client for exact stanzas plus StanzaJS: presence updates, addressing errors, join presence ids, XMPP ping.
 *
 * Target: `wrangler dev` (default, what CI runs) or Debian's Prosody with `TARGET=prosody`.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { errorCondition, hasStatus, NS, nextStanzaEvent, uniqueRoom } from "../helpers/xmpp-clients";
import { useInteropTarget } from "./fixture";

const fx = useInteropTarget();

describe(`XEP-0045 details (${fx.kind})`, () => {
  it("the self-presence echoes the join presence's id", async () => {
    const room = uniqueRoom("pid");
    const roomJid = fx.target.roomJid(room);
    const a = await fx.raw(room);
    const id = `join-${randomUUID()}`;
    a.send(`<presence xmlns='${NS.client}' to='${roomJid}/ann' id='${id}'><x xmlns='${NS.muc}'/></presence>`);
    const self = await a.nextEl(
      (e) => e.name === "presence" && e.getAttribute("from") === `${roomJid}/ann` && hasStatus(e, "110"),
      15_000,
      "self-presence",
    );
    expect(self.getAttribute("id")).toBe(id);
    expect(self.getAttribute("to")).toBe(a.jid);
  });

  it("a presence update (show/status/extension) is broadcast to every occupant from room/nick", async () => {
    const room = uniqueRoom("upd");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const bob = await fx.raw(room);
    await bob.join(roomJid, "bob");

    // XEP-0045 §7.7: an occupant changes availability status by sending presence to room/nick; the service
    // broadcasts it to all occupants. Client extensions (e.g. media state) ride along.
    const seen = nextStanzaEvent(alice, "muc:available", (p) => p.from === `${roomJid}/bob` && p.show === "away");
    bob.send(
      `<presence xmlns='${NS.client}' to='${roomJid}/bob'><show>away</show><status>brb</status>` +
        `<x xmlns='urn:example:media'><audio muted='true'/></x></presence>`,
    );
    const p = await seen;
    expect(p.status).toBe("brb");
    const own = await bob.nextEl(
      (e) => e.name === "presence" && e.getAttribute("from") === `${roomJid}/bob` && !!e.getChild("show"),
      15_000,
      "own presence update",
    );
    expect(own.getChild("show")?.getText()).toBe("away");
    expect(own.getChild("x", "urn:example:media")?.getChild("audio")?.getAttribute("muted")).toBe("true");
    expect(hasStatus(own, "110")).toBe(true);
  });

  it("a private message to a nick that is not in the room gets <item-not-found/>", async () => {
    const room = uniqueRoom("ghost");
    const roomJid = fx.target.roomJid(room);
    const a = await fx.raw(room);
    await a.join(roomJid, "ann");
    a.send(
      `<message xmlns='${NS.client}' to='${roomJid}/ghost' type='chat' id='pm-ghost'><body>anyone?</body></message>`,
    );
    // XEP-0045 §7.5: the service returns <item-not-found/> when the addressed occupant does not exist.
    const err = await a.nextEl(
      (e) => e.name === "message" && e.getAttribute("type") === "error" && e.getAttribute("id") === "pm-ghost",
      15_000,
      "PM error",
    );
    expect(err.getAttribute("from")).toBe(`${roomJid}/ghost`);
    expect(errorCondition(err)).toBe("item-not-found");
  });

  it("an IQ to a nick that is not in the room gets an error reply with the same id", async () => {
    const room = uniqueRoom("ghostiq");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    // StanzaJS rejects sendIQ with the error reply (it only accepts replies from the JID it addressed).
    const err = (await alice
      .sendIQ({ type: "get", to: `${roomJid}/ghost`, softwareVersion: {} })
      .then(() => undefined, (e: unknown) => e)) as { type?: string; from?: string; error?: { condition?: string } };
    expect(err?.type).toBe("error");
    expect(err?.from).toBe(`${roomJid}/ghost`);
    expect(["item-not-found", "service-unavailable"]).toContain(err?.error?.condition);
  });

  it("a groupchat message addressed to one occupant is refused with <bad-request/>", async () => {
    const room = uniqueRoom("gcpm");
    const roomJid = fx.target.roomJid(room);
    const a = await fx.raw(room);
    await a.join(roomJid, "ann");
    const b = await fx.raw(room);
    await b.join(roomJid, "ben");
    a.send(
      `<message xmlns='${NS.client}' to='${roomJid}/ben' type='groupchat' id='gc-to-one'><body>only you</body></message>`,
    );
    // XEP-0045 §7.5: "If the sender attempts to send a message of type "groupchat" to a particular occupant, the
    // service MUST refuse to deliver the message and return a <bad-request/> error to the sender."
    const err = await a.nextEl(
      (e) => e.name === "message" && e.getAttribute("type") === "error" && e.getAttribute("id") === "gc-to-one",
      15_000,
      "bad-request",
    );
    expect(errorCondition(err)).toBe("bad-request");
    const body = `marker ${randomUUID()}`;
    a.groupchat(roomJid, body);
    await b.nextGroupchat(body);
    expect(b.frames.some((f) => f.text.includes("only you"))).toBe(false);
  });

  it("XEP-0199 ping to the service and XEP-0410 self-ping to the own occupant JID are answered", async () => {
    const room = uniqueRoom("ping");
    const roomJid = fx.target.roomJid(room);
    const alice = await fx.stanza(room);
    await alice.joinRoom(roomJid, "alice");
    const r1 = await alice.sendIQ({ type: "get", to: fx.target.domain, ping: true });
    expect(r1.type).toBe("result");
    // XEP-0410 §3: a joined client pings its own occupant JID; the service itself answers with a result.
    const r2 = await alice.sendIQ({ type: "get", to: `${roomJid}/alice`, ping: true });
    expect(r2.type).toBe("result");
    expect(r2.from).toBe(`${roomJid}/alice`);
  });
});
