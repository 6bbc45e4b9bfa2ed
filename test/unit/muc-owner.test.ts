import { describe, expect, it } from "vitest";
import { aliceAndBob, el, type Harness } from "./helpers/core-harness";
import { child } from "../../durable/xmpp/xml";

const R = "room@conference.example.org";
const submitSecret = (v: string) =>
  `<iq type="set" id="o" to="${R}"><query xmlns="http://jabber.org/protocol/muc#owner"><x xmlns="jabber:x:data" type="submit"><field var="muc#roomconfig_roomsecret"><value>${v}</value></field></x></query></iq>`;
const kick = (nick: string) =>
  `<iq type="set" id="k" to="${R}"><query xmlns="http://jabber.org/protocol/muc#admin"><item nick="${nick}" role="none"/></query></iq>`;
const leave = (h: Harness, id: string) => h.send(id, `<presence type="unavailable" id="bye" to="${R}/x"/>`);

/** The <item/> and status codes of a presence frame. */
function muc(frame: string) {
  const x = child(el(frame), "x", "http://jabber.org/protocol/muc#user")!;
  const item = child(x, "item")!;
  const codes = x.children.flatMap((c) => (typeof c !== "string" && c.local === "status" ? [c.attrs["code"]] : []));
  return { from: el(frame).attrs["from"], type: el(frame).attrs["type"], item: item.attrs, codes };
}

/** alice (owner), bob, carol joined in that order, one second apart; everyone's frames so far are taken. */
async function threeOccupants(): Promise<Harness> {
  const h = await aliceAndBob();
  h.clock.now += 1000;
  h.ready("c");
  await h.join("c", "carol");
  for (const id of ["a", "b", "c"]) h.take(id);
  return h;
}

describe("XEP-0045 §10.6 ownership hand-over when the owner leaves", () => {
  it("the owner's unavailable presence: bob (longest present) gets owner/moderator with 110, carol the same without 110", async () => {
    const h = await threeOccupants();
    await leave(h, "a");
    const b = h.take("b");
    expect(b).toHaveLength(3);
    expect(muc(b[0]!)).toMatchObject({ from: `${R}/alice`, type: "unavailable" });
    const self = muc(b[1]!);
    expect(self).toMatchObject({ from: `${R}/bob`, type: undefined, codes: ["110"] });
    expect(self.item).toMatchObject({ affiliation: "owner", role: "moderator", jid: "u-b@example.org/res" });
    // bob is a moderator now, and the room is semi-anonymous (§4.2): carol's presence again, with her real JID
    const carolAgain = muc(b[2]!);
    expect(carolAgain).toMatchObject({ from: `${R}/carol`, type: undefined, codes: [] });
    expect(carolAgain.item).toEqual({ affiliation: "none", role: "participant", jid: "u-c@example.org/res" });
    const c = h.take("c");
    expect(c).toHaveLength(2);
    const seen = muc(c[1]!);
    expect(seen).toMatchObject({ from: `${R}/bob`, type: undefined, codes: [] });
    expect(seen.item).toEqual({ affiliation: "owner", role: "moderator" }); // carol is no moderator: no real JID
    expect(h.rt.room.conns.get("b")!.occ).toMatchObject({ affiliation: "owner", role: "moderator" });
    expect(h.rt.room.conns.get("c")!.occ).toMatchObject({ affiliation: "none", role: "participant" });
    // the promotion is persisted (attachment) and announced as an occupant change
    const i = h.effects.findIndex((e) => e.kind === "save-conn" && e.conn === "b");
    expect(i).toBeGreaterThan(-1);
  });

  it("the new owner keeps the presence payload it last sent", async () => {
    const h = await threeOccupants();
    await h.send("b", `<presence to="${R}/bob"><show>away</show></presence>`);
    h.take("c");
    await leave(h, "a");
    expect(h.take("c")[1]).toContain("<show>away</show>");
  });

  it("the new owner can set the password (status 104 to all) and kick; the old owner's lock state is kept", async () => {
    const h = await threeOccupants();
    await h.send("a", submitSecret("first"));
    const hash = h.rt.room.meta.pwHash;
    expect(hash).not.toBeNull();
    for (const id of ["b", "c"]) h.take(id);
    await leave(h, "a");
    expect(h.rt.room.meta.pwHash).toBe(hash); // password/lock state unchanged by the hand-over
    h.take("c");
    const f = await h.send("b", submitSecret("second"));
    expect(f[0]).toContain(`type="result"`);
    expect(h.take("c")[0]).toContain(`<status code="104"/>`);
    expect(h.rt.room.meta.pwHash).not.toBe(hash);
    const k = await h.send("b", kick("carol"));
    expect(k.some((s) => s.includes(`type="result"`) && s.includes(`id="k"`))).toBe(true);
    expect(h.rt.room.conns.get("c")!.occ).toBeUndefined();
  });

  it("every leave path hands over: a dropped socket and a stream <close/>", async () => {
    const h = await threeOccupants();
    h.drop("a");
    expect(muc(h.take("c")[1]!)).toMatchObject({ from: `${R}/bob`, item: { affiliation: "owner", role: "moderator" } });
    h.take("b");
    await h.send("b", `<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`);
    const c = h.take("c");
    expect(muc(c[0]!)).toMatchObject({ from: `${R}/bob`, type: "unavailable" });
    expect(muc(c[1]!)).toMatchObject({ from: `${R}/carol`, codes: ["110"], item: { affiliation: "owner", role: "moderator" } });
  });

  it("the longest-present occupant wins by join time, not by the order occupants were rebuilt in (after a wake)", async () => {
    const h = await threeOccupants();
    // a woken object rebuilds its occupants in whatever order getWebSockets() lists them
    const room = h.rt.room;
    const order = [...room.nicks.entries()].reverse();
    room.nicks.clear();
    for (const [k, v] of order) room.nicks.set(k, v);
    await leave(h, "a");
    expect(room.conns.get("b")!.occ!.affiliation).toBe("owner");
    expect(room.conns.get("c")!.occ!.affiliation).toBe("none");
  });

  it("a non-owner leaving changes nothing: only its unavailable presence is broadcast", async () => {
    const h = await threeOccupants();
    await leave(h, "b");
    const a = h.take("a");
    const c = h.take("c");
    expect(a).toHaveLength(1);
    expect(c).toHaveLength(1);
    expect(muc(c[0]!)).toMatchObject({ from: `${R}/bob`, type: "unavailable" });
    expect(h.rt.room.conns.get("a")!.occ).toMatchObject({ affiliation: "owner", role: "moderator" });
    expect(h.rt.room.conns.get("c")!.occ).toMatchObject({ affiliation: "none", role: "participant" });
  });

  it("the last occupant leaving broadcasts nothing and leaves no owner; the next joiner creates the room as owner", async () => {
    const h = await aliceAndBob();
    await leave(h, "b");
    h.take("a");
    const before = h.effects.length;
    const self = await leave(h, "a");
    expect(self).toHaveLength(1); // only its own unavailable presence (110)
    expect(h.effects.slice(before).filter((e) => e.kind === "fanout")).toEqual([]);
    expect(h.take("b")).toEqual([]);
    expect(h.rt.room.nicks.size).toBe(0);
    const j = await h.join("b", "bob");
    expect(j.find((s) => s.includes(`<status code="201"/>`))).toContain(`affiliation="owner" role="moderator"`);
  });
});
