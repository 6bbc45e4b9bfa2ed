/**
 * Shared set-up for the web app's end-to-end tests and the call benchmark: make sure the web app is built, start
 * the real edge (`wrangler dev`) serving it, and give each test a fresh room name.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startEdge, type EdgeHandle } from "./wrangler-dev";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");
export const SCREENSHOT_DIR = join(REPO_ROOT, "workers/web/screenshots");

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
 * `privateAssets`: build the web app into a temp dir of its own and serve that snapshot (`wrangler dev --assets`), so
 * a rebuild of the shared `dist/web` meanwhile (build-web.mjs empties it first, and changed code gets new hashed
 * chunk names) cannot break pages that are already open: a page whose lazy chunk vanished never finishes joining.
 */
export async function startWebTarget(vars: Record<string, string> = {}, opts: { privateAssets?: boolean } = {}): Promise<WebTarget> {
  // Development aid only (never set in CI): drive an already running server instead, e.g. a local proxy to the
  // Prosody reference, to tell client bugs from server bugs.
  const override = process.env.PARLEY_E2E_BASE_URL;
  if (override) return { httpUrl: override.replace(/\/+$/, ""), stop: async () => undefined };
  if (!opts.privateAssets) {
    ensureWebBuilt();
    const edge = await startEdge({ vars, cwd: REPO_ROOT, timeoutMs: 90_000 });
    return { httpUrl: edge.httpUrl, edge, stop: () => edge.stop() };
  }
  const dir = mkdtempSync(join(tmpdir(), "parley-web-"));
  const assets = join(dir, "web");
  try {
    execFileSync(process.execPath, [join(REPO_ROOT, "workers/scripts/build-web.mjs"), "--out", assets], { cwd: REPO_ROOT, stdio: "ignore" });
    const edge = await startEdge({ vars, cwd: REPO_ROOT, timeoutMs: 90_000, args: ["--assets", assets] });
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
