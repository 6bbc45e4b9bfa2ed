/**
 * The edge's configuration: every env var the Worker and the room Durable Object read, validated by one zod
 * schema. Secrets (ADMIN_TOKEN, TURN_SECRET, BRIDGE_SECRET) come from Worker secrets / `.dev.vars` only.
 * Outside ENVIRONMENT=development, weak or missing secrets are refused (see SECURITY.md).
 */
import { z } from "zod";
import { DEV_SECRETS, formatIssues, StrongSecretSchema } from "../contract/secrets";

const int = (min: number, max: number, dflt: number) =>
  z.coerce.number().int().min(min).max(max).default(dflt);

const bridgeUrl = z.url({ protocol: /^https?$/ });

export const ConfigSchema = z
  .object({
    ENVIRONMENT: z.enum(["production", "development"]).default("production"),
    /** XMPP domain; defaults to the request's host name. */
    XMPP_DOMAIN: z
      .string()
      .regex(/^[a-z0-9.-]{1,253}$/i, "must be a host name")
      .optional(),
    MAX_OCCUPANTS: int(2, 1000, 20),
    MAX_STANZA_BYTES: int(1024, 1024 * 1024, 64 * 1024),
    /** Per-connection stanza rate limit (token bucket): sustained rate per second and burst size. */
    STANZA_RATE_PER_SECOND: int(1, 10000, 50),
    STANZA_BURST: int(1, 100000, 200),
    TURN_HOST: z.string().min(1).optional(),
    TURN_PORT: int(1, 65535, 3478),
    /** coturn's TLS listener (`tls-listening-port`); set = XEP-0215 also offers `turns` (RFC 7065) on it. */
    TURN_TLS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
    TURN_TTL_SECONDS: int(60, 7 * 24 * 3600, 24 * 3600),
    /** Comma-separated base URLs of bridge hosts' control API, e.g. "https://bridge1.example:4443". */
    BRIDGES: z
      .string()
      .default("")
      .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(bridgeUrl)),
    /** Comma-separated browser-facing bridge origins (https:// or wss://) when they differ from BRIDGES; added to CSP connect-src. */
    BRIDGE_PUBLIC_ORIGINS: z
      .string()
      .default("")
      .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(z.url({ protocol: /^(https?|wss?)$/ }))),
    /**
     * Comma-separated browser origins besides the edge's own that may open signaling sessions and call /api/*
     * (middleware/origin-check.ts), e.g. "https://meet.example". Origins only: scheme://host[:port], no path.
     */
    ALLOWED_ORIGINS: z
      .string()
      .default("")
      .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
      .pipe(
        z.array(
          z.url({ protocol: /^https?$/ }).transform((u, ctx) => {
            const o = new URL(u).origin;
            if (o !== u.replace(/\/$/, "")) ctx.addIssue({ code: "custom", message: "must be an origin (scheme://host[:port]) with no path" });
            return o;
          }),
        ),
      ),
    /** New sessions one room object admits per minute, from all networks together (features/session-admission.ts). */
    ROOM_NEW_SESSIONS_PER_MINUTE: int(10, 100_000, 120),
    /** Access-log retention in days: 0 disables logging, 7 is the maximum (PRIVACY.md). */
    ACCESS_LOG_RETENTION_DAYS: int(0, 7, 7),
    ADMIN_TOKEN: z.string().optional(),
    TURN_SECRET: z.string().optional(),
    BRIDGE_SECRET: z.string().optional(),
  })
  .transform((c, ctx) => {
    const out = { ...c } as typeof c & { ADMIN_TOKEN: string; TURN_SECRET: string; BRIDGE_SECRET: string };
    for (const k of ["ADMIN_TOKEN", "TURN_SECRET", "BRIDGE_SECRET"] as const) {
      const v = c[k];
      if (c.ENVIRONMENT === "development") {
        out[k] = v && v.length > 0 ? v : DEV_SECRETS[k];
        continue;
      }
      const r = StrongSecretSchema.safeParse(v);
      if (!r.success) {
        ctx.addIssue({ code: "custom", path: [k], message: `${k} ${r.error.issues[0]?.message ?? "is invalid"}` });
      } else out[k] = r.data;
    }
    // One secret per purpose: the TURN secret is shared with coturn and the bridge secret with bridge hosts,
    // so neither may double as the admin token (or as each other).
    if (c.ENVIRONMENT !== "development") {
      const seen = new Map<string, string>();
      for (const k of ["ADMIN_TOKEN", "TURN_SECRET", "BRIDGE_SECRET"] as const) {
        const v = c[k];
        if (!v) continue;
        const other = seen.get(v);
        if (other) ctx.addIssue({ code: "custom", path: [k], message: `${k} must differ from ${other}` });
        else seen.set(v, k);
      }
    }
    return out;
  });

export type Config = z.output<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

const cache = new WeakMap<object, Config>();

/** Parse (once per env object) and return the config, or throw ConfigError with every problem listed. */
export function loadConfig(env: object): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  const r = ConfigSchema.safeParse(env);
  if (!r.success) {
    throw new ConfigError("invalid configuration: " + formatIssues(r.error));
  }
  cache.set(env, r.data);
  return r.data;
}
