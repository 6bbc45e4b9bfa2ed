/**
 * Per-IP limit on NEW signaling connections (SECURITY.md "Abuse limits"), enforced with the Workers Rate
 * Limiting binding `SIGNALING_RATE_LIMITER` (wrangler.toml: 30 per 60 s per key). Key = client IP
 * (`CF-Connecting-IP`, set by Cloudflare's edge). Over the limit: 429 with a reason and `Retry-After`
 * (RFC 6585 §4), before the request ever reaches a room Durable Object.
 * In-room stanza floods are limited separately, per connection, by the room server's token bucket.
 */
import type { MiddlewareHandler } from "hono";

/** The binding's period (wrangler.toml `simple.period`); a blocked client may retry after at most this. */
export const SIGNALING_LIMIT_PERIOD_SECONDS = 60;

export function connectionRateLimit(): MiddlewareHandler<{ Bindings: Env }> {
  return async function connectionRateLimit(c, next) {
    const ip = c.req.header("cf-connecting-ip") ?? "unknown";
    const { success } = await c.env.SIGNALING_RATE_LIMITER.limit({ key: `signaling:${ip}` });
    if (!success) {
      return c.json(
        {
          error: "rate-limited",
          reason: "too many new signaling connections from this address; retry later",
        },
        429,
        { "Retry-After": String(SIGNALING_LIMIT_PERIOD_SECONDS) },
      );
    }
    await next();
  };
}
