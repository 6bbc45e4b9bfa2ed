/**
 * coturn configuration: the env vars `npm run turn` (and the tests) read, validated by one zod schema, and the
 * pure rendering of `turnserver.conf.template` into a coturn config file.
 *
 * The TURN secret is the edge's TURN_SECRET: the room Durable Object mints XEP-0215 credentials with it
 * (`mintTurnCredentials`, coturn `use-auth-secret` / draft-uberti-behave-turn-rest-00 §2.2).
 * Outside development it must be strong and not a development default (contract/secrets.ts, the same rule as the edge).
 */
import { accessSync, constants, statSync } from "node:fs";
import { isIP } from "node:net";
import { z } from "zod";
import { DEV_SECRETS, formatIssues, StrongSecretSchema } from "../../contract/secrets";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** One config-file value: printable, no whitespace/newlines/`#`, so it can never inject a directive. */
const token = (what: string) =>
  z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, `${what} must be printable ASCII without spaces`)
    .refine((s) => !s.includes("#"), `${what} must not contain '#'`);

const ip = z.string().refine((s) => isIP(s) !== 0, { message: "must be an IPv4 or IPv6 address" });

const list = (item: z.ZodType<string, string>) =>
  z
    .string()
    .default("")
    .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(item));

/** "ip" or "ip-ip" (same family), coturn's allowed-peer-ip syntax. */
const ipOrRange = z.string().refine(
  (s) => {
    const parts = s.split("-");
    if (parts.length === 1) return isIP(parts[0]!) !== 0;
    return parts.length === 2 && isIP(parts[0]!) !== 0 && isIP(parts[0]!) === isIP(parts[1]!);
  },
  { message: "must be an IP address or a range 'first-last' of one family" },
);

/** coturn external-ip: "public" or "public/private". */
const externalIp = z.string().refine(
  (s) => {
    const parts = s.split("/");
    return parts.length <= 2 && parts.every((p) => isIP(p) !== 0);
  },
  { message: "must be 'PUBLIC_IP' or 'PUBLIC_IP/PRIVATE_IP'" },
);

const flag = z
  .enum(["0", "1", "true", "false", ""])
  .default("0")
  .transform((v) => v === "1" || v === "true");

/** RFC 8656 §3.1 / RFC 7065: the default port of `turns:`. */
const DEFAULT_TLS_PORT = 5349;

/** Why coturn could not load this PEM file (it runs as the same user), or undefined when it is a readable file. */
function unreadable(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return "is not a regular file";
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable" : `cannot be read (${code ?? "error"})`;
  }
}

/** The edge's rules for TURN_SECRET (contract/secrets.ts), so coturn refuses what the edge would refuse. */
const strongSecret = StrongSecretSchema;

const LOG_MODES = ["stdout", "off"] as const;
type LogMode = (typeof LOG_MODES)[number];

