/**
 * GET /api/bridges through the real Worker (workerd): the browser-facing bridge origins the hair check probes
 * (workers/routes/bridges.ts). Origins only, ws(s) mapped to http(s), deduplicated, nothing secret; `no-store`;
 * an empty list when the edge has no bridges.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index";
import { bridgeOrigins, httpOrigin } from "../../workers/routes/bridges";

async function get(vars: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const r = await worker.fetch(new Request("https://parley.test/api/bridges"), { ...env, ...vars } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return r;
}

describe("GET /api/bridges", () => {
  it("answers an empty list when no bridge is configured", async () => {
    const r = await exports.default.fetch(new Request("https://parley.test/api/bridges"));
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.headers.get("content-security-policy")).toMatch(/connect-src /); // security headers as everywhere
    expect(await r.json()).toEqual({ bridges: [] });
  });

  it("lists the configured bridges' browser-facing origins (not their control URLs): no paths, no credentials, ws(s) as http(s), no duplicates", async () => {
    const r = await get({
      BRIDGES: "https://bridge1.example:4443/control/, http://127.0.0.1:4444, https://bridge1.example:4443",
      BRIDGE_PUBLIC_ORIGINS: "wss://media.example:8443/v1/rooms?x=1, ws://127.0.0.1:4444, wss://user:pw@bridge2.example",
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const body = (await r.json()) as { bridges: string[] };
    expect(body).toEqual({
      bridges: ["https://media.example:8443", "http://127.0.0.1:4444", "https://bridge2.example"],
    });
    expect(JSON.stringify(body)).not.toContain("bridge1.example");
    // The CSP of the same response allows every listed origin (the web app's fetch probes are not blocked).
    const csp = r.headers.get("content-security-policy") ?? "";
    const connect = /connect-src ([^;]+)/.exec(csp)?.[1]?.split(" ") ?? [];
    for (const o of body.bridges) expect(connect).toContain(o);
  });

  it("answers GET only; a POST does not get the list", async () => {
    const ctx = createExecutionContext();
    const init = { method: "POST", body: "x" };
    const post = await worker.fetch(new Request("https://parley.test/api/bridges", init), { ...env, BRIDGES: "https://bridge1.example:4443" } as Env, ctx);
    await waitOnExecutionContext(ctx);
    expect(post.status).toBe(405);
    expect(await post.text()).not.toContain("bridge1.example");
  });
});

describe("bridgeOrigins()", () => {
  it("maps and deduplicates in configuration order", () => {
    expect(httpOrigin("wss://b.example:443/x")).toBe("https://b.example");
    expect(httpOrigin("ws://127.0.0.1:80/")).toBe("http://127.0.0.1");
    expect(bridgeOrigins({ BRIDGES: ["http://a:1/p", "http://b:2"], BRIDGE_PUBLIC_ORIGINS: ["ws://a:1", "wss://c:3/q", "ws://a:1/x"] })).toEqual([
      "http://a:1",
      "https://c:3",
    ]);
    // without public origins, the BRIDGES URLs are what browsers reach (one listener for both)
    expect(bridgeOrigins({ BRIDGES: ["http://a:1/p", "http://b:2", "http://a:1"], BRIDGE_PUBLIC_ORIGINS: [] })).toEqual(["http://a:1", "http://b:2"]);
    expect(bridgeOrigins({ BRIDGES: [], BRIDGE_PUBLIC_ORIGINS: [] })).toEqual([]);
  });
});
