import { describe, expect, it } from "vitest";
import { el, harness, SECRETS } from "./helpers/core-harness";
import { child, childElements } from "../../durable/xmpp/xml";
import { validateNick, nickKey } from "../../durable/features/nick";
import { TokenBucket } from "../../durable/features/rate-limit";

const R = "room@conference.example.org";

describe("XEP-0030 disco and XEP-0199 ping", () => {
  it("server disco#info lists extdisco and ping; items list the MUC service", async () => {
    const h = harness();
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="1" to="example.org"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`);
    expect(f[0]).toContain(`<feature var="urn:xmpp:extdisco:2"/>`);
    expect(f[0]).toContain(`<feature var="urn:xmpp:ping"/>`);
    expect(el(f[0]!).attrs).toMatchObject({ type: "result", id: "1", from: "example.org", to: "u-a@example.org/res" });
    const g = await h.send("a", `<iq type="get" id="2"><query xmlns="http://jabber.org/protocol/disco#items"/></iq>`);
    expect(g[0]).toContain(`<item jid="conference.example.org"`);
    const m = await h.send("a", `<iq type="get" id="3" to="conference.example.org"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`);
    expect(m[0]).toContain(`<identity category="conference" type="text"`);
  });
  it("room disco#info works for non-occupants and shows muc_unsecured", async () => {
    const h = harness();
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="1" to="${R}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`);
    expect(f[0]).toContain(`<feature var="http://jabber.org/protocol/muc"/>`);
    expect(f[0]).toContain(`<feature var="muc_unsecured"/>`);
  });
  it.each([
    ["server (no to)", ""],
    ["server", ` to="example.org"`],
    ["MUC service", ` to="conference.example.org"`],
    ["room", ` to="${R}"`],
  ])("answers pings to the %s", async (_n, to) => {
    const h = harness();
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="p"${to}><ping xmlns="urn:xmpp:ping"/></iq>`);
    expect(el(f[0]!).attrs).toMatchObject({ type: "result", id: "p" });
  });
  it("XEP-0410 self-ping: result when joined, not-acceptable when not", async () => {
    const h = harness();
    h.ready("a");
    expect((await h.send("a", `<iq type="get" id="p" to="${R}/alice"><ping xmlns="urn:xmpp:ping"/></iq>`))[0]).toContain("<not-acceptable");
    await h.join("a", "alice");
    expect((await h.send("a", `<iq type="get" id="p" to="${R}/alice"><ping xmlns="urn:xmpp:ping"/></iq>`))[0]).toContain(`type="result"`);
  });
  it("unsupported IQs get service-unavailable (RFC 6120 §8.4)", async () => {
    const h = harness();
    h.ready("a");
    expect((await h.send("a", `<iq type="get" id="r"><query xmlns="jabber:iq:roster"/></iq>`))[0]).toContain("<service-unavailable");
  });
});

describe("XEP-0215 external services", () => {
  const now = 1_700_000_000_000; // harness clock; ttl 86400 -> expiry 1700086400
  // "<expiry>:<session part>", the part = first 8 bytes of SHA-256("turn-session|a") for connection "a", and the
  // password computed independently: python3 hashlib/hmac over that username with the test TURN secret
  const USER_A = "1700086400:9a72720cfd6e7fe8";
  const PASS_A = "vBQZbTWbOo+7TNOgGq7+wG+rY7Y=";
  it("lists stun + turn udp/tcp with coturn REST credentials, checked against an independent HMAC-SHA1", async () => {
    const h = harness({ cfg: { turnHost: "turn.example.org", turnPort: 3478 } });
    expect(h.clock.now).toBe(now);
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="s" to="example.org"><services xmlns="urn:xmpp:extdisco:2"/></iq>`);
    const services = childElements(child(el(f[0]!), "services", "urn:xmpp:extdisco:2")!);
    expect(services.map((s) => [s.attrs["type"], s.attrs["transport"]])).toEqual([
      ["stun", "udp"],
      ["turn", "udp"],
      ["turn", "tcp"],
    ]);
    expect(services[0]!.attrs["username"]).toBeUndefined();
    const turn = services[1]!.attrs;
    expect(turn).toMatchObject({ host: "turn.example.org", port: "3478", username: USER_A, expires: "2023-11-15T22:13:20Z", restricted: "1" });
    expect(SECRETS.turn).toBe("turn-secret-for-tests-0123456789abcdef");
    expect(turn["password"]).toBe(PASS_A);
    // another connection gets another coturn user (per-session quota), the same connection the same one
    h.ready("b");
    const fb = await h.send("b", `<iq type="get" id="s" to="example.org"><services xmlns="urn:xmpp:extdisco:2" type="turn"/></iq>`);
    const userB = childElements(child(el(fb[0]!), "services", "urn:xmpp:extdisco:2")!)[0]!.attrs["username"];
    expect(userB).toMatch(/^1700086400:[0-9a-f]{16}$/);
    expect(userB).not.toBe(USER_A);
  });
  it("filters by type, defaults the host to the domain, answers credentials queries", async () => {
    const h = harness();
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="s"><services xmlns="urn:xmpp:extdisco:2" type="turn"/></iq>`);
    expect(f[0]).not.toContain(`type="stun"`);
    expect(f[0]).toContain(`host="example.org"`);
    const c = await h.send(
      "a",
      `<iq type="get" id="c"><credentials xmlns="urn:xmpp:extdisco:2"><service type="turn" host="example.org" port="3478" transport="tcp"/></credentials></iq>`,
    );
    const list = childElements(child(el(c[0]!), "credentials", "urn:xmpp:extdisco:2")!);
    expect(list).toHaveLength(1);
    expect(list[0]!.attrs).toMatchObject({ transport: "tcp", username: USER_A, password: PASS_A });
    const miss = await h.send("a", `<iq type="get" id="c"><credentials xmlns="urn:xmpp:extdisco:2"><service type="turn" host="elsewhere"/></credentials></iq>`);
    expect(miss[0]).toContain("<item-not-found");
  });
  it("no turns entry unless TURN_TLS_PORT is configured", async () => {
    const h = harness({ cfg: { turnHost: "turn.example.org" } });
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="s"><services xmlns="urn:xmpp:extdisco:2"/></iq>`);
    const services = childElements(child(el(f[0]!), "services", "urn:xmpp:extdisco:2")!);
    expect(services.map((s) => s.attrs["type"])).toEqual(["stun", "turn", "turn"]);
    const c = await h.send("a", `<iq type="get" id="c"><credentials xmlns="urn:xmpp:extdisco:2"><service type="turns"/></credentials></iq>`);
    expect(c[0]).toContain("<item-not-found");
  });
  it("with TURN_TLS_PORT also offers turns (RFC 7065) over tcp on that port, with the turn entries' credentials", async () => {
    const h = harness({ cfg: { turnHost: "turn.example.org", turnPort: 3478, turnTlsPort: 443 } });
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="s"><services xmlns="urn:xmpp:extdisco:2"/></iq>`);
    const services = childElements(child(el(f[0]!), "services", "urn:xmpp:extdisco:2")!);
    expect(services.map((s) => [s.attrs["type"], s.attrs["port"], s.attrs["transport"]])).toEqual([
      ["stun", "3478", "udp"],
      ["turn", "3478", "udp"],
      ["turn", "3478", "tcp"],
      ["turns", "443", "tcp"],
    ]);
    const turns = services[3]!.attrs;
    expect(turns).toMatchObject({ host: "turn.example.org", username: USER_A, password: PASS_A, restricted: "1" });
    for (const k of ["username", "password", "expires", "restricted"]) expect(turns[k], k).toBe(services[1]!.attrs[k]);
    // filtered listing (§3.2) and a credentials query (§3.3) for the turns entry
    const only = await h.send("a", `<iq type="get" id="t"><services xmlns="urn:xmpp:extdisco:2" type="turns"/></iq>`);
    expect(childElements(child(el(only[0]!), "services", "urn:xmpp:extdisco:2")!).map((s) => s.attrs["type"])).toEqual(["turns"]);
    const c = await h.send(
      "a",
      `<iq type="get" id="c"><credentials xmlns="urn:xmpp:extdisco:2"><service type="turns" host="turn.example.org" port="443"/></credentials></iq>`,
    );
    const list = childElements(child(el(c[0]!), "credentials", "urn:xmpp:extdisco:2")!);
    expect(list.map((s) => s.attrs)).toEqual([turns]);
  });
});

describe("nick and resource rules", () => {
  it.each([
    ["alice", "alice"],
    ["  padded  ", "padded"],
    ["e\u0301", "\u00e9"],
    ["x".repeat(64), "x".repeat(64)],
    ["😀".repeat(64), "😀".repeat(64)],
    ["a b", "a b"],
  ])("accepts %j as %j", (raw, want) => expect(validateNick(raw)).toEqual({ ok: true, value: want }));
  it.each(["", "   ", "x".repeat(65), "a\u0000b", "a\u0085b", "a\u202Eb", "a\u2028b", "a\u200Bb"])("rejects %j", (raw) => {
    expect(validateNick(raw).ok).toBe(false);
  });
  it("compares case-insensitively after NFC", () => {
    expect(nickKey("RENÉE")).toBe(nickKey("renée"));
  });
});

describe("per-connection token bucket", () => {
  it("allows a burst, then the sustained rate", () => {
    const b = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.take(99)).toBe(false);
    expect(b.take(100)).toBe(true);
    expect(b.take(10_000)).toBe(true);
    expect(b.tokens).toBe(4);
  });
  it("closes a flooding stream with policy-violation; others are unaffected", async () => {
    const h = harness({ limits: { ratePerSecond: 1, burst: 3 } });
    h.ready("a");
    h.ready("b");
    await h.join("a", "alice");
    await h.join("b", "bob");
    const flood = `<message to="${R}" type="groupchat"><body>x</body></message>`;
    const f = await h.send("b", flood + flood + flood);
    expect(f.join("")).toContain("<policy-violation");
    expect(h.closed.get("b")?.code).toBe(1008);
    const g = await h.send("a", flood);
    expect(g[0]).toContain("<body>x</body>");
  });
});
