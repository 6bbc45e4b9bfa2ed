/**
 * Starts coturn (`turnserver`, Debian package `coturn`) with a config rendered from turnserver.conf.template,
 * used by `npm run turn` (main.ts) and by the tests.
 *
 * Each instance gets a private temp dir (0700) holding the rendered config (0600: it contains the secret) and
 * the pid file; coturn runs with that dir as cwd, and the dir is removed on stop. Readiness = a STUN Binding
 * answered on the UDP listener. coturn's log lines pass through `redactAddresses` before anyone sees them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isIP } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { renderTurnserverConf, type CoturnConfig } from "./config";
import { redactAddresses } from "./log-redact";
import { stunBindingUdp } from "./stun-probe";

export const TEMPLATE_PATH = fileURLToPath(new URL("./turnserver.conf.template", import.meta.url));

export interface StartOptions {
  /** turnserver binary (default: `turnserver` on PATH). */
  binary?: string;
  /** Receives every coturn log line, IP addresses already masked. Default: stderr with a "[coturn] " prefix. */
  onLog?: (line: string) => void;
  /** How long to wait for the STUN probe to succeed (default 30 s: generous for a loaded machine). */
  readyTimeoutMs?: number;
}

export interface CoturnHandle {
  pid: number;
  /** Address the readiness probe used (a listener address). */
  host: string;
  port: number;
  /** The private temp dir with the config and pid file (removed by stop()). */
  dir: string;
  configPath: string;
  /** Every (masked) log line so far. */
  output: () => string[];
  /** Resolves with the exit code once coturn has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 5 s; removes the temp dir. Idempotent. */
  stop: () => Promise<void>;
}

export class CoturnStartError extends Error {
  override name = "CoturnStartError";
}

/** The address to probe: the first listener, or loopback when coturn listens on every interface. */
export function probeHost(cfg: CoturnConfig): string {
  const first = cfg.listeningIps[0];
  if (!first) return "127.0.0.1";
  if (first === "0.0.0.0") return "127.0.0.1";
  if (first === "::") return "::1";
  return first;
}

function checkReadable(what: string, path: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new CoturnStartError(`${what} ${path} is not a readable file`);
  }
}

export async function startCoturn(cfg: CoturnConfig, opts: StartOptions = {}): Promise<CoturnHandle> {
  if (cfg.tls) {
    checkReadable("TURN_TLS_CERT", cfg.tls.cert);
    checkReadable("TURN_TLS_KEY", cfg.tls.key);
  }
  const template = readFileSync(TEMPLATE_PATH, "utf8");
  const dir = mkdtempSync(join(tmpdir(), "parley-coturn-"));
  const configPath = join(dir, "turnserver.conf");
  try {
    writeFileSync(configPath, renderTurnserverConf(template, cfg, { pidfile: join(dir, "turnserver.pid") }), { mode: 0o600 });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const lines: string[] = [];
  const onLog = opts.onLog ?? ((l: string) => process.stderr.write(`[coturn] ${l}\n`));
  let child: ChildProcess;
  try {
    child = spawn(opts.binary ?? "turnserver", ["-c", configPath], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (raw) => {
      const line = redactAddresses(raw);
      lines.push(line);
      if (lines.length > 2000) lines.splice(0, lines.length - 2000);
      onLog(line);
    });
  }
  let exitCode: number | null | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once("error", (e) => {
      spawnError = e;
      exitCode = null;
      resolve(null);
    });
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal ? null : 0);
      resolve(exitCode);
    });
  });

  // If this Node process exits without stop() (crash, process.exit), do not leave coturn running.
  const killOnExit = () => {
    if (exitCode === undefined) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", killOnExit);
  void exited.then(() => process.off("exit", killOnExit));

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (exitCode === undefined) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    })());

  const host = probeHost(cfg);
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exitCode !== undefined) {
      await stop();
      const why = spawnError
        ? (spawnError as NodeJS.ErrnoException).code === "ENOENT"
          ? `${opts.binary ?? "turnserver"} not found: install coturn (apt-get install coturn)`
          : spawnError.message
        : `exited with code ${exitCode}`;
      throw new CoturnStartError(`coturn did not start: ${why}\n${lines.slice(-30).join("\n")}`);
    }
    if (await stunBindingUdp(host, cfg.port, 500)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new CoturnStartError(
        `coturn did not answer STUN on ${isIP(host) === 6 ? `[${host}]` : host}:${cfg.port} in time\n${lines.slice(-30).join("\n")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    pid: child.pid!,
    host,
    port: cfg.port,
    dir,
    configPath,
    output: () => [...lines],
    exited,
    stop,
  };
}
