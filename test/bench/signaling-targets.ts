/**
 * The signaling bench's servers: Parley's room in the Workers runtime, and Debian's Prosody; plus the CPU time their
 * processes used (Linux /proc), so a round can report server CPU per delivery.
 *
 * The room runs the bundle `wrangler deploy` would upload, with the bindings and flags of wrangler.toml (wrangler's
 * own translation, `unstable_getMiniflareWorkerOptions`), in workerd through Miniflare, and is reached in one of three
 * ways (`via`):
 *  - `worker`: a socket straight to the Worker (Miniflare's `unsafeDirectSockets`), as a deployment's visitors reach
 *    it: the Worker answers the upgrade itself, so its compatibility flags (no WebSocket compression) decide;
 *  - `entry`: Miniflare's entry worker first, as `wrangler dev`'s runtime port does (it adds a hop to every request
 *    and negotiates permessage-deflate itself, whatever the Worker's flags);
 *  - `proxy`: `wrangler dev`'s public port, which adds wrangler's proxy worker in a second workerd process.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { commOf, cpuMsOf, processTree } from "../node/helpers/proc";
import { startEdge } from "../node/helpers/wrangler-dev";
import { startProsody, type ProsodyHandle } from "./prosody/start";

export interface Target {
  name: "room" | "prosody";
  label: string;
  domain: string;
  /** WebSocket URL for a room (Prosody: one endpoint for all rooms) */
  url(room: string): string;
  /** server CPU time so far, ms (user + system of every server process) */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** The room's vars for the bench: it measures the room server, not the per-connection limiter (50/s, burst 200). */
const benchVars = (clients: number) => ({
  STANZA_RATE_PER_SECOND: "10000",
  STANZA_BURST: "100000",
  MAX_OCCUPANTS: String(Math.max(20, clients)),
});

export type RoomVia = "worker" | "entry" | "proxy";

export async function startRoomTarget(opts: { clients: number; via: RoomVia }): Promise<Target> {
  return opts.via === "proxy" ? startRoomWranglerDev(opts) : startRoomMiniflare({ clients: opts.clients, via: opts.via });
}

const WRANGLER_ENV = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  WRANGLER_SEND_ERROR_REPORTS: "false",
};

async function startRoomMiniflare(opts: { clients: number; via: "worker" | "entry" }): Promise<Target> {
  const out = mkdtempSync(join(tmpdir(), "parley-bench-worker-"));
  // the bundle `wrangler deploy` uploads (no web assets: signaling does not serve them)
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", out], { env: WRANGLER_ENV, stdio: "ignore" });
  const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
  const { assets: _assets, ...options } = workerOptions;
  const mf = new Miniflare({
    ...options,
    name: "parley",
    modules: true,
    scriptPath: join(out, "index.js"),
    modulesRoot: out,
    bindings: { ...options.bindings, ENVIRONMENT: "development", ...benchVars(opts.clients) },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    durableObjectsPersist: false,
  });
  try {
    const base = opts.via === "worker" ? await mf.unsafeGetDirectURL("parley") : await mf.ready;
    const ws = base.href.replace(/^http/, "ws").replace(/\/$/, "");
    const workerd = () => processTree(process.pid).filter((p) => commOf(p) === "workerd");
    return {
      name: "room",
      label: `Parley RoomDO in workerd (Miniflare), ${opts.via === "worker" ? "reached straight at the Worker, as deployed" : "through Miniflare's entry worker"}`,
      domain: "127.0.0.1",
      url: (room) => `${ws}/xmpp-websocket/${room}`,
      cpuMs: () => cpuMsOf(workerd().flatMap((p) => processTree(p))),
      stop: async () => {
        await mf.dispose();
        rmSync(out, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await mf.dispose();
    rmSync(out, { recursive: true, force: true });
    throw e;
  }
}

async function startRoomWranglerDev(opts: { clients: number }): Promise<Target> {
  const edge = await startEdge({
    vars: benchVars(opts.clients),
    timeoutMs: 120_000,
  });
  try {
    return {
      name: "room",
      label: "Parley RoomDO, wrangler dev (through wrangler's proxy worker)",
      domain: "127.0.0.1",
      url: (room) => `${edge.wsUrl}/xmpp-websocket/${room}`,
      cpuMs: () => cpuMsOf(processTree(edge.process.pid!)),
      stop: () => edge.stop(),
    };
  } catch (e) {
    await edge.stop();
    throw e;
  }
}

export async function startProsodyTarget(): Promise<Target> {
  const p: ProsodyHandle = await startProsody({ logLevel: "error" });
  return {
    name: "prosody",
    label: "Prosody 0.12 (Debian, mod_websocket + MUC, epoll, Nagle off)",
    domain: p.domain,
    url: () => p.wsUrl,
    cpuMs: () => cpuMsOf(processTree(p.process.pid!)),
    stop: () => p.stop(),
  };
}

/** An already running server (`--url`): no CPU figures. */
export function externalTarget(url: string, domain: string): Target {
  return {
    name: "room",
    label: url,
    domain,
    url: () => url,
    cpuMs: () => NaN,
    stop: async () => {},
  };
}
