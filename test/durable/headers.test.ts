/**
 * SECURITY.md "Browser hardening" and "Secrets": every response of the real Worker (app pages, static assets,
 * errors, admin 401s, signaling refusals) carries the security headers; an invalid configuration makes every
 * request answer 500 "misconfigured: ..." without leaking secret values.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index";

const EXPECTED: Record<string, string | RegExp> = {
  "strict-transport-security": "max-age=63072000; includeSubDomains",
  "content-security-policy": /^default-src 'none'; script-src 'self'; style-src 'self';.*connect-src 'self' wss:\/\/parley\.test[ ;].*frame-ancestors 'none'$/,
  "referrer-policy": "no-referrer",
  "permissions-policy": /camera=\(self\), microphone=\(self\), display-capture=\(self\).*geolocation=\(\)/,
  "x-content-type-options": "nosniff",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "x-frame-options": "DENY",
};
function expectSecurityHeaders(r: Response, what: string): void {
  for (const [name, want] of Object.entries(EXPECTED)) {
    const got = r.headers.get(name);
    expect(got, `${name} on ${what}`).not.toBeNull();
    if (typeof want === "string") expect(got, `${name} on ${what}`).toBe(want);
    else expect(got, `${name} on ${what}`).toMatch(want);
  }
}

const ROUTES: { what: string; path: string; init?: RequestInit; status: number | ((s: number) => boolean) }[] = [
  { what: "the landing page", path: "/", init: { headers: { "sec-fetch-dest": "document" } }, status: 200 },
  { what: "a room page", path: "/some-room", init: { headers: { "sec-fetch-dest": "document" } }, status: 200 },
  { what: "a static asset", path: "/favicon.svg", status: 200 },
  { what: "the health check", path: "/healthz", status: 200 },
  { what: "a method the assets refuse", path: "/", init: { method: "POST", body: "x" }, status: 405 },
  { what: "an admin route without token", path: "/admin/access-log", status: 401 },
  { what: "the room admin route without token", path: "/admin/rooms/some-room", status: 401 },
  { what: "signaling to a bad room name", path: "/xmpp-websocket/Bad_Room!", init: { headers: { upgrade: "websocket" } }, status: 400 },
  { what: "signaling without an upgrade", path: "/xmpp-websocket/some-room", status: 426 },
];

describe("security headers on every route", () => {
  it.each(ROUTES)("$what ($path)", async ({ what, path, init, status }) => {
    const r = await exports.default.fetch(new Request(`https://parley.test${path}`, init));
    if (typeof status === "number") expect(r.status).toBe(status);
    else expect(status(r.status)).toBe(true);
    expectSecurityHeaders(r, what);
  });

  it("the static asset is served as itself, with nosniff", async () => {
    const r = await exports.default.fetch(new Request("https://parley.test/favicon.svg"));
    expect(r.headers.get("content-type")).toMatch(/^image\/svg\+xml/);
  });
});

describe("WebSocket upgrade through the Worker", () => {
  it("still upgrades to XMPP over WebSocket with all security headers on the 101", async () => {
    const r = await exports.default.fetch(
      new Request("https://parley.test/xmpp-websocket/header-room", {
        headers: { upgrade: "websocket", "sec-websocket-protocol": "xmpp", "cf-connecting-ip": "192.0.2.99" },
      }),
    );
    expect(r.status).toBe(101);
    expectSecurityHeaders(r, "101");
    expect(r.headers.get("sec-websocket-protocol")).toBe("xmpp");
    const ws = r.webSocket!;
    ws.accept();
    const frames: string[] = [];
    const gotOpen = new Promise<void>((resolve) =>
      ws.addEventListener("message", (e) => {
        frames.push(String(e.data));
        if (String(e.data).startsWith("<open")) resolve();
      }),
    );
    ws.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='parley.test' version='1.0'/>");
    await gotOpen;
    expect(frames[0]).toContain("urn:ietf:params:xml:ns:xmpp-framing");
    ws.close(1000, "done");
  });
});

describe("invalid configuration", () => {
  async function call(path: string, e: object): Promise<Response> {
    const ctx = createExecutionContext();
    const r = await worker.fetch(new Request(`https://parley.test${path}`), e as Env, ctx);
    await waitOnExecutionContext(ctx);
    return r;
  }
  it("answers 500 misconfigured on every request, naming the problem but not the values", async () => {
    const weak = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const bad = { ...env, ENVIRONMENT: "production", ADMIN_TOKEN: weak, TURN_SECRET: undefined, BRIDGE_SECRET: "short" };
    for (const path of ["/", "/some-room", "/healthz", "/admin/access-log", "/xmpp-websocket/some-room", "/favicon.svg"]) {
      const r = await call(path, bad);
      expect(r.status, path).toBe(500);
      const body = await r.text();
      expect(body).toMatch(/^misconfigured: /);
      expect(body).toContain("ADMIN_TOKEN");
      expect(body).toContain("TURN_SECRET");
      expect(body).toContain("BRIDGE_SECRET");
      expect(body).not.toContain(weak);
      expect(body).not.toMatch(/short/);
      expectSecurityHeaders(r, `misconfigured ${path}`);
    }
  });
  it("refuses a retention above 7 days the same way", async () => {
    const r = await call("/", { ...env, ACCESS_LOG_RETENTION_DAYS: "30" });
    expect(r.status).toBe(500);
    expect(await r.text()).toMatch(/^misconfigured: .*ACCESS_LOG_RETENTION_DAYS/);
  });
  it("serves normally with the development config (control)", async () => {
    expect((await call("/healthz", env)).status).toBe(200);
  });
});
