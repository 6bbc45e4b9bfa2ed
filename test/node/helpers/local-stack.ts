/**
 * The README's local stack, as a black box: `node workers/scripts/dev.mjs` (what `npm start` runs: the edge on
 * wrangler dev, the bridge host, coturn) on free loopback ports, for tests that check the running system from outside.
 * Ready once the edge answers /healthz and (unless left out) the bridge's public and control listeners answer.
 * Stopped by its PID: dev.mjs stops its children on SIGTERM; whatever of its process tree is left after that is
 * killed by PID too.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { processTree } from "./bridge-strace";
import { freePort } from "./wrangler-dev";

export interface LocalStack {
  /** the edge: http://127.0.0.1:PORT */
  httpUrl: string;
  ports: { edge: number; bridge: number; bridgeControl: number; rtc: number; turn: number };
  /** the bridge's public listener (client WebSockets): ws://127.0.0.1:BRIDGE_PORT; its control API: http://… */
  bridgeWsUrl: string;
  bridgeControlUrl: string;
  process: ChildProcess;
  /** everything the stack printed so far */
  output(): string;
  /** the stack's processes now (dev.mjs and its descendants) with their command lines */
  processes(): { pid: number; cmdline: string }[];
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** start the bridge (default) or not (PARLEY_NO_BRIDGE=1) */
  bridge?: boolean;
  /** start coturn if installed (default) or not (PARLEY_NO_TURN=1) */
  turn?: boolean;
  /** more environment for dev.mjs */
  env?: Record<string, string>;
  timeoutMs?: number;
}

const ROOT = new URL("../../../", import.meta.url).pathname;

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

export async function startLocalStack(o: LocalStackOptions = {}): Promise<LocalStack> {
  const ports = { edge: await freePort(), bridge: await freePort(), bridgeControl: await freePort(), rtc: await freePort(), turn: await freePort() };
  const child = spawn(process.execPath, ["workers/scripts/dev.mjs"], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(ports.edge),
      BRIDGE_PORT: String(ports.bridge),
      BRIDGE_CONTROL_PORT: String(ports.bridgeControl),
      RTC_PORT: String(ports.rtc),
      TURN_PORT: String(ports.turn),
      ...(o.bridge === false ? { PARLEY_NO_BRIDGE: "1" } : {}),
      ...(o.turn === false ? { PARLEY_NO_TURN: "1" } : {}),
      NO_COLOR: "1",
      ...o.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  let exited = false;
  const exit = new Promise<void>((r) => child.once("exit", () => ((exited = true), r())));
  const httpUrl = `http://127.0.0.1:${ports.edge}`;
  const bridgeWsUrl = `ws://127.0.0.1:${ports.bridge}`;
  const bridgeControlUrl = `http://127.0.0.1:${ports.bridgeControl}`;
  /** every process of the stack, remembered so that stop() can reach those whose parent went first */
  const seen = new Set<number>();
  const processes = () => {
    const pids = child.pid && !exited ? processTree(child.pid) : [];
    for (const p of pids) seen.add(p);
    return pids.map((pid) => ({ pid, cmdline: cmdline(pid) })).filter((p) => p.cmdline !== "");
  };
  const stop = async () => {
    processes();
    if (!exited && child.pid) child.kill("SIGTERM");
    await Promise.race([exit, new Promise((r) => setTimeout(r, 10_000))]);
    for (const pid of seen) {
      try {
        if (cmdline(pid) !== "") process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  };
  const answers = async (url: string) => {
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + (o.timeoutMs ?? 240_000);
  for (;;) {
    processes();
    if (exited) throw new Error(`the local stack exited early:\n${out.slice(-4000)}`);
    const edge = await fetch(`${httpUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    const bridge = o.bridge === false || ((await answers(bridgeWsUrl.replace(/^ws/, "http"))) && (await answers(`${bridgeControlUrl}/metrics`)));
    if (edge && bridge) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the local stack did not become ready in time:\n${out.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { httpUrl, ports, bridgeWsUrl, bridgeControlUrl, process: child, output: () => out, processes, stop };
}
