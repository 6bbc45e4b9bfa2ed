/**
 * Transport and browser security headers on EVERY response: app pages, static assets, API errors, 404s and
 * WebSocket upgrades (SECURITY.md "Browser hardening").
 *
 *  - HSTS (RFC 6797): two years, subdomains.
 *  - Content-Security-Policy (CSP Level 3): nothing third-party; scripts/styles only from the edge; network
 *    connections only to the edge (https + ws(s)) and the configured bridge hosts' browser-facing
 *    origins (BRIDGE_PUBLIC_ORIGINS, else BRIDGES: routes/bridges.ts).
 *  - Referrer-Policy no-referrer, nosniff, COOP/CORP same-origin, X-Frame-Options DENY + frame-ancestors 'none'.
 *  - Permissions-Policy: camera, microphone, display-capture for this origin only; other powerful features off.
 *
 * Headers are computed once per (edge origin, config); responses are rebuilt because responses coming from
 * `fetch()` (ASSETS, Durable Object stubs) have immutable headers. A 101 is rebuilt with its `webSocket`.
 */
import type { MiddlewareHandler } from "hono";
import { loadConfig } from "../../durable/config";
import { browserFacingBridges } from "../routes/bridges";

const STATIC_HEADERS: Readonly<Record<string, string>> = {
  "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Frame-Options": "DENY",
  "Permissions-Policy": [
    "camera=(self)",
    "microphone=(self)",
    "display-capture=(self)",
    "fullscreen=(self)",
    "autoplay=(self)",
    "geolocation=()",
    "interest-cohort=()",
    "browsing-topics=()",
    "payment=()",
    "usb=()",
    "serial=()",
    "bluetooth=()",
    "hid=()",
    "midi=()",
    "magnetometer=()",
    "gyroscope=()",
    "accelerometer=()",
    "ambient-light-sensor=()",
    "publickey-credentials-get=()",
    "xr-spatial-tracking=()",
  ].join(", "),
};

/** https://h:p -> [https://h:p, wss://h:p]; ws://h:p -> [http://h:p, ws://h:p]; always both forms of one origin. */
export function originPair(url: string): string[] {
  const u = new URL(url);
  const secure = u.protocol === "https:" || u.protocol === "wss:";
  const hostPort = u.host;
  return secure ? [`https://${hostPort}`, `wss://${hostPort}`] : [`http://${hostPort}`, `ws://${hostPort}`];
}

/** The CSP for an edge at `edgeOrigin` (e.g. "https://parley.example") with these bridge URLs. */
export function buildCsp(edgeOrigin: string, bridgeUrls: readonly string[]): string {
  const edgeWs = originPair(edgeOrigin)[1]!;
  const connect = [...new Set(["'self'", edgeWs, ...bridgeUrls.flatMap(originPair)])];
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    `connect-src ${connect.join(" ")}`,
    "font-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** All headers for one response. */
export function securityHeadersFor(edgeOrigin: string, bridgeUrls: readonly string[]): Record<string, string> {
  return { ...STATIC_HEADERS, "Content-Security-Policy": buildCsp(edgeOrigin, bridgeUrls) };
}

/** Copy `res` with `extra` headers set (overriding), keeping a 101's WebSocket. */
export function withHeaders(res: Response, extra: Record<string, string>): Response {
  const headers = new Headers(res.headers);
  for (const [k, v] of Object.entries(extra)) headers.set(k, v);
  if (res.status === 101 || res.webSocket) {
    return new Response(null, { status: res.status, statusText: res.statusText, webSocket: res.webSocket, headers });
  }
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

export function securityHeaders(): MiddlewareHandler<{ Bindings: Env }> {
  const cache = new Map<string, Record<string, string>>();
  return async function securityHeaders(c, next) {
    await next();
    const origin = new URL(c.req.url).origin;
    let bridges: string[] = [];
    try {
      const cfg = loadConfig(c.env);
      bridges = browserFacingBridges(cfg);
    } catch {
      // Invalid config: configGuard answers 500; still send the headers (with no bridge origins).
    }
    const key = `${origin} ${bridges.join(" ")}`;
    let headers = cache.get(key);
    if (!headers) {
      headers = securityHeadersFor(origin, bridges);
      if (cache.size > 64) cache.clear();
      cache.set(key, headers);
    }
    const out = withHeaders(c.res, headers);
    // Hono's `res` setter merges the previous response's headers into the new one; unset it first so the
    // rebuilt response (possibly a 101 with a WebSocket) is used exactly as built.
    c.res = undefined;
    c.res = out;
  };
}
