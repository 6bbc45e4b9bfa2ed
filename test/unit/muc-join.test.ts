import { describe, expect, it } from "vitest";
import { aliceAndBob, el, harness } from "./helpers/core-harness";

const R = "room@conference.example.org";

describe("XEP-0045 join", () => {
  it("creator: self-presence with 110 + 201, owner/moderator, id echoed, then the empty subject", async () => {
    const h = harness();
    h.ready("a");
    const f = await h.join("a", "alice");
    expect(f).toHaveLength(2);
    const self = el(f[0]!);
    expect(self.attrs).toMatchObject({ from: `${R}/alice`, to: "u-a@example.org/res", id: "join" });
    expect(f[0]).toContain(`<item affiliation="owner" role="moderator" jid="u-a@example.org/res"/><status code="110"/><status code="201"/>`);
    expect(f[1]).toMatch(/^<message xmlns="jabber:client" type="groupchat" to="u-a@example.org\/res" from="room@conference.example.org" id="[^"]+"><subject\/><\/message>$/);
  });

  it("second occupant: existing presences first, then 110 only, then subject; others see the joiner", async () => {
    const h = harness();
    h.ready("a");
    h.ready("b");
    await h.join("a", "alice");
    const f = await h.join("b", "bob", "<history maxstanzas='0'/>");
    expect(f).toHaveLength(3);
    expect(f[0]).toContain(`from="${R}/alice"`);
    // a participant does not see real JIDs (semi-anonymous room)
    expect(f[0]).toContain(`<item affiliation="owner" role="moderator"/>`);
    expect(f[1]).toContain(`from="${R}/bob"`);
    expect(f[1]).toContain(`<status code="110"/>`);
    expect(f[1]).not.toContain(`201`);
    expect(f[2]).toContain("<subject/>");
    const a = h.take("a");
    expect(a).toHaveLength(1);
    // the moderator sees bob's real JID
    expect(a[0]).toContain(`<item affiliation="none" role="participant" jid="u-b@example.org/res"/>`);
  });

  it("keeps the presence payload (show/status/caps) but strips client-sent muc#user and the password", async () => {
    const h = harness();
    h.ready("a");
    h.ready("b");
    await h.send(
      "a",
      `<presence to="${R}/alice"><show>away</show><x xmlns="http://jabber.org/protocol/muc"><password>pw</password></x><x xmlns="http://jabber.org/protocol/muc#user"><status code="201"/></x><c xmlns="http://jabber.org/protocol/caps" node="n" ver="v" hash="sha-1"/></presence>`,
    );
    h.take("a");
    const f = await h.join("b", "bob");
    expect(f[0]).toContain(`<show>away</show><c xmlns="http://jabber.org/protocol/caps" node="n" ver="v" hash="sha-1"/><x xmlns="http://jabber.org/protocol/muc#user"><item`);
    expect(f[0]).not.toContain("pw");
    expect(f[0]).not.toContain(`code="201"`);
  });

  it("nick conflict is detected after NFC normalisation and case folding", async () => {
    const h = harness();
    h.ready("a");
    h.ready("b");
    h.ready("c");
    await h.join("a", "Ren\u00e9e");
    let f = await h.join("b", "rene\u0301e");
    expect(f).toHaveLength(1);
    expect(f[0]).toContain(`type="error"`);
    expect(f[0]).toContain(`<error type="cancel" by="${R}"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`);
    f = await h.join("c", "RENÉE");
    expect(f[0]).toContain("<conflict");
    expect(h.rt.room.nicks.size).toBe(1);
  });

  it.each([
    ["too long", "n".repeat(65)],
    ["control character", "a&#x202E;b"],
    ["hangul filler (invisible)", "&#x3164;"],
    ["only spaces", "%20%20"],
    ["only no-break spaces", "&#xA0;&#x3000;"],
  ])("rejects a bad nick (%s) with jid-malformed (XEP-0045 §7.2.1, RFC 8266)", async (_n, nick) => {
    const h = harness();
    h.ready("a");
    const f = await h.join("a", nick.replace(/%20/g, " "));
    expect(f[0]).toContain(`<jid-malformed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`);
    expect(h.rt.room.nicks.size).toBe(0);
  });

  it("look-alike nicknames collide (RFC 8266): trailing no-break space, fullwidth, ideographic space, case", async () => {
    const h = harness();
    for (const id of ["a", "b", "c", "d", "e"]) h.ready(id);
    await h.join("a", "Bob Smith");
    for (const [id, nick] of [["b", "Bob Smith&#xA0;"], ["c", "&#xFF22;&#xFF4F;&#xFF42; Smith"], ["d", "bob&#x3000;&#x2003;smith"], ["e", " BOB  SMITH "]] as const) {
      const f = await h.join(id, nick);
      expect(f[0], nick).toContain("<conflict");
    }
    expect(h.rt.room.nicks.size).toBe(1);
  });

  it("shows the enforced nickname (NFKC, spaces mapped) and is addressed by any spelling of it", async () => {
    const h = harness();
    h.ready("a");
    h.ready("b");
    await h.join("a", "&#xFF21;nn&#xA0;&#xA0;Lee");
    await h.join("b", "bob");
    h.take("a");
    expect(h.rt.room.conns.get("a")!.occ!.nick).toBe("Ann Lee");
    await h.send("b", `<message to="${R}/ANN&#x2002;LEE" type="chat"><body>hi</body></message>`);
    expect(h.take("a")[0]).toContain("<body>hi</body>");
  });

  it("a join without nick (bare room JID) is jid-malformed", async () => {
    const h = harness();
    h.ready("a");
    const f = await h.send("a", `<presence to="${R}"><x xmlns="http://jabber.org/protocol/muc"/></presence>`);
    expect(f[0]).toContain("<jid-malformed");
  });

  it("refuses joins beyond the maximum number of occupants with service-unavailable", async () => {
    const h = harness({ cfg: { maxOccupants: 2 } });
    for (const id of ["a", "b", "c"]) h.ready(id);
    await h.join("a", "a");
    await h.join("b", "b");
    const f = await h.join("c", "c");
    expect(f[0]).toContain("<service-unavailable");
    expect(h.rt.room.nicks.size).toBe(2);
  });

  it("presence updates are broadcast to all, the sender gets 110", async () => {
    const h = await aliceAndBob();
    const f = await h.send("b", `<presence to="${R}/bob"><show>dnd</show></presence>`);
    expect(f[0]).toContain("<show>dnd</show>");
    expect(f[0]).toContain(`<status code="110"/>`);
    const a = h.take("a");
    expect(a[0]).toContain("<show>dnd</show>");
    expect(a[0]).not.toContain("110");
  });

  it("a nick change is refused (not supported) and the occupant keeps its nick", async () => {
    const h = harness();
    h.ready("a");
    await h.join("a", "alice");
    const f = await h.send("a", `<presence to="${R}/alice2"/>`);
    expect(f[0]).toContain("<not-acceptable");
    expect(h.rt.room.conns.get("a")!.occ!.nick).toBe("alice");
  });
});

