/**
 * SECURITY.md "Browser hardening": the security-header middleware, unit level (real workerd): CSP contents,
 * header values, and that a WebSocket 101 keeps working with the headers added.
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { buildCsp, originPair, securityHeaders, securityHeadersFor, withHeaders } from "../../workers/middleware/security-headers";

describe("CSP", () => {
  it("allows only self, the edge's WebSocket origin and the configured bridges", () => {
    const csp = buildCsp("https://parley.example", ["https://bridge1.example:4443", "wss://media.example"]);
    const dirs = Object.fromEntries(csp.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1)]));
    expect(dirs["default-src"]).toEqual(["'none'"]);
    expect(dirs["script-src"]).toEqual(["'self'"]);
    expect(dirs["style-src"]).toEqual(["'self'"]);
    expect(dirs["img-src"]).toEqual(["'self'", "data:", "blob:"]);
    expect(dirs["media-src"]).toEqual(["'self'", "blob:", "mediastream:"]);
    expect(dirs["connect-src"]).toEqual([
      "'self'",
      "wss://parley.example",
      "https://bridge1.example:4443",
      "wss://bridge1.example:4443",
      "https://media.example",
      "wss://media.example",
    ]);
    expect(dirs["frame-ancestors"]).toEqual(["'none'"]);
    expect(dirs["base-uri"]).toEqual(["'none'"]);
    expect(dirs["form-action"]).toEqual(["'self'"]);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });
  it("uses ws:// for a plain-http edge (local development) and drops paths from bridge URLs", () => {
    expect(buildCsp("http://127.0.0.1:8787", [])).toContain("connect-src 'self' ws://127.0.0.1:8787;");
    expect(originPair("http://10.0.0.5:4443/v1/")).toEqual(["http://10.0.0.5:4443", "ws://10.0.0.5:4443"]);
  });
});

describe("security headers", () => {
  const h = securityHeadersFor("https://parley.example", []);
  it("has the promised values", () => {
    expect(h["Strict-Transport-Security"]).toBe("max-age=63072000; includeSubDomains");
    expect(h["Referrer-Policy"]).toBe("no-referrer");
    expect(h["X-Content-Type-Options"]).toBe("nosniff");
    expect(h["Cross-Origin-Opener-Policy"]).toBe("same-origin");
    expect(h["Cross-Origin-Resource-Policy"]).toBe("same-origin");
    expect(h["X-Frame-Options"]).toBe("DENY");
    const pp = h["Permissions-Policy"]!;
    for (const f of ["camera=(self)", "microphone=(self)", "display-capture=(self)", "geolocation=()", "interest-cohort=()"]) {
      expect(pp).toContain(f);
    }
  });

  it("overrides headers set by the route and keeps status and body", async () => {
    const r = withHeaders(new Response("hi", { status: 404, headers: { "x-frame-options": "ALLOWALL", "x-a": "1" } }), h);
    expect(r.status).toBe(404);
    expect(await r.text()).toBe("hi");
    expect(r.headers.get("x-frame-options")).toBe("DENY");
    expect(r.headers.get("x-a")).toBe("1");
  });

  it("adds headers to a WebSocket 101 without breaking the upgrade", async () => {
    const app = new Hono<{ Bindings: Env }>();
    app.use("*", securityHeaders());
    app.get("/ws", () => {
      const pair = new WebSocketPair();
      const server = pair[1];
      server.accept();
      server.addEventListener("message", (e) => server.send(`echo:${String(e.data)}`));
      return new Response(null, { status: 101, webSocket: pair[0], headers: { "Sec-WebSocket-Protocol": "xmpp" } });
    });
    const res = await app.request("https://parley.example/ws", { headers: { upgrade: "websocket" } }, {
      ENVIRONMENT: "development",
    } as unknown as Env);
    expect(res.status).toBe(101);
    expect(res.headers.get("sec-websocket-protocol")).toBe("xmpp");
    expect(res.headers.get("content-security-policy")).toContain("connect-src 'self' wss://parley.example");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const ws = res.webSocket;
    expect(ws).toBeTruthy();
    ws!.accept();
    const reply = new Promise<string>((resolve) => ws!.addEventListener("message", (e) => resolve(String(e.data))));
    ws!.send("ping");
    expect(await reply).toBe("echo:ping");
    ws!.close(1000, "done");
  });

  it("puts headers on errors thrown by a route", async () => {
    const app = new Hono<{ Bindings: Env }>();
    app.use("*", securityHeaders());
    app.get("/boom", () => {
      throw new Error("boom");
    });
    const res = await app.request("https://parley.example/boom", {}, { ENVIRONMENT: "development" } as unknown as Env);
    expect(res.status).toBe(500);
    expect(res.headers.get("strict-transport-security")).toBe("max-age=63072000; includeSubDomains");
  });
});
