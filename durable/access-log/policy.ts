/**
 * Access-log policy (PRIVACY.md "Access log"): WHAT is recorded and for HOW LONG. Pure functions, no I/O.
 *
 * Recorded per page load and per signaling connection: time, client IP, User-Agent, kind. Nothing else: no
 * path, no room name, no nick, no query string, no referrer, no content.
 * Retention: ACCESS_LOG_RETENTION_DAYS (0 = logging off, hard maximum 7, enforced by durable/config.ts).
 */
import { z } from "zod";

const ACCESS_KINDS = ["page", "signaling"] as const;
export type AccessKind = (typeof ACCESS_KINDS)[number];

export const DAY_MS = 24 * 3600 * 1000;
/** The promise made in PRIVACY.md: never more than 7 days, whatever the configuration says. */
const MAX_RETENTION_DAYS = 7;
/** Longest stored User-Agent (longer ones are cut, they carry no extra meaning and bloat storage). */
const MAX_USER_AGENT = 512;

/** Repeats of one (address, User-Agent, kind) within this window are one row with a count (floods of page loads). */
export const COALESCE_MS = 60_000;
/** Most rows the log holds (about 60 MB at the longest User-Agent); beyond it new entries are dropped and counted. */
export const MAX_ROWS = 100_000;

/** One stored row, as written and as returned to the admin. `at` is milliseconds since the epoch. */
export const AccessEntrySchema = z.strictObject({
  at: z.number().int().nonnegative(),
  kind: z.enum(ACCESS_KINDS),
  ip: z.string().max(64),
  userAgent: z.string().max(MAX_USER_AGENT),
});
export type AccessEntry = z.infer<typeof AccessEntrySchema>;

/** Paths that are never "page loads": API, signaling, admin and health endpoints. */
const NON_PAGE_PREFIXES = ["/xmpp-websocket", "/admin", "/healthz", "/bridge-events", "/api/", "/cdn-cgi/"];

/**
 * Decide whether a request is logged and as what.
 *  - `signaling`: a WebSocket upgrade (RFC 6455 §4.1) to `/xmpp-websocket/*` (RFC 7395 endpoint).
 *  - `page`: a GET for an HTML document: the app shell at `/` or `/<room>` (the SPA fallback). Static assets
 *    (anything with a file extension other than .html) and API calls are not logged. A navigation is recognised
 *    by `Sec-Fetch-Dest: document` (Fetch Metadata) or, for clients without Fetch Metadata, `Accept: text/html`.
 */
export function classifyRequest(method: string, pathname: string, headers: Headers): AccessKind | null {
  if (pathname === "/xmpp-websocket" || pathname.startsWith("/xmpp-websocket/")) {
    return headers.get("upgrade")?.toLowerCase() === "websocket" ? "signaling" : null;
  }
  if (method !== "GET") return null;
  if (NON_PAGE_PREFIXES.some((p) => pathname === p || pathname.startsWith(p.endsWith("/") ? p : p + "/"))) return null;
  const last = pathname.slice(pathname.lastIndexOf("/") + 1);
  if (last.includes(".") && !last.endsWith(".html")) return null;
  const dest = headers.get("sec-fetch-dest");
  if (dest !== null) return dest === "document" ? "page" : null;
  return (headers.get("accept") ?? "").includes("text/html") ? "page" : null;
}

/** Build the entry for a request: only the four recorded fields. */
export function entryFor(kind: AccessKind, headers: Headers, now: number): AccessEntry {
  return {
    at: now,
    kind,
    // Set by Cloudflare's edge; `wrangler dev` sets 127.0.0.1. Anything odd is cut, never trusted further.
    ip: (headers.get("cf-connecting-ip") ?? "unknown").slice(0, 64),
    userAgent: (headers.get("user-agent") ?? "").slice(0, MAX_USER_AGENT),
  };
}

/** Clamp a configured retention to the promised maximum (the config schema already refuses > 7). */
export function effectiveRetentionDays(days: number): number {
  return Math.max(0, Math.min(MAX_RETENTION_DAYS, Math.floor(days)));
}

/** Rows with `at` strictly below the cutoff are expired: never returned, deleted by the next alarm. */
export function cutoff(now: number, retentionDays: number): number {
  return now - effectiveRetentionDays(retentionDays) * DAY_MS;
}

/**
 * When the purge alarm should fire next: exactly when the oldest remaining row expires (so rows are deleted
 * as soon as they pass the limit, not up to a day later), never earlier than `minDelayMs` from now (guards
 * against a busy loop if clocks disagree). No rows: no alarm.
 */
export function nextPurgeAt(oldestAt: number | null, now: number, retentionDays: number, minDelayMs = 1000): number | null {
  if (oldestAt === null) return null;
  return Math.max(oldestAt + effectiveRetentionDays(retentionDays) * DAY_MS, now + minDelayMs);
}
