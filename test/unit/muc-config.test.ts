import { describe, expect, it } from "vitest";
import { aliceAndBob, el } from "./helpers/core-harness";
import { child, text } from "../../durable/xmpp/xml";

const R = "room@conference.example.org";
const owner = (xml: string) => `<iq type="set" id="o" to="${R}"><query xmlns="http://jabber.org/protocol/muc#owner">${xml}</query></iq>`;
const submit = (fields: string) => owner(`<x xmlns="jabber:x:data" type="submit">${fields}</x>`);
const secret = (v: string) => `<field var="muc#roomconfig_roomsecret"><value>${v}</value></field>`;

describe("XEP-0045 §10 owner configuration", () => {
  it("the owner gets the config form (roomsecret, passwordprotectedroom)", async () => {
    const h = await aliceAndBob();
    const f = await h.send("a", `<iq type="get" id="g" to="${R}"><query xmlns="http://jabber.org/protocol/muc#owner"/></iq>`);
    const iq = el(f[0]!);
    expect(iq.attrs).toMatchObject({ type: "result", id: "g", from: R });
    expect(f[0]).toContain(`<field var="muc#roomconfig_roomsecret" type="text-private"`);
    expect(f[0]).toContain(`<value>http://jabber.org/protocol/muc#roomconfig</value>`);
  });
  it("non-owners are forbidden", async () => {
    const h = await aliceAndBob();
    const f = await h.send("b", `<iq type="get" id="g" to="${R}"><query xmlns="http://jabber.org/protocol/muc#owner"/></iq>`);
    expect(f[0]).toContain(`<error type="auth"><forbidden`);
    const g = await h.send("b", submit(secret("x")));
    expect(g[0]).toContain("<forbidden");
    expect(h.rt.room.meta.pwHash).toBeNull();
  });
  it("the instant-room submit (empty form) and cancel are accepted with an empty result and change nothing", async () => {
    const h = await aliceAndBob();
    expect(await h.send("a", submit(""))).toEqual([`<iq xmlns="jabber:client" type="result" to="u-a@example.org/res" from="${R}" id="o"></iq>`]);
    expect((await h.send("a", owner(`<x xmlns="jabber:x:data" type="cancel"/>`)))[0]).toContain(`type="result"`);
    expect(h.take("b")).toEqual([]);
  });
  it("setting the secret: result, status 104 to every occupant, disco#info says muc_passwordprotected; clearing reverses it", async () => {
    const h = await aliceAndBob();
    const f = await h.send("a", submit(secret("pw")));
    expect(f[0]).toContain(`type="result"`);
    expect(f[1]).toContain(`<status code="104"/>`);
    const b = h.take("b");
    expect(b[0]).toMatch(/^<message xmlns="jabber:client" type="groupchat" to="u-b@example.org\/res" from="room@conference.example.org"><x xmlns="http:\/\/jabber.org\/protocol\/muc#user"><status code="104"\/><\/x><\/message>$/);
    let info = await h.send("b", `<iq type="get" id="d" to="${R}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`);
    expect(info[0]).toContain(`<feature var="muc_passwordprotected"/>`);
    await h.send("a", submit(secret("")));
    expect(h.take("b")[0]).toContain(`code="104"`);
    info = await h.send("b", `<iq type="get" id="d" to="${R}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`);
    expect(info[0]).toContain(`<feature var="muc_unsecured"/>`);
    expect(info[0]).not.toContain("muc_passwordprotected");
    const form = child(child(el(info[0]!), "query")!, "x")!;
    expect(text(child(form.children.filter((c) => typeof c !== "string" && c.attrs["var"] === "muc#roominfo_occupants")[0] as never, "value"))).toBe("2");
  });
  it("refuses an over-long secret with not-acceptable; a wrong FORM_TYPE with bad-request", async () => {
    const h = await aliceAndBob();
    expect((await h.send("a", submit(secret("x".repeat(257)))))[0]).toContain("<not-acceptable");
    expect((await h.send("a", submit(`<field var="FORM_TYPE"><value>urn:other</value></field>`)))[0]).toContain("<bad-request");
  });
});

describe("XEP-0045 §8.2 kick", () => {
  const kick = (nick: string, reason = "") =>
    `<iq type="set" id="k" to="${R}"><query xmlns="http://jabber.org/protocol/muc#admin"><item nick="${nick}" role="none">${reason ? `<reason>${reason}</reason>` : ""}</item></query></iq>`;
  it("a moderator kicks: 307 + 110 to the kicked one (actor, reason), 307 to others, result to the moderator", async () => {
    const h = await aliceAndBob();
    h.ready("c");
    await h.join("c", "carol");
    h.take("a");
    h.take("b");
    const f = await h.send("a", kick("bob", "bye"));
    expect(f.some((s) => s.includes(`type="result"`) && s.includes(`id="k"`))).toBe(true);
    const toA = f.find((s) => s.includes("unavailable"))!;
    expect(toA).toContain(`<status code="307"/>`);
    const b = h.take("b");
    expect(b[0]).toContain(`type="unavailable"`);
    expect(b[0]).toContain(`<item affiliation="none" role="none" jid="u-b@example.org/res"><actor nick="alice"/><reason>bye</reason></item><status code="307"/><status code="110"/>`);
    const c = h.take("c");
    expect(c[0]).toContain(`from="${R}/bob" type="unavailable"`);
    expect(c[0]).toContain(`code="307"`);
    expect(c[0]).not.toContain("110");
    expect(h.rt.room.conns.get("b")!.occ).toBeUndefined();
    // the kicked occupant is out: groupchat is refused
    const g = await h.send("b", `<message type="groupchat" to="${R}"><body>x</body></message>`);
    expect(g[0]).toContain("<not-acceptable");
  });
  it("participants may not kick (forbidden); the owner cannot be kicked (not-allowed); unknown nick item-not-found", async () => {
    const h = await aliceAndBob();
    expect((await h.send("b", kick("alice")))[0]).toContain(`<error type="auth"><forbidden`);
    expect((await h.send("a", kick("alice")))[0]).toContain("<not-allowed");
    expect((await h.send("a", kick("nobody")))[0]).toContain("<item-not-found");
    expect(h.rt.room.nicks.size).toBe(2);
  });
});
