/**
 * Shared set-up for the web app's end-to-end tests and the call benchmark: make sure the web app is built, start
 * the real edge (`wrangler dev`) serving it, and give each test a fresh room name.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { OFFLINE_ENV, startEdge, type EdgeHandle } from "./wrangler-dev";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const SCREENSHOT_DIR = join(REPO_ROOT, "workers/web/screenshots");

/** `npm test` builds the web app first; a single test file run builds it only if it is missing. */
export function ensureWebBuilt(): void {
  if (existsSync(join(REPO_ROOT, "dist/web/index.html")) && existsSync(join(REPO_ROOT, "dist/web-build-manifest.json"))) return;
  execFileSync(process.execPath, [join(REPO_ROOT, "workers/scripts/build-web.mjs")], { cwd: REPO_ROOT, stdio: "inherit" });
}

export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return join(SCREENSHOT_DIR, name);
}

export interface WebTarget {
  httpUrl: string;
  stop(): Promise<void>;
  edge?: EdgeHandle;
}

/**
 * The real edge (wrangler dev) with the web app's assets, on a free loopback port.
 * `snapshot`: run a private snapshot instead of the working tree: the web app built into a temp dir and the Worker
 * bundled once (`wrangler deploy --dry-run --outdir`), served with `wrangler dev --no-bundle` from there. In a working
 * tree that others edit meanwhile, the live setup breaks long runs (benchmarks): a rebuild of `dist/web` empties it
 * and renames changed chunks (an open page can no longer load its lazy chunks and never joins), any saved Worker
 * source file reloads `wrangler dev` (every open WebSocket drops), and while a half-edited file doesn't build, new
 * requests hang (a page's XMPP WebSocket stays CONNECTING: the join never completes).
 */
export async function startWebTarget(vars: Record<string, string> = {}, opts: { snapshot?: boolean } = {}): Promise<WebTarget> {
  // Development aid only (never set in CI): drive an already running server instead, e.g. a local proxy to the
  // Prosody reference, to tell client bugs from server bugs.
  const override = process.env.PARLEY_E2E_BASE_URL;
  if (override) return { httpUrl: override.replace(/\/+$/, ""), stop: async () => undefined };
  if (!opts.snapshot) {
    ensureWebBuilt();
    const edge = await startEdge({ vars, cwd: REPO_ROOT, timeoutMs: 90_000 });
    return { httpUrl: edge.httpUrl, edge, stop: () => edge.stop() };
  }
  const dir = mkdtempSync(join(tmpdir(), "parley-snapshot-"));
  const web = join(dir, "web");
  const worker = join(dir, "worker");
  const config = join(dir, "wrangler.toml");
  try {
    execFileSync(process.execPath, [join(REPO_ROOT, "workers/scripts/build-web.mjs"), "--out", web], { cwd: REPO_ROOT, stdio: "ignore" });
    execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", worker, "--assets", web], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...OFFLINE_ENV, CI: "true", NO_COLOR: "1" },
      stdio: "ignore",
    });
    // Same configuration, pointed at the snapshot (paths in wrangler.toml are relative to the file).
    const toml = readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8")
      .replace(/^main\s*=.*$/m, 'main = "worker/index.js"')
      .replace(/^directory\s*=.*$/m, 'directory = "web"');
    writeFileSync(config, toml);
    const edge = await startEdge({
      vars,
      cwd: REPO_ROOT,
      timeoutMs: 90_000,
      args: ["--no-bundle", "--config", config],
    });
    return {
      httpUrl: edge.httpUrl,
      edge,
      stop: async () => {
        await edge.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

let counter = 0;
export function freshRoom(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
