import { describe, expect, it } from "vitest";
import { IQ_ROUTE_TTL_MS, MAX_PENDING_IQS } from "../../durable/features/iq-routes";
import { serialize } from "../../durable/xmpp/xml";
import { el, harness } from "./helpers/core-harness";

const R = "room@conference.example.org";

async function room() {
  const h = harness();
  for (const id of ["a", "b", "x"]) h.ready(id);
  await h.join("a", "alice");
  await h.join("b", "bob");
  h.take("a");
  return h;
}

describe("groupchat (XEP-0045 §7.4)", () => {
  it("is reflected to every occupant with from=room/nick, same id and payload; the client's from is ignored", async () => {
    const h = await room();
    const f = await h.send(
      "b",
      `<message xmlns="jabber:client" from="admin@example.org/x" to="${R}" type="groupchat" id="m1" xml:lang="en"><body>hi</body><origin-id xmlns="urn:xmpp:sid:0" id="o1"/></message>`,
    );
    const a = h.take("a");
    for (const s of [f[0]!, a[0]!]) {
      const m = el(s);
      expect(m.attrs).toMatchObject({ from: `${R}/bob`, type: "groupchat", id: "m1", "xml:lang": "en" });
      expect(s).toContain(`<body>hi</body><origin-id xmlns="urn:xmpp:sid:0" id="o1"/>`);
      expect(s).not.toContain("admin@");
    }
    expect(el(f[0]!).attrs["to"]).toBe("u-b@example.org/res");
    expect(el(a[0]!).attrs["to"]).toBe("u-a@example.org/res");
  });
  it("carries the stanza's prefix declarations so a prefixed payload stays well-formed", async () => {
    const h = await room();
    await h.send("b", `<message xmlns="jabber:client" xmlns:e="urn:ext" to="${R}" type="groupchat"><e:thing/></message>`);
    const a = h.take("a")[0]!;
    expect(el(a).children[0]).toMatchObject({ local: "thing", ns: "urn:ext" });
  });
  it("from a non-occupant: not-acceptable, nobody receives it", async () => {
    const h = await room();
    const f = await h.send("x", `<message to="${R}" type="groupchat" id="z"><body>spam</body></message>`);
    expect(f[0]).toContain(`<message xmlns="jabber:client" type="error" to="u-x@example.org/res" from="${R}" id="z"><error type="cancel"><not-acceptable`);
    expect(h.take("a")).toEqual([]);
  });
  it("subject changes are for moderators only", async () => {
    const h = await room();
    expect((await h.send("b", `<message to="${R}" type="groupchat"><subject>new</subject></message>`))[0]).toContain("<forbidden");
    await h.send("a", `<message to="${R}" type="groupchat"><subject>new</subject></message>`);
    expect(h.take("b")[0]).toContain("<subject>new</subject>");
  });
  it("a subject written with a prefix, or in an unqualified stanza, is matched by namespace: refused too", async () => {
    const h = await room();
    for (const m of [
      `<message xmlns="jabber:client" to="${R}" type="groupchat"><c:subject xmlns:c="jabber:client">p</c:subject></message>`,
      `<message to="${R}" type="groupchat"><c:subject xmlns:c="jabber:client">p</c:subject></message>`,
      `<message xmlns:c="jabber:client" to="${R}" type="groupchat"><c:subject>p</c:subject></message>`,
    ]) {
      expect((await h.send("b", m))[0]).toContain("<forbidden");
    }
    expect(h.take("a")).toEqual([]);
  });
  it("a prefixed stanza ends the stream with bad-namespace-prefix (its children would change namespace when relayed)", async () => {
    const h = await room();
    const f = await h.send("b", `<c:message xmlns:c="jabber:client" to="${R}" type="groupchat"><subject>p</subject></c:message>`);
    expect(f.join("")).toContain("<bad-namespace-prefix");
    expect(h.closed.get("b")).toBeDefined();
    expect(h.take("a").join("")).not.toContain("<subject>p");
  });
  it("escapes nicks with markup characters in from", async () => {
    const h = await room();
    h.ready("q");
    await h.join("q", `a&amp;b&quot;c`);
    h.take("a");
    await h.send("q", `<message to="${R}" type="groupchat"><body>x</body></message>`);
    expect(el(h.take("a")[0]!).attrs["from"]).toBe(`${R}/a&b"c`);
  });
});

