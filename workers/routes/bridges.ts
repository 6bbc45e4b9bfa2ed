/**
 * GET /api/bridges (public): the browser-facing origins of this edge's media bridges, for the hair check's
 * connectivity check (workers/web/src/connectivity.ts): `200 {"bridges": ["https://bridge.example:4443", ...]}`.
 *
 * The same hosts the CSP's `connect-src` names (middleware/security-headers.ts): BRIDGE_PUBLIC_ORIGINS when set (a
 * bridge host serves browsers apart from its control API, whose URLs BRIDGES lists and browsers need not know),
 * else the origins of BRIDGES; reduced to origins (scheme://host[:port], RFC 6454 §6.2) with ws(s) mapped to http(s)
 * and duplicates removed: no paths, no query strings, no credentials, nothing secret. An edge without bridges
 * answers an empty list. Not logged (not a page load, see durable/access-log/policy.ts).
 */
import { Hono } from "hono";
import { loadConfig, type Config } from "../../durable/config";

/** `wss://h:p/x?y` -> `https://h:p`; `ws://h:p` -> `http://h:p`; http(s) URLs -> their origin. */
export function httpOrigin(url: string): string {
  const u = new URL(url);
  const scheme = u.protocol === "wss:" || u.protocol === "https:" ? "https:" : "http:";
  return `${scheme}//${u.host}`;
}

/** The browser-facing bridge URLs as configured: BRIDGE_PUBLIC_ORIGINS when set, else BRIDGES. */
export function browserFacingBridges(cfg: Pick<Config, "BRIDGES" | "BRIDGE_PUBLIC_ORIGINS">): string[] {
  return cfg.BRIDGE_PUBLIC_ORIGINS.length > 0 ? cfg.BRIDGE_PUBLIC_ORIGINS : cfg.BRIDGES;
}

/** The deduplicated browser-facing bridge origins, in configuration order. */
export function bridgeOrigins(cfg: Pick<Config, "BRIDGES" | "BRIDGE_PUBLIC_ORIGINS">): string[] {
  return [...new Set(browserFacingBridges(cfg).map(httpOrigin))];
}

export const bridgesRoutes = new Hono<{ Bindings: Env }>();

bridgesRoutes.get("/api/bridges", (c) => {
  c.header("Cache-Control", "no-store");
  return c.json({ bridges: bridgeOrigins(loadConfig(c.env)) });
});
