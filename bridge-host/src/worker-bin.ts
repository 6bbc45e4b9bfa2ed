/**
 * Where the mediasoup-worker binary is. mediasoup reads MEDIASOUP_WORKER_BIN once, when it is first imported, so
 * this module must not import mediasoup; entry points call `ensureWorkerBin()` and then import the rest dynamically.
 *
 * Order: an explicit MEDIASOUP_WORKER_BIN wins; else mediasoup's own prebuilt/default path (a normal online
 * `npm install` puts it there) is left alone; else the offline build cached by
 * bridge-host/scripts/build-mediasoup-worker.sh (keyed by mediasoup's version) is used.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

/** mediasoup's package directory (its "exports" hide package.json, so walk up from the main module). */
function mediasoupDir(): string {
  let dir = dirname(require.resolve("mediasoup"));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "mediasoup") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot locate the mediasoup package");
    dir = up;
  }
}

export function mediasoupVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(join(mediasoupDir(), "package.json"), "utf8"));
  const v = (pkg as { version?: unknown }).version;
  if (typeof v !== "string") throw new Error("cannot read mediasoup's version");
  return v;
}

/** Path the build script caches the binary at (same formula as the script). */
export function cachedWorkerBin(env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot = env.PARLEY_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "parley");
  return join(cacheRoot, `mediasoup-worker-${mediasoupVersion()}`);
}

export function defaultWorkerBin(): string {
  return join(mediasoupDir(), "worker", "out", "Release", "mediasoup-worker");
}

export type WorkerBinSource = "env" | "default" | "cache" | "missing";

/** Sets process.env.MEDIASOUP_WORKER_BIN when needed. Call before the first import of "mediasoup". */
export function ensureWorkerBin(env: NodeJS.ProcessEnv = process.env): { path: string; source: WorkerBinSource } {
  if (env.MEDIASOUP_WORKER_BIN) return { path: env.MEDIASOUP_WORKER_BIN, source: "env" };
  const dflt = defaultWorkerBin();
  if (existsSync(dflt)) return { path: dflt, source: "default" };
  const cached = cachedWorkerBin(env);
  if (existsSync(cached)) {
    env.MEDIASOUP_WORKER_BIN = cached;
    return { path: cached, source: "cache" };
  }
  return { path: dflt, source: "missing" };
}

export const WORKER_MISSING_HELP =
  "mediasoup-worker binary not found: run `npm run build:mediasoup` (bridge-host/scripts/build-mediasoup-worker.sh) " +
  "or set MEDIASOUP_WORKER_BIN";