const CoturnEnvSchema = z
  .object({
    /** production | development; falls back to BRIDGE_ENV (same host), then production. */
    TURN_ENV: z.enum(["production", "development"]).optional(),
    BRIDGE_ENV: z.enum(["production", "development"]).optional(),
    /** Shared with the edge (XEP-0215 credentials). Required outside development. */
    TURN_SECRET: z.string().optional(),
    /** Long-term-credential realm (RFC 8489 §9.2); clients learn it from the 401. */
    TURN_REALM: token("TURN_REALM").default("parley"),
    /** Comma list of listener IPs; empty = every interface. */
    TURN_LISTEN_IPS: list(ip),
    TURN_PORT: int(1, 65535).default(3478),
    /** TLS/DTLS listener port (default 5349, RFC 8656 §3.1; 443 for TLS-only networks); needs TURN_TLS_CERT/KEY. */
    TURN_TLS_PORT: int(1, 65535).optional(),
    /** PEM files (readable regular files); both or neither. With them coturn also serves TLS and DTLS on TURN_TLS_PORT. */
    TURN_TLS_CERT: token("TURN_TLS_CERT").optional(),
    TURN_TLS_KEY: token("TURN_TLS_KEY").optional(),
    /** Comma list of relay IPs (the local addresses relayed packets leave from); empty = coturn's choice. */
    TURN_RELAY_IPS: list(ip),
    /** Comma list of "PUBLIC" or "PUBLIC/PRIVATE" for a server behind 1:1 NAT (e.g. a cloud VM). */
    TURN_EXTERNAL_IPS: list(externalIp),
    TURN_MIN_PORT: int(1024, 65535).default(49152),
    TURN_MAX_PORT: int(1024, 65535).default(65535),
    /** Concurrent allocations per signaling session (its REST username): a 20-person mesh with udp, tcp and turns uses 57. */
    TURN_USER_QUOTA: int(0, 100000).default(64),
    TURN_TOTAL_QUOTA: int(0, 1000000).default(4000),
    /** Per-session bytes/second cap (each direction); 0 = unlimited. */
    TURN_MAX_BPS: int(0, 1_000_000_000).default(0),
    /** Explicit peer allowances (IP or range), checked before the denied ranges. */
    TURN_ALLOWED_PEER_IPS: list(ipOrRange),
    /** Local development only: let clients relay to 127.0.0.1 (e.g. a bridge on loopback). */
    TURN_ALLOW_LOOPBACK_PEERS: flag,
    /** stdout: coturn's (non-verbose) log, IP addresses masked by the launcher; off: nothing at all. */
    TURN_LOG: z.enum(LOG_MODES).default("stdout"),
  })
  .superRefine((c, ctx) => {
    const env = c.TURN_ENV ?? c.BRIDGE_ENV ?? "production";
    if (env !== "development") {
      const r = strongSecret.safeParse(c.TURN_SECRET ?? "");
      if (!r.success) {
        ctx.addIssue({
          code: "custom",
          path: ["TURN_SECRET"],
          message: `TURN_SECRET is required: ${r.error.issues[0]?.message ?? "invalid"} (the edge's TURN_SECRET)`,
        });
      }
      if (c.TURN_ALLOW_LOOPBACK_PEERS) {
        ctx.addIssue({
          code: "custom",
          path: ["TURN_ALLOW_LOOPBACK_PEERS"],
          message: "TURN_ALLOW_LOOPBACK_PEERS is for local development only (set TURN_ENV=development)",
        });
      }
    }
    if (c.TURN_SECRET !== undefined && c.TURN_SECRET !== "" && !token("TURN_SECRET").safeParse(c.TURN_SECRET).success) {
      ctx.addIssue({ code: "custom", path: ["TURN_SECRET"], message: "TURN_SECRET must be printable ASCII without spaces or '#'" });
    }
    if (!!c.TURN_TLS_CERT !== !!c.TURN_TLS_KEY) {
      ctx.addIssue({ code: "custom", path: ["TURN_TLS_CERT"], message: "TURN_TLS_CERT and TURN_TLS_KEY go together" });
    }
    if (c.TURN_TLS_PORT !== undefined && !(c.TURN_TLS_CERT && c.TURN_TLS_KEY)) {
      ctx.addIssue({
        code: "custom",
        path: ["TURN_TLS_PORT"],
        message: "TURN_TLS_PORT needs TURN_TLS_CERT and TURN_TLS_KEY (PEM certificate chain and private key)",
      });
    }
    for (const k of ["TURN_TLS_CERT", "TURN_TLS_KEY"] as const) {
      const path = c[k];
      const problem = path === undefined ? undefined : unreadable(path);
      if (problem) ctx.addIssue({ code: "custom", path: [k], message: `${k} ${path} ${problem}` });
    }
    if (c.TURN_MIN_PORT > c.TURN_MAX_PORT) {
      ctx.addIssue({ code: "custom", path: ["TURN_MIN_PORT"], message: "TURN_MIN_PORT must be <= TURN_MAX_PORT" });
    }
    const inRange = (p: number) => p >= c.TURN_MIN_PORT && p <= c.TURN_MAX_PORT;
    if (inRange(c.TURN_PORT)) {
      ctx.addIssue({ code: "custom", path: ["TURN_PORT"], message: "TURN_PORT must lie outside the relay port range" });
    }
    const tlsPort = c.TURN_TLS_PORT ?? DEFAULT_TLS_PORT;
    if (c.TURN_TLS_CERT && inRange(tlsPort)) {
      ctx.addIssue({ code: "custom", path: ["TURN_TLS_PORT"], message: "TURN_TLS_PORT must lie outside the relay port range" });
    }
    if (c.TURN_TLS_CERT && tlsPort === c.TURN_PORT) {
      ctx.addIssue({ code: "custom", path: ["TURN_TLS_PORT"], message: "TURN_TLS_PORT must differ from TURN_PORT" });
    }
  })
  .transform((c) => {
    const environment = c.TURN_ENV ?? c.BRIDGE_ENV ?? "production";
    return {
      environment,
      secret: c.TURN_SECRET && c.TURN_SECRET.length > 0 ? c.TURN_SECRET : DEV_SECRETS.TURN_SECRET,
      realm: c.TURN_REALM,
      listeningIps: c.TURN_LISTEN_IPS,
      port: c.TURN_PORT,
      tls: c.TURN_TLS_CERT && c.TURN_TLS_KEY ? { cert: c.TURN_TLS_CERT, key: c.TURN_TLS_KEY, port: c.TURN_TLS_PORT ?? DEFAULT_TLS_PORT } : undefined,
      relayIps: c.TURN_RELAY_IPS,
      externalIps: c.TURN_EXTERNAL_IPS,
      minPort: c.TURN_MIN_PORT,
      maxPort: c.TURN_MAX_PORT,
      userQuota: c.TURN_USER_QUOTA,
      totalQuota: c.TURN_TOTAL_QUOTA,
      maxBps: c.TURN_MAX_BPS,
      allowedPeerIps: c.TURN_ALLOWED_PEER_IPS,
      allowLoopbackPeers: c.TURN_ALLOW_LOOPBACK_PEERS,
      log: c.TURN_LOG,
    };
  });

