/**
 * Bridge host configuration: every env var the bridge reads, validated by one zod schema at startup.
 * Outside BRIDGE_ENV=development the BRIDGE_SECRET must be set, strong and not a development default.
 * In development it defaults to the edge's DEV_SECRETS.BRIDGE_SECRET so `npm run dev` + `npm run bridge` pair up.
 */
import { availableParallelism } from "node:os";
import { isIP } from "node:net";
import { z } from "zod";
import { DEV_SECRETS, formatIssues, StrongSecretSchema } from "../../contract/secrets";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The edge's rules for secrets (contract/secrets.ts), so a bridge refuses what the edge would refuse. */
const strongSecret = StrongSecretSchema;

const ip = z.string().refine((s) => isIP(s) !== 0, { message: "must be an IPv4 or IPv6 address" });

/** MAX_INCOMING_BITRATE's default, bits/s: a 720p camera (≈ 2.5 Mbit/s), a screen share (≈ 3) and a microphone. */
export const DEFAULT_MAX_INCOMING_BITRATE = 6_000_000;

const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const BridgeConfigSchema = z
  .object({
    BRIDGE_ENV: z.enum(["production", "development"]).default("production"),
    BRIDGE_SECRET: z.string().optional(),
    /** Address the public HTTP(S) listener (the client WebSocket only) binds to. */
    HTTP_HOST: z.string().min(1).default("0.0.0.0"),
    HTTP_PORT: int(0, 65535).default(4443),
    /**
     * Address of the second listener, for the edge's signed control API and GET /metrics: loopback by default; set a
     * private address (or one only the edge can reach) when the edge is elsewhere. Never the public listener.
     */
    CONTROL_HOST: z.string().min(1).default("127.0.0.1"),
    CONTROL_PORT: int(0, 65535).default(4444),
    /** Address the WebRTC (UDP+TCP) sockets bind to. */
    LISTEN_IP: ip.default("0.0.0.0"),
    /** IP or host name put in ICE candidates (the host's public address). Defaults to LISTEN_IP unless that is a wildcard. */
    ANNOUNCED_ADDRESS: z.string().min(1).optional(),
    /** RTC port of worker 0; worker i uses RTC_PORT + i (UDP and TCP). */
    RTC_PORT: int(1, 65535).default(40000),
    /** mediasoup workers (one per core by default). */
    WORKERS: int(1, 256).optional(),
    /** Optional TLS: both files, PEM. With them the server speaks https/wss. */
    TLS_CERT_FILE: z.string().min(1).optional(),
    TLS_KEY_FILE: z.string().min(1).optional(),
    /** The edge's base URL (for the signed `draining` event on shutdown). */
    EDGE_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** Browser-facing ws(s) base URL of this host, e.g. wss://bridge1.example.com (defaults to ws(s)://HTTP_HOST:PORT). */
    PUBLIC_WS_URL: z.url({ protocol: /^wss?$/ }).optional(),
    /**
     * This host's control base URL exactly as the edge's BRIDGES names it (defaults to http(s)://CONTROL_HOST:port).
     * It is the bridge's identity: its control key is derived from it (contract/signed-request.ts
     * bridgeControlKey), requests must be signed for its authority, and it is reported in `draining`.
     */
    PUBLIC_CONTROL_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** Open TCP connections to the public listener from one IP address, at most (more are dropped at once). */
    MAX_CONNECTIONS_PER_ADDRESS: int(1, 100_000).default(50),
    /**
     * Media a client may send the bridge, bits/s per WebRTC transport (mediasoup `setMaxIncomingBitrate`: the bridge's
     * bandwidth estimate given to the sender is capped there).
     */
    MAX_INCOMING_BITRATE: int(100_000, 1_000_000_000).default(DEFAULT_MAX_INCOMING_BITRATE),
    MAX_PEERS_PER_ROOM: int(2, 1000).default(50),
    /** How long the first viewer of a new camera waits at most for the others, so one key frame starts them all
     *  (room/first-key-frame.ts); 0 turns that off. */
    FIRST_KEY_FRAME_HOLD_MS: int(0, 5000).default(300),
    LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  })
  .superRefine((c, ctx) => {
    if (!!c.TLS_CERT_FILE !== !!c.TLS_KEY_FILE) {
      ctx.addIssue({ code: "custom", path: ["TLS_CERT_FILE"], message: "TLS_CERT_FILE and TLS_KEY_FILE go together" });
    }
    if (c.BRIDGE_ENV !== "development") {
      const r = strongSecret.safeParse(c.BRIDGE_SECRET ?? "");
      if (!r.success) {
        ctx.addIssue({ code: "custom", path: ["BRIDGE_SECRET"], message: `BRIDGE_SECRET ${r.error.issues[0]?.message}` });
      }
      if (!c.ANNOUNCED_ADDRESS && (c.LISTEN_IP === "0.0.0.0" || c.LISTEN_IP === "::")) {
        ctx.addIssue({
          code: "custom",
          path: ["ANNOUNCED_ADDRESS"],
          message: "ANNOUNCED_ADDRESS is required when LISTEN_IP is a wildcard (browsers need a reachable address)",
        });
      }
    }
  })
  .transform((c) => {
    const tls = !!c.TLS_CERT_FILE;
    const publicHost = c.ANNOUNCED_ADDRESS ?? (c.LISTEN_IP === "0.0.0.0" || c.LISTEN_IP === "::" ? "127.0.0.1" : c.LISTEN_IP);
    const httpHostForUrl =
      c.HTTP_HOST === "0.0.0.0" || c.HTTP_HOST === "::" ? publicHost : c.HTTP_HOST;
    const controlHostForUrl = c.CONTROL_HOST === "0.0.0.0" || c.CONTROL_HOST === "::" ? publicHost : c.CONTROL_HOST;
    const hostPart = (h: string) => (isIP(h) === 6 ? `[${h}]` : h);
    return {
      environment: c.BRIDGE_ENV,
      secret: c.BRIDGE_SECRET && c.BRIDGE_SECRET.length > 0 ? c.BRIDGE_SECRET : DEV_SECRETS.BRIDGE_SECRET,
      httpHost: c.HTTP_HOST,
      httpPort: c.HTTP_PORT,
      controlHost: c.CONTROL_HOST,
      controlPort: c.CONTROL_PORT,
      listenIp: c.LISTEN_IP,
      announcedAddress: publicHost,
      rtcPort: c.RTC_PORT,
      workers: c.WORKERS ?? availableParallelism(),
      tls: tls ? { certFile: c.TLS_CERT_FILE as string, keyFile: c.TLS_KEY_FILE as string } : undefined,
      edgeUrl: c.EDGE_URL?.replace(/\/+$/, ""),
      /** undefined => derived from the bound port once listening */
      publicWsUrl: c.PUBLIC_WS_URL?.replace(/\/+$/, ""),
      publicControlUrl: c.PUBLIC_CONTROL_URL?.replace(/\/+$/, ""),
      urlHost: hostPart(httpHostForUrl),
      controlUrlHost: hostPart(controlHostForUrl),
      maxConnectionsPerAddress: c.MAX_CONNECTIONS_PER_ADDRESS,
      maxIncomingBitrate: c.MAX_INCOMING_BITRATE,
      maxPeersPerRoom: c.MAX_PEERS_PER_ROOM,
      firstKeyFrameHoldMs: c.FIRST_KEY_FRAME_HOLD_MS,
      logLevel: c.LOG_LEVEL,
    };
  });

export type BridgeConfig = z.output<typeof BridgeConfigSchema>;

class BridgeConfigError extends Error {
  override name = "BridgeConfigError";
}

export function loadBridgeConfig(env: Record<string, string | undefined>): BridgeConfig {
  // Empty strings count as unset (systemd EnvironmentFile / docker -e VAR= ).
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const r = BridgeConfigSchema.safeParse(clean);
  if (!r.success) {
    throw new BridgeConfigError("invalid bridge configuration: " + formatIssues(r.error));
  }
  return r.data;
}
