/**
 * The signaling bench's servers: Parley's room under `wrangler dev` (reached straight at the runtime's port, as a
 * deployment has no dev proxy, or through wrangler's proxy worker) and Debian's Prosody; plus the CPU time their
 * processes used (Linux /proc), so a round can report server CPU per delivery.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { startEdge, type EdgeHandle } from "../node/helpers/wrangler-dev";
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

const TICK_MS = 10; // USER_HZ = 100 on Linux

function statOf(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the parenthesised command name (which may contain spaces)
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** `root` and all its descendants. */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    const pid = Number(d);
    if (!Number.isInteger(pid)) continue;
    const f = statOf(pid);
    if (f) parent.set(pid, Number(f[1])); // field 4: ppid
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
}

export function cpuMsOf(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statOf(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]); // fields 14, 15: utime, stime
  }
  return ticks * TICK_MS;
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Loopback TCP ports a process listens on (/proc/net/tcp, matched through its socket fds). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        /* fd closed meanwhile */
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // f[1] local address hex ip:port, f[3] state (0A = LISTEN), f[9] inode
    if (f.length > 9 && f[3] === "0A" && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(":")[1]!, 16));
  }
  return ports;
}

/**
 * The runtime's own port under `wrangler dev`: wrangler runs its proxy worker in one workerd process (listening on
 * the public port) and the user worker in another; the latter's entry port answers /healthz.
 */
async function directPort(edge: EdgeHandle): Promise<number> {
  const workerds = processTree(edge.process.pid!).filter((p) => commOf(p) === "workerd");
  for (const pid of workerds) {
    const ports = listeningPorts(pid);
    if (ports.includes(edge.port)) continue; // the proxy
    for (const port of ports) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (r.ok && (await r.text()).includes("ok")) return port;
      } catch {
        /* not an HTTP port */
      }
    }
  }
  throw new Error("could not find the user worker's port behind wrangler dev's proxy");
}

export async function startRoomTarget(opts: { clients: number; via: "direct" | "proxy" }): Promise<Target> {
  const edge = await startEdge({
    vars: {
      // Measure the room server, not the per-connection limiter (defaults: 50/s, burst 200).
      STANZA_RATE_PER_SECOND: "10000",
      STANZA_BURST: "100000",
      MAX_OCCUPANTS: String(Math.max(20, opts.clients)),
    },
    timeoutMs: 120_000,
  });
  try {
    const base = opts.via === "proxy" ? edge.wsUrl : `ws://127.0.0.1:${await directPort(edge)}`;
    return {
      name: "room",
      label: `Parley RoomDO, wrangler dev (${opts.via === "proxy" ? "through wrangler's proxy worker" : "runtime's port, no dev proxy"})`,
      domain: "127.0.0.1",
      url: (room) => `${base}/xmpp-websocket/${room}`,
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
