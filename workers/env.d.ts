// Optional vars and secrets the config schema reads (durable/config.ts); `wrangler types` only sees [vars].
declare namespace Cloudflare {
  interface Env {
    XMPP_DOMAIN?: string;
    MAX_OCCUPANTS?: string;
    MAX_STANZA_BYTES?: string;
    STANZA_RATE_PER_SECOND?: string;
    STANZA_BURST?: string;
    TURN_HOST?: string;
    TURN_PORT?: string;
    TURN_TLS_PORT?: string;
    TURN_TTL_SECONDS?: string;
    BRIDGES?: string;
    BRIDGE_PUBLIC_ORIGINS?: string;
    ALLOWED_ORIGINS?: string;
    ROOM_NEW_SESSIONS_PER_MINUTE?: string;
    ACCESS_LOG_RETENTION_DAYS?: string;
    ADMIN_TOKEN?: string;
    TURN_SECRET?: string;
    BRIDGE_SECRET?: string;
  }
}
