/**
 * Shared set-up for the web app's end-to-end tests and the call benchmark: make sure the web app is built, start
 * the real edge (`wrangler dev`) serving it, and give each test a fresh room name.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
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

/** The real edge (wrangler dev) with the web app's assets, on a free loopback port. */
export async function startWebTarget(vars: Record<string, string> = {}): Promise<WebTarget> {
  ensureWebBuilt();
  // Development aid only (never set in CI): drive an already running server instead, e.g. a local proxy to the
  // Prosody reference, to tell client bugs from server bugs.
  const override = process.env.PARLEY_E2E_BASE_URL;
  if (override) return { httpUrl: override.replace(/\/+$/, ""), stop: async () => undefined };
  const edge = await startEdge({ vars, cwd: REPO_ROOT, timeoutMs: 90_000 });
  return { httpUrl: edge.httpUrl, edge, stop: () => edge.stop() };
}

let counter = 0;
export function freshRoom(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
