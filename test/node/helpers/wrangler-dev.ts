/**
 * Start the real edge with `wrangler dev` on a free loopback port, for tests and benchmarks that drive it from Node.
 * Each instance persists its Durable Object state in its own temp dir so runs never share rooms.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const OFFLINE_ENV = {
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  WRANGLER_SEND_ERROR_REPORTS: "false",
} as const;

/**
 * Ports handed out below Linux's ephemeral range (32768–60999 by default, /proc/sys/net/ipv4/ip_local_port_range):
 * a port from that range, free when checked, can be taken as the local port of any outgoing connection (the edge,
 * Chromium, the bridge's own clients) before the server meant for it binds it, and the server then fails with
 * "address already in use". Below the range nothing takes a port by itself.
 */
const PORTS_FROM = 20_000;
const PORTS_TO = 32_000;
const handedOut = new Set<number>();

/** Can `port` be bound on 127.0.0.1 now, for TCP and for UDP (a bridge's RTC port listens on both)? */
function bindable(port: number): Promise<boolean> {
  const tcp = new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
  const udp = new Promise<boolean>((resolve) => {
    const s = createSocket("udp4");
    s.once("error", () => (s.close(), resolve(false)));
    s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
  return Promise.all([tcp, udp]).then(([t, u]) => t && u);
}

/** A loopback port free for TCP and UDP, outside the ephemeral range, not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORTS_FROM + Math.floor(Math.random() * (PORTS_TO - PORTS_FROM));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${PORTS_FROM} and ${PORTS_TO}`);
}

export interface EdgeHandle {
  port: number;
  /** http://IP:PORT (IP: 127.0.0.1 unless told) */
  httpUrl: string;
  /** ws://IP:PORT */
  wsUrl: string;
  process: ChildProcess;
  /** everything wrangler printed so far */
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Start `wrangler dev`. `vars` are passed with `--var KEY:VALUE` (ENVIRONMENT defaults to development); `args` are
 * appended as they are (e.g. `--assets DIR`). `ip`: the address to listen on (default 127.0.0.1; a test network
 * namespace's service address, helpers/netns.ts).
 * Resolves once /healthz answers.
 */
export async function startEdge(
  opts: { vars?: Record<string, string>; port?: number; cwd?: string; timeoutMs?: number; args?: string[]; ip?: string } = {},
): Promise<EdgeHandle> {
  const ip = opts.ip ?? "127.0.0.1";
  const port = opts.port ?? (await freePort());
  const persist = mkdtempSync(join(tmpdir(), "parley-edge-"));
  const vars = { ENVIRONMENT: "development", ...(opts.vars ?? {}) };
  const args = [
    "wrangler",
    "dev",
    "--ip",
    ip,
    "--port",
    String(port),
    "--persist-to",
    persist,
    "--inspector-port",
    String(await freePort()),
    "--log-level",
    "warn",
    "--show-interactive-dev-session=false",
  ];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  args.push(...(opts.args ?? []));
  const child = spawn("npx", args, {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...process.env, ...OFFLINE_ENV, CI: "true", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const httpUrl = `http://${ip}:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let exited = false;
  child.once("exit", () => (exited = true));
  for (;;) {
    if (exited) throw new Error(`wrangler dev exited early:\n${out}`);
    try {
      const r = await fetch(`${httpUrl}/healthz`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      killTree(child);
      throw new Error(`wrangler dev did not become ready in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port,
    httpUrl,
    wsUrl: `ws://${ip}:${port}`,
    process: child,
    output: () => out,
    stop: async () => {
      if (!exited) {
        const done = new Promise<void>((r) => child.once("exit", () => r()));
        killTree(child);
        await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
      }
      rmSync(persist, { recursive: true, force: true });
    },
  };
}

function killTree(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, "SIGTERM");
  } catch {
    /* already gone */
  }
}
