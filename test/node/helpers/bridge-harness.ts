/**
 * Start the real bridge host (bridge-host/src/main.ts, real mediasoup worker) as a child process on free loopback
 * ports, plus signed-request helpers for its control API.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { bridgeControlKey, signRequest } from "../../../contract/signed-request";
import { freePort } from "./wrangler-dev";

export interface BridgeHandle {
  process: ChildProcess;
  secret: string;
  /** the control listener's base URL (the bridge's identity; its key is bridgeControlKey(secret, controlUrl)) */
  controlUrl: string;
  /** this bridge's control key */
  controlKey: string;
  wsBaseUrl: string;
  rtcPort: number;
  output: () => string;
  /** signed control call (with this bridge's key, unless `key` is given) */
  call: (method: string, path: string, body?: unknown, opts?: { key?: string; nowMs?: number }) => Promise<Response>;
  stop: () => Promise<number | null>;
}

export const strongSecret = () => "test-" + randomBytes(24).toString("hex");

/** A free port for RTC that is free for UDP too is not guaranteed by a TCP probe; retry a few times on conflict. */
export async function startBridge(opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<BridgeHandle> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastErr = err;
      if (!String(err).includes("cannot listen on RTC port")) throw err;
    }
  }
  throw lastErr;
}

async function startOnce(opts: { env?: Record<string, string>; timeoutMs?: number }): Promise<BridgeHandle> {
  const secret = opts.env?.BRIDGE_SECRET ?? strongSecret();
  const rtcPort = await freePort();
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    BRIDGE_ENV: "production",
    BRIDGE_SECRET: secret,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: "0",
    CONTROL_HOST: "127.0.0.1",
    CONTROL_PORT: "0",
    LISTEN_IP: "127.0.0.1",
    ANNOUNCED_ADDRESS: "127.0.0.1",
    RTC_PORT: String(rtcPort),
    WORKERS: "1",
    ...opts.env,
  };
  const child = spawn(process.execPath, ["--import", "tsx", "bridge-host/src/main.ts"], {
    cwd: new URL("../../../", import.meta.url).pathname,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const listening = await new Promise<{ controlUrl: string; wsBaseUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bridge did not start in time:\n${out}`)), opts.timeoutMs ?? 60_000);
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (line) => {
      out += line + "\n";
      try {
        const j = JSON.parse(line) as { event?: string; controlUrl: string; wsBaseUrl: string };
        if (j.event === "listening") {
          clearTimeout(timer);
          resolve(j);
        }
      } catch {
        /* not JSON */
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`bridge exited with ${code}:\n${out}`));
    });
  });
  const controlKey = await bridgeControlKey(secret, listening.controlUrl);
  const call: BridgeHandle["call"] = async (method, path, body, o = {}) => {
    const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
    const headers = await signRequest(o.key ?? controlKey, method, new URL(listening.controlUrl).host, path, text, o.nowMs);
    return fetch(listening.controlUrl + path, {
      method,
      headers: { ...headers, ...(text ? { "content-type": "application/json" } : {}) },
      body: text || undefined,
    });
  };
  return {
    process: child,
    secret,
    controlUrl: listening.controlUrl,
    controlKey,
    wsBaseUrl: listening.wsBaseUrl,
    rtcPort,
    output: () => out,
    call,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Wait until `pred()` returns a truthy value (polling), or fail after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, pred: () => Promise<T> | T, timeoutMs = 45_000, everyMs = 250): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await pred();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
