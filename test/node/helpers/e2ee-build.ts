/**
 * For the media-encryption tests: the production web build (workers/scripts/build-web.mjs) in a temporary directory,
 * so the worker tested is the one the app ships, and an esbuild bundle of a browser-side test script.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";

const ROOT = new URL("../../..", import.meta.url).pathname;

export interface BuiltWorker {
  /** file name under assets/ */
  name: string;
  source: string;
  cleanup(): void;
}

export function buildE2eeWorker(): BuiltWorker {
  const outDir = mkdtempSync(join(tmpdir(), "parley-e2ee-"));
  execFileSync(process.execPath, [join(ROOT, "workers/scripts/build-web.mjs"), "--out", join(outDir, "web")], { stdio: "pipe" });
  const assets = join(outDir, "web/assets");
  const name = readdirSync(assets).find((f) => /^e2ee-worker-.*\.js$/.test(f));
  if (!name) throw new Error("the web build made no e2ee worker");
  const source = readFileSync(join(assets, name), "utf8");
  return { name, source, cleanup: () => rmSync(outDir, { recursive: true, force: true }) };
}

export async function bundleTestScript(entry: string, format: "esm" | "iife", define: Record<string, string> = {}): Promise<string> {
  const bundle = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    format,
    platform: "browser",
    target: "chrome120",
    write: false,
    logLevel: "silent",
    define,
  });
  return bundle.outputFiles[0]!.text;
}
