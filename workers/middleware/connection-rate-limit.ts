/**
 * Per-network limit on NEW signaling connections (SECURITY.md "Abuse limits"), enforced with the Workers Rate
 * Limiting binding `SIGNALING_RATE_LIMITER` (wrangler.toml: SIGNALING_LIMIT_PER_MINUTE per 60 s per key).
 *
 * Key = the client's network (contract/client-address.ts): an IPv4 address, or an IPv6 /64, so rotating
 * through the addresses of one /64 buys nothing. The bucket is sized for a whole office behind one NAT address:
 * every page opens a session on its hair check and another for the call, and reconnects open more, so 30 per
 * minute refused the 16th colleague arriving at the top of the hour. A flood from one network is still cut
 * off here; a flood spread over many networks into one room meets the room's own limit
 * (durable/features/session-admission.ts). Over the limit: 429 with a reason and `Retry-After` (RFC 6585 §4),
 * before the request reaches a room Durable Object. In-room stanza floods are limited per connection.
 */
import type { MiddlewareHandler } from "hono";
import { clientNetworkKey } from "../../contract/client-address";
import { SIGNALING_LIMIT_PERIOD_SECONDS } from "./signaling-limits";

export function connectionRateLimit(): MiddlewareHandler<{ Bindings: Env }> {
  return async function connectionRateLimit(c, next) {
    const key = clientNetworkKey(c.req.raw.headers);
    const { success } = await c.env.SIGNALING_RATE_LIMITER.limit({ key: `signaling:${key}` });
    if (!success) {
      return c.json(
        {
          error: "rate-limited",
          reason: "too many new signaling connections from this network; retry later",
        },
        429,
        { "Retry-After": String(SIGNALING_LIMIT_PERIOD_SECONDS) },
      );
    }
    await next();
  };
}