export type CoturnConfig = z.output<typeof CoturnEnvSchema>;

export class CoturnConfigError extends Error {
  override name = "CoturnConfigError";
}

/** Parse env (e.g. process.env) or throw CoturnConfigError listing every problem. */
export function loadCoturnConfig(env: Record<string, string | undefined>): CoturnConfig {
  const r = CoturnEnvSchema.safeParse(env);
  if (!r.success) {
    throw new CoturnConfigError("invalid coturn configuration: " + formatIssues(r.error));
  }
  return r.data;
}

/** Paths only known at launch time (temp dir per instance). */
export interface RuntimePaths {
  pidfile: string;
}

/**
 * Render the template. Pure: same inputs, same text. Throws if the template has a placeholder this
 * renderer does not know, or if one of ours is missing (template and renderer must stay in step).
 */
export function renderTurnserverConf(template: string, cfg: CoturnConfig, paths: RuntimePaths): string {
  const lines = (key: string, values: readonly string[]) => values.map((v) => `${key}=${v}`);
  const blocks: Record<string, string[]> = {
    LISTENING_IPS: lines("listening-ip", cfg.listeningIps),
    TLS: cfg.tls
      ? [`tls-listening-port=${cfg.tls.port}`, `cert=${cfg.tls.cert}`, `pkey=${cfg.tls.key}`]
      : ["no-tls", "no-dtls"],
    RELAY_IPS: lines("relay-ip", cfg.relayIps),
    EXTERNAL_IPS: lines("external-ip", cfg.externalIps),
    ALLOWED_PEERS: [
      ...(cfg.allowLoopbackPeers
        ? ["# TURN_ALLOW_LOOPBACK_PEERS=1 (development only)", "allow-loopback-peers", "allowed-peer-ip=127.0.0.1"]
        : []),
      ...lines("allowed-peer-ip", cfg.allowedPeerIps),
    ],
    // log-file=stdout: coturn's log goes to our pipe only (no log file, no syslog);
    // off: /dev/null and nothing on stdout.
    LOG: cfg.log === "stdout" ? ["log-file=stdout", "simple-log"] : ["log-file=/dev/null", "simple-log", "no-stdout-log"],
  };
  const values: Record<string, string> = {
    LISTENING_PORT: String(cfg.port),
    MIN_PORT: String(cfg.minPort),
    MAX_PORT: String(cfg.maxPort),
    STATIC_AUTH_SECRET: cfg.secret,
    REALM: cfg.realm,
    USER_QUOTA: String(cfg.userQuota),
    TOTAL_QUOTA: String(cfg.totalQuota),
    MAX_BPS: String(cfg.maxBps),
    PIDFILE: paths.pidfile,
  };
  const used = new Set<string>();
  const out = template
    .split("\n")
    .flatMap((line) => {
      const block = /^@@([A-Z_]+)@@$/.exec(line.trim());
      if (block) {
        const name = block[1]!;
        const b = blocks[name];
        if (!b) throw new Error(`turnserver.conf.template: unknown block @@${name}@@`);
        used.add(name);
        return b;
      }
      if (line.trimStart().startsWith("#")) return [line]; // comments are copied verbatim
      return [
        line.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
          const v = values[name];
          if (v === undefined) throw new Error(`turnserver.conf.template: unknown value {{${name}}}`);
          used.add(name);
          return v;
        }),
      ];
    })
    .join("\n");
  const missing = [...Object.keys(blocks), ...Object.keys(values)].filter((k) => !used.has(k));
  if (missing.length > 0) throw new Error(`turnserver.conf.template: placeholders not used: ${missing.join(", ")}`);
  return out;
}
