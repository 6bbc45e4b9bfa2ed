/**
 * XEP-0215 external services (durable/features/extdisco.ts): STUN/TURN entries with coturn REST credentials.
 */
import { describe, expect, it } from "vitest";
import { el, harness, SECRETS } from "./helpers/core-harness";
import { child, childElements } from "../../durable/xmpp/xml";

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
