/**
 * SECURITY.md "Abuse limits" and "Browser hardening": which browser origins may use the signaling endpoint and the
 * API (workers/middleware/origin-check.ts), how ALLOWED_ORIGINS is validated (durable/config.ts), and the client
 * network key the limits count by (contract/client-address.ts).
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ConfigSchema } from "../../durable/config";
import { ipv6Groups, networkKey } from "../../contract/client-address";
import { checkOrigin } from "../../workers/middleware/origin-check";

describe("checkOrigin", () => {
  const edge = "https://parley.example/xmpp-websocket/room";
  it("accepts no Origin (native clients), the edge's own origin and configured ones", () => {
    expect(checkOrigin(null, edge, [])).toEqual({ ok: true });
    expect(checkOrigin("https://parley.example", edge, [])).toEqual({ ok: true });
    expect(checkOrigin("https://meet.example", edge, ["https://meet.example"])).toEqual({ ok: true });
  });
  it.each([
    ["a foreign site", "https://evil.example"],
    ["the edge's host over another scheme", "http://parley.example"],
    ["the edge's host on another port", "https://parley.example:8443"],
    ["a subdomain", "https://a.parley.example"],
    ["the opaque origin", "null"],
    ["garbage", "not an origin"],
  ])("refuses %s with a reason", (_what, origin) => {
    const v = checkOrigin(origin, edge, ["https://meet.example"]);
    expect(v.ok).toBe(false);
    expect(!v.ok && v.reason.length).toBeGreaterThan(10);
  });
});

describe("config: ALLOWED_ORIGINS", () => {
  const dev = { ENVIRONMENT: "development" };
  it("defaults to none and parses a list to origins", () => {
    expect(ConfigSchema.parse(dev).ALLOWED_ORIGINS).toEqual([]);
    expect(ConfigSchema.parse({ ...dev, ALLOWED_ORIGINS: " https://a.example , http://b.example:8080/ " }).ALLOWED_ORIGINS).toEqual([
      "https://a.example",
      "http://b.example:8080",
    ]);
  });
  it.each(["*", "https://a.example/path", "ftp://a.example", "a.example"])("refuses %s", (v) => {
    const r = ConfigSchema.safeParse({ ...dev, ALLOWED_ORIGINS: v });
    expect(r.success).toBe(false);
    expect(!r.success && r.error.issues[0]?.path).toEqual(["ALLOWED_ORIGINS", 0]);
  });
});

describe("networkKey", () => {
  it.each([
    ["192.0.2.7", "4:192.0.2.7"],
    ["2001:db8:1:2:3:4:5:6", "6:2001:db8:1:2::/64"],
    ["2001:DB8:1:2:ffff::1", "6:2001:db8:1:2::/64"],
    ["2001:db8::1", "6:2001:db8:0:0::/64"],
    ["::1", "6:0:0:0:0::/64"],
    ["::ffff:192.0.2.7", "4:192.0.2.7"],
    ["::ffff:c000:207", "4:192.0.2.7"],
    ["64:ff9b::192.0.2.7", "6:64:ff9b:0:0::/64"],
    ["unknown", "?:unknown"],
    ["1.2.3.256", "?:1.2.3.256"],
    ["1:2:3:4:5:6:7:8:9", "?:1:2:3:4:5:6:7:8:9"],
    ["1::2::3", "?:1::2::3"],
  ])("%s -> %s", (ip, key) => expect(networkKey(ip)).toBe(key));
  it("keeps every address of one /64 together and neighbours apart", () => {
    expect(networkKey("2001:db8:a:b:1::")).toBe(networkKey("2001:db8:a:b:ffff:ffff:ffff:ffff"));
    expect(networkKey("2001:db8:a:b::1")).not.toBe(networkKey("2001:db8:a:c::1"));
    expect(ipv6Groups("fe80::1%eth0")).toBeNull();
  });
});

describe("Origin check through the Worker", { timeout: 60_000 }, () => {
  const ws = (origin?: string) =>
    exports.default.fetch(
      new Request("https://parley.test/xmpp-websocket/origin-room", {
        headers: { upgrade: "websocket", "cf-connecting-ip": "192.0.2.150", ...(origin ? { origin } : {}) },
      }),
    );
  it("refuses a foreign origin's WebSocket with 403 and a reason, before the room", async () => {
    const r = await ws("https://evil.example");
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: "forbidden-origin", reason: expect.stringContaining("https://evil.example") });
  });
  it("upgrades the edge's own origin and a client without Origin", async () => {
    for (const o of ["https://parley.test", undefined]) {
      const r = await ws(o);
      expect(r.status).toBe(101);
      r.webSocket?.accept();
      r.webSocket?.close(1000, "done");
    }
  });
  it("refuses a foreign origin on /api/bridges too, and serves the own origin", async () => {
    const get = (origin: string) => exports.default.fetch(new Request("https://parley.test/api/bridges", { headers: { origin } }));
    expect((await get("https://evil.example")).status).toBe(403);
    expect((await get("https://parley.test")).status).toBe(200);
  });
});
