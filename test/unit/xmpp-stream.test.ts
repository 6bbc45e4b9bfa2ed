import { describe, expect, it } from "vitest";
import { classify, openXml } from "../../durable/xmpp/framing";
import { parseJid } from "../../durable/xmpp/jid";
import { parseFrame } from "../../durable/xmpp/xml";
import { el, harness } from "./helpers/core-harness";

const OPEN = `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.org" version="1.0"/>`;
const AUTH = (body = "") => `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS">${body}</auth>`;

describe("RFC 7395 framing", () => {
  it("classifies open/close/stanzas/nonzas and wrong namespaces", () => {
    expect(classify(el(OPEN)).kind).toBe("open");
    expect(classify(el(`<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`)).kind).toBe("close");
    expect(classify(el(`<open xmlns="jabber:client"/>`)).kind).toBe("bad-namespace");
    expect(classify(el(`<message xmlns="jabber:client"/>`))).toMatchObject({ kind: "stanza", stanza: "message" });
    // the core parses frames with jabber:client as the default namespace, so an unqualified stanza is one
    expect(classify(parseFrame(`<iq/>`, { defaultNs: "jabber:client" })[0]!)).toMatchObject({ kind: "stanza", stanza: "iq" });
    expect(classify(el(`<iq/>`)).kind).toBe("bad-namespace");
    expect(classify(el(`<c:iq xmlns:c="jabber:client"/>`)).kind).toBe("bad-prefix");
    expect(classify(el(`<presence xmlns="jabber:server"/>`)).kind).toBe("bad-namespace");
    expect(classify(el(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`)).kind).toBe("nonza");
  });
  it("answers with an <open/> carrying the framing namespace, from, id and version", () => {
    const o = el(openXml("example.org", "abc"));
    expect(o.ns).toBe("urn:ietf:params:xml:ns:xmpp-framing");
    expect(o.attrs).toMatchObject({ from: "example.org", id: "abc", version: "1.0" });
  });
});

describe("JIDs", () => {
  it.each([
    ["room@conference.example.org/nick/with@odd", { local: "room", domain: "conference.example.org", resource: "nick/with@odd" }],
    ["Example.ORG.", { local: "", domain: "example.org", resource: "" }],
    ["a@b", { local: "a", domain: "b", resource: "" }],
  ])("%s", (s, want) => expect(parseJid(s)).toEqual(want));
  it.each(["", "@b", "a@", "a@b/", "a@b@c"])("rejects %j", (s) => expect(parseJid(s)).toBeUndefined());
});

describe("stream negotiation: open, SASL ANONYMOUS, restart, bind, session", () => {
  it("runs the whole exchange in order", async () => {
    const h = harness();
    h.open("c");
    let f = await h.send("c", OPEN);
    expect(f).toHaveLength(2);
    expect(f[0]).toMatch(/^<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" from="example.org" id="[^"]+" version="1.0"/);
    expect(f[1]).toContain(`<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>ANONYMOUS</mechanism>`);
    f = await h.send("c", AUTH());
    expect(f).toEqual([`<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`]);
    f = await h.send("c", OPEN);
    expect(f[1]).toContain(`<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><required/></bind>`);
    expect(f[1]).toContain(`<session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session>`);
    f = await h.send("c", `<iq xmlns="jabber:client" type="set" id="b"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>`);
    expect(f[0]).toMatch(/^<iq xmlns="jabber:client" type="result" id="b"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>id\d+@example.org\/id\d+<\/jid><\/bind><\/iq>$/);
    const c = h.rt.room.conns.get("c")!;
    expect(c.phase).toBe("ready");
    f = await h.send("c", `<iq xmlns="jabber:client" type="set" id="s"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>`);
    expect(f[0]).toContain(`type="result"`);
    expect(f[0]).toContain(`id="s"`);
  });
  it.each([["empty", ""], ["'=' (StanzaJS)", "="], ["trace token", "dHJhY2U="]])("accepts ANONYMOUS with %s initial response", async (_n, body) => {
    const h = harness();
    h.open("c");
    await h.send("c", OPEN);
    expect(await h.send("c", AUTH(body))).toEqual([`<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`]);
  });
  it("rejects other mechanisms and bad encodings with SASL failures", async () => {
    const h = harness();
    h.open("c");
    await h.send("c", OPEN);
    expect((await h.send("c", `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">AGEAYg==</auth>`))[0]).toContain("<invalid-mechanism/>");
    expect((await h.send("c", AUTH("not base64!")))[0]).toContain("<incorrect-encoding/>");
    expect(h.rt.room.conns.get("c")!.phase).toBe("sasl");
  });
  it("binds a requested resource after NFC normalisation and refuses bad ones with not-acceptable", async () => {
    const h = harness();
    const c = h.open("c");
    c.phase = "bind";
    let f = await h.send("c", `<iq type="set" id="b"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>x&#x202E;y</resource></bind></iq>`);
    expect(f[0]).toContain(`<not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`);
    f = await h.send("c", `<iq type="set" id="b"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${"r".repeat(65)}</resource></bind></iq>`);
    expect(f[0]).toContain(`not-acceptable`);
    f = await h.send("c", `<iq type="set" id="b"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>e\u0301</resource></bind></iq>`);
    expect(f[0]).toContain(`/\u00e9</jid>`);
  });
});

describe("stream errors", () => {
  const cases: [string, (h: ReturnType<typeof harness>) => Promise<void>, string, string][] = [
    ["stanza before <open/> (open is sent first)", async () => {}, `<message xmlns="jabber:client"/>`, "not-authorized"],
    ["wrong host", async () => {}, `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="evil.example" version="1.0"/>`, "host-unknown"],
    ["wrong version", async () => {}, `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.org" version="2.0"/>`, "unsupported-version"],
    ["stanza before auth", async (h) => void (await h.send("c", OPEN)), `<message xmlns="jabber:client" to="x@example.org"/>`, "not-authorized"],
    ["wrong stanza namespace", async (h) => void (await h.send("c", OPEN)), `<message xmlns="jabber:server"/>`, "invalid-namespace"],
    ["not well-formed", async () => {}, `<open`, "not-well-formed"],
    ["DTD", async () => {}, `<!DOCTYPE x><open/>`, "restricted-xml"],
  ];
  it.each(cases)("%s", async (_n, setup, input, condition) => {
    const h = harness();
    h.open("c");
    await setup(h);
    h.take("c");
    const f = await h.send("c", input);
    const err = f.find((s) => s.startsWith("<stream:error"));
    expect(err).toContain(`<stream:error xmlns:stream="http://etherx.jabber.org/streams"><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`);
    expect(f[f.length - 1]).toBe(`<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`);
    expect(h.closed.has("c")).toBe(true);
    expect(h.rt.room.conns.has("c")).toBe(false);
    if (h.rt.room.conns.size === 0 && _n.includes("before <open/>")) expect(f[0]).toMatch(/^<open /);
  });
  it("oversized frames are a policy-violation", async () => {
    const h = harness({ limits: { maxStanzaBytes: 1024 } });
    h.ready("c");
    const f = await h.send("c", `<message xmlns="jabber:client"><body>${"é".repeat(600)}</body></message>`);
    expect(f.join("")).toContain("<policy-violation");
    expect(h.closed.get("c")?.code).toBe(1008);
  });
  it("<close/> is answered with <close/> and the socket closed with 1000", async () => {
    const h = harness();
    h.ready("c");
    const f = await h.send("c", `<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`);
    expect(f).toEqual([`<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`]);
    expect(h.closed.get("c")?.code).toBe(1000);
  });
  it("unknown top-level elements after binding are unsupported-stanza-type", async () => {
    const h = harness();
    h.ready("c");
    const f = await h.send("c", `<enable xmlns="urn:xmpp:sm:3"/>`);
    expect(f.join("")).toContain("<unsupported-stanza-type");
  });
});
