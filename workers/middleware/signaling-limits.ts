/**
 * The per-network signaling connection limit, as configured in wrangler.toml ([[ratelimits]]
 * SIGNALING_RATE_LIMITER `simple`); kept here (no Worker types) so Node tests can read it too.
 */
/** The binding's period; a blocked client may retry after at most this. */
export const SIGNALING_LIMIT_PERIOD_SECONDS = 60;
/** The binding's limit per network and period. */
export const SIGNALING_LIMIT_PER_MINUTE = 300;