describe("XEP-0045 leave", () => {
  it("unavailable to room/nick: the leaver gets its own unavailable with 110, others without", async () => {
    const h = await aliceAndBob();
    const f = await h.send("b", `<presence type="unavailable" to="${R}/bob"/>`);
    expect(f[0]).toContain(`type="unavailable"`);
    expect(f[0]).toContain(`role="none"`);
    expect(f[0]).toContain(`<status code="110"/>`);
    const a = h.take("a");
    expect(a[0]).toContain(`from="${R}/bob" type="unavailable"`);
    expect(a[0]).not.toContain("110");
    expect(h.rt.room.nicks.size).toBe(1);
  });
  it("passes the leaver's status on to everyone (XEP-0045 §7.14)", async () => {
    const h = await aliceAndBob();
    const f = await h.send("b", `<presence type="unavailable" id="bye" to="${R}/bob"><status>gone fishing</status></presence>`);
    expect(f[0]).toContain(`id="bye"`);
    expect(f[0]).toContain("<status>gone fishing</status><x");
    expect(h.take("a")[0]).toContain("<status>gone fishing</status>");
  });
  it.each([
    ["global unavailable presence", `<presence type="unavailable"/>`],
    ["<close/>", `<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`],
    ["a stream error", `<bogus`],
  ])("%s removes the occupant with an unavailable broadcast", async (_n, frame) => {
    const h = await aliceAndBob();
    await h.send("b", frame);
    expect(h.take("a")[0]).toContain(`from="${R}/bob" type="unavailable"`);
    expect(h.rt.room.nicks.size).toBe(1);
  });
  it("a dropped socket removes the occupant", async () => {
    const h = await aliceAndBob();
    h.drop("b");
    expect(h.take("a")[0]).toContain(`from="${R}/bob" type="unavailable"`);
    expect(h.rt.room.conns.has("b")).toBe(false);
  });
  it("the room is destroyed when the last occupant leaves: the next joiner creates it (201) and no password remains", async () => {
    const h = harness();
    h.ready("a");
    await h.join("a", "alice");
    await h.send(
      "a",
      `<iq type="set" id="cfg" to="${R}"><query xmlns="http://jabber.org/protocol/muc#owner"><x xmlns="jabber:x:data" type="submit"><field var="muc#roomconfig_roomsecret"><value>pw</value></field></x></query></iq>`,
    );
    expect(h.rt.room.meta.pwHash).not.toBeNull();
    h.drop("a");
    expect(h.rt.room.meta.pwHash).toBeNull();
    expect(h.rt.room.meta.createdAt).toBeNull();
    h.ready("b");
    const f = await h.join("b", "bob");
    expect(f[0]).toContain(`<status code="201"/>`);
  });
});
