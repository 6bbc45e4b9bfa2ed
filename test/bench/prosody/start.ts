/**
 * Start Debian's Prosody (0.12) as a child process with test/bench/prosody/prosody.cfg.lua rendered into a temp
 * dir: loopback only, free port, anonymous login, WebSocket, MUC on conference.<domain>, XEP-0215 TURN credentials.
 * It is the behaviour reference for the interop suite (TARGET=prosody) and the comparison point of the signaling
 * benchmark (`npm run bench:signaling` runs it next to the room).
 *
 * CLI (exploration): `npx tsx test/bench/prosody/start.ts` prints the WebSocket URL and runs until Ctrl-C.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../node/helpers/wrangler-dev";

export interface ProsodyOptions {
  /** XMPP domain (VirtualHost); MUC is conference.<domain>. Default "localhost". */
  domain?: string;
  /** c2s_stanza_size_limit in bytes. Default 262144 (Prosody's default). */
  stanzaLimit?: number;
  /** turn_external_secret. */
  turnSecret?: string;
  logLevel?: "debug" | "info" | "warn" | "error";
  timeoutMs?: number;
}

export interface ProsodyHandle {
  port: number;
  domain: string;
  mucDomain: string;
  /** ws://127.0.0.1:PORT/xmpp-websocket (one endpoint for every room). */
  wsUrl: string;
  turnSecret: string;
  dataDir: string;
  process: ChildProcess;
  output: () => string;
  log: () => string;
  stop: () => Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const PROSODY_BIN = "/usr/bin/prosody";

export async function startProsody(opts: ProsodyOptions = {}): Promise<ProsodyHandle> {
  const port = await freePort();
  const domain = opts.domain ?? "localhost";
  const turnSecret = opts.turnSecret ?? "prosody-bench-turn-secret-0123456789abcdef";
  const dataDir = mkdtempSync(join(tmpdir(), "parley-prosody-"));
  const template = readFileSync(join(here, "prosody.cfg.lua"), "utf8");
  const values: Record<string, string> = {
    HTTP_PORT: String(port),
    DATA_DIR: dataDir,
    DOMAIN: domain,
    STANZA_LIMIT: String(opts.stanzaLimit ?? 262_144),
    TURN_SECRET: turnSecret,
    LOG_LEVEL: opts.logLevel ?? "warn",
  };
  let rendered: string;
  try {
    rendered = renderTemplate(template, values);
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const configFile = join(dataDir, "prosody.cfg.lua");
  writeFileSync(configFile, rendered);

  const child = spawn(PROSODY_BIN, ["--config", configFile, "-F"], {
    cwd: dataDir,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  let exited = false;
  child.once("exit", () => (exited = true));
  child.once("error", (e) => {
    exited = true;
    out += `\ncannot run ${PROSODY_BIN}: ${e.message} (Debian: apt-get install prosody)`;
  });
  const readLog = () => {
    try {
      return readFileSync(join(dataDir, "prosody.log"), "utf8");
    } catch {
      return "";
    }
  };

  const httpUrl = `http://127.0.0.1:${port}/xmpp-websocket`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      const msg = `prosody exited early:\n${out}\n${readLog()}`;
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(msg);
    }
    try {
      // mod_websocket answers a plain GET with an explanatory page once the HTTP server is up.
      const r = await fetch(httpUrl);
      await r.arrayBuffer();
      if (r.status < 500) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      killGroup(child, "SIGKILL");
      const msg = `prosody did not become ready in time:\n${out}\n${readLog()}`;
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(msg);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    port,
    domain,
    mucDomain: `conference.${domain}`,
    wsUrl: `ws://127.0.0.1:${port}/xmpp-websocket`,
    turnSecret,
    dataDir,
    process: child,
    output: () => out,
    log: readLog,
    stop: async () => {
      if (!exited) {
        const done = new Promise<void>((r) => child.once("exit", () => r()));
        killGroup(child);
        await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
        if (!exited) killGroup(child, "SIGKILL");
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Replace every @NAME@ placeholder; refuse unknown names and values that could break out of a Lua string. */
function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z_]+)@/g, (m, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`prosody.cfg.lua: unknown placeholder ${m}`);
    if (/["\\\n]/.test(v)) throw new Error(`prosody.cfg.lua: unsafe value for ${k}`);
    return v;
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const p = await startProsody({ logLevel: "info" });
  console.log(`Prosody up: ${p.wsUrl} domain=${p.domain} muc=${p.mucDomain} data=${p.dataDir}`);
  const stop = async () => {
    await p.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