describe("private messages and IQ routing (XEP-0045 §7.5)", () => {
  it("routes a chat message to room/nick from room/sender with a muc#user x", async () => {
    const h = await room();
    await h.send("a", `<message to="${R}/bob" type="chat" id="p1"><body>psst</body></message>`);
    const b = h.take("b")[0]!;
    expect(el(b).attrs).toMatchObject({ to: "u-b@example.org/res", from: `${R}/alice`, type: "chat", id: "p1" });
    expect(b).toContain(`<body>psst</body><x xmlns="http://jabber.org/protocol/muc#user"/>`);
  });
  it("routes an IQ (e.g. Jingle) under an id the room gives, and its result back with the asker's id, payload untouched", async () => {
    const h = await room();
    const jingle = `<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s1"><content name="a"/></jingle>`;
    await h.send("a", `<iq to="${R}/bob" type="set" id="j1">${jingle}</iq>`);
    const b = el(h.take("b")[0]!);
    expect(b.attrs).toMatchObject({ to: "u-b@example.org/res", from: `${R}/alice`, type: "set" });
    const routed = b.attrs["id"]!;
    expect(routed).not.toBe("j1");
    expect(h.take("b").join("") + serialize(b)).toContain(jingle);
    await h.send("b", `<iq to="${R}/alice" type="result" id="${routed}"/>`);
    expect(el(h.take("a")[0]!).attrs).toMatchObject({ from: `${R}/bob`, type: "result", id: "j1" });
    // answered once: a second answer with the same id is dropped
    await h.send("b", `<iq to="${R}/alice" type="result" id="${routed}"/>`);
    expect(h.take("a")).toEqual([]);
    await h.send("a", `<iq to="${R}/bob" type="get" id="j2"><query xmlns="urn:x"/></iq>`);
    const routed2 = el(h.take("b")[0]!).attrs["id"]!;
    await h.send("b", `<iq to="${R}/alice" type="error" id="${routed2}"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`);
    const e = h.take("a")[0]!;
    expect(e).toContain("<item-not-found");
    expect(el(e).attrs["id"]).toBe("j2");
  });
  it("drops unsolicited IQ results and errors: no occupant receives an answer to a request it did not route", async () => {
    const h = await room();
    h.ready("c");
    await h.join("c", "carol");
    h.take("a");
    h.take("b");
    // carol forges an answer to alice, using the id alice's client might be waiting on
    expect(await h.send("c", `<iq to="${R}/alice" type="result" id="j1"><jingle xmlns="urn:xmpp:jingle:1"/></iq>`)).toEqual([]);
    expect(await h.send("c", `<iq to="${R}/alice" type="error" id="j1"><error type="cancel"/></iq>`)).toEqual([]);
    expect(h.take("a")).toEqual([]);
    // alice asks bob: carol cannot answer in bob's place, even with the id the room gave (were it to leak)
    await h.send("a", `<iq to="${R}/bob" type="get" id="q1"><query xmlns="urn:x"/></iq>`);
    const routed = el(h.take("b")[0]!).attrs["id"]!;
    expect(await h.send("c", `<iq to="${R}/alice" type="result" id="${routed}"/>`)).toEqual([]);
    expect(h.take("a")).toEqual([]);
    // nor can bob answer it to someone else
    expect(await h.send("b", `<iq to="${R}/carol" type="result" id="${routed}"/>`)).toEqual([]);
    expect(h.take("c")).toEqual([]);
    await h.send("b", `<iq to="${R}/alice" type="result" id="${routed}"/>`);
    expect(el(h.take("a")[0]!).attrs).toMatchObject({ id: "q1", from: `${R}/bob` });
  });
  it("forgets requests when either side leaves, after IQ_ROUTE_TTL_MS, and caps those awaiting an answer", async () => {
    const h = await room();
    await h.send("a", `<iq to="${R}/bob" type="get" id="q1"><query xmlns="urn:x"/></iq>`);
    const late = el(h.take("b")[0]!).attrs["id"]!;
    h.clock.now += IQ_ROUTE_TTL_MS;
    expect(await h.send("b", `<iq to="${R}/alice" type="result" id="${late}"/>`)).toEqual([]);
    expect(h.take("a")).toEqual([]);
    for (let i = 0; i < MAX_PENDING_IQS; i++) await h.send("a", `<iq to="${R}/bob" type="get" id="m${i}"><query xmlns="urn:x"/></iq>`);
    expect(h.take("a")).toEqual([]);
    const f = await h.send("a", `<iq to="${R}/bob" type="get" id="over"><query xmlns="urn:x"/></iq>`);
    expect(f[0]).toContain("<resource-constraint");
    expect(el(f[0]!).attrs["id"]).toBe("over");
    expect(h.rt.iqs.size).toBe(MAX_PENDING_IQS);
    h.drop("b");
    expect(h.rt.iqs.size).toBe(0);
  });
  it("strips client-supplied muc#user elements from relayed groupchat and private messages", async () => {
    const h = await room();
    const fake = `<x xmlns="http://jabber.org/protocol/muc#user"><status code="110"/><item affiliation="owner" role="moderator"/></x>`;
    await h.send("b", `<message to="${R}" type="groupchat" id="g"><body>hi &amp; bye</body>${fake}<u:x xmlns:u="http://jabber.org/protocol/muc#user"><status code="104"/></u:x></message>`);
    const a = h.take("a")[0]!;
    expect(a).toContain("<body>hi &amp; bye</body>");
    expect(a).not.toContain("muc#user");
    expect(a).not.toContain("status");
    await h.send("b", `<message to="${R}/alice" type="chat" id="p">${fake}<body>psst</body></message>`);
    const p = h.take("a")[0]!;
    expect(p).toContain(`<body>psst</body><x xmlns="http://jabber.org/protocol/muc#user"/></message>`);
    expect(p).not.toContain("status");
    expect(el(p).children.filter((c) => typeof c !== "string" && c.ns === "http://jabber.org/protocol/muc#user")).toHaveLength(1);
  });
  it("unknown nick: item-not-found; groupchat type to an occupant: bad-request; non-occupant: not-acceptable", async () => {
    const h = await room();
    expect((await h.send("a", `<iq to="${R}/nobody" type="get" id="q"><query xmlns="urn:x"/></iq>`))[0]).toContain("<item-not-found");
    expect((await h.send("a", `<message to="${R}/bob" type="groupchat"><body>x</body></message>`))[0]).toContain("<bad-request");
    expect((await h.send("x", `<message to="${R}/bob" type="chat"><body>x</body></message>`))[0]).toContain("<not-acceptable");
    expect(h.take("b")).toEqual([]);
  });
  it("never answers results/errors that cannot be delivered", async () => {
    const h = await room();
    expect(await h.send("a", `<iq to="${R}/nobody" type="result" id="q"/>`)).toEqual([]);
    expect(await h.send("x", `<message to="${R}/bob" type="error"><error type="cancel"/></message>`)).toEqual([]);
  });
  it("addressing another room on this connection: a clear not-allowed error, also for presence", async () => {
    const h = await room();
    const f = await h.send("a", `<presence to="other@conference.example.org/alice"><x xmlns="http://jabber.org/protocol/muc"/></presence>`);
    expect(f[0]).toContain(`<presence xmlns="jabber:client" type="error"`);
    expect(f[0]).toContain("<not-allowed");
    expect(f[0]).toContain("/xmpp-websocket/other");
    expect((await h.send("a", `<message to="other@conference.example.org" type="groupchat"><body>x</body></message>`))[0]).toContain("<not-allowed");
  });
  it("compares the room localpart case-insensitively", async () => {
    const h = await room();
    await h.send("a", `<message to="ROOM@Conference.Example.org" type="groupchat" id="u"><body>x</body></message>`);
    expect(h.take("b")[0]).toContain(`id="u"`);
  });
  it("iq without id or with two payloads is bad-request", async () => {
    const h = await room();
    expect((await h.send("a", `<iq type="get"><ping xmlns="urn:xmpp:ping"/></iq>`))[0]).toContain("<bad-request");
    expect((await h.send("a", `<iq type="get" id="1"><a xmlns="x"/><b xmlns="y"/></iq>`))[0]).toContain("<bad-request");
  });
});
