/**
 * Origin check for endpoints that hand out something worth stealing from a visitor's browser: the signaling
 * WebSocket (a room session, and through XEP-0215 the deployment's TURN relay credentials) and the public API.
 *
 * A browser sends `Origin` on every WebSocket handshake (RFC 6455 §4.1 item 8, §10.2: "servers ... SHOULD
 * verify the |Origin| field") and on cross-origin fetches (Fetch Standard). Without this check any web page could
 * make its visitors' browsers open sessions here: use the relay, or guess room passwords from thousands of
 * visitors' addresses. Accepted:
 *  - no `Origin` header at all: a native XMPP client (not a browser; it holds no visitor's ambient authority);
 *  - the edge's own origin (scheme://host[:port] of the request URL, RFC 6454 §6.2);
 *  - the origins listed in ALLOWED_ORIGINS (durable/config.ts).
 * Everything else, including the opaque origin `null` (sandboxed frames, file: pages), is 403 with a reason.
 */
import type { MiddlewareHandler } from "hono";
import { loadConfig } from "../../durable/config";

export type OriginVerdict = { ok: true } | { ok: false; reason: string };

/** Decide for one request: `origin` is the header value (null when absent), `requestUrl` the edge's URL. */
export function checkOrigin(origin: string | null, requestUrl: string, allowed: readonly string[]): OriginVerdict {
  if (origin === null) return { ok: true };
  if (origin === "null") return { ok: false, reason: "pages with an opaque origin (sandboxed or file:) may not use this edge" };
  let o: string;
  try {
    o = new URL(origin).origin;
  } catch {
    return { ok: false, reason: `Origin "${origin.slice(0, 100)}" is not an origin this edge accepts` };
  }
  if (o === new URL(requestUrl).origin || allowed.includes(o)) return { ok: true };
  return {
    ok: false,
    reason: `Origin ${o} is not allowed: only this site's own pages (and ALLOWED_ORIGINS) may use it`,
  };
}

export function originCheck(): MiddlewareHandler<{ Bindings: Env }> {
  return async function originCheck(c, next) {
    const v = checkOrigin(c.req.header("origin") ?? null, c.req.url, loadConfig(c.env).ALLOWED_ORIGINS);
    if (!v.ok) return c.json({ error: "forbidden-origin", reason: v.reason }, 403, { "Cache-Control": "no-store" });
    await next();
  };
}
