/**
 * `npm run bench:web-size`: gzip sizes of the web app's initial JavaScript (landing + hair check: the entry and its
 * static imports) and CSS, plus every lazily loaded chunk (call code with StanzaJS, bridge code with
 * mediasoup-client). Budget: initial JS ≤ 100 KB gzipped. Builds into a temp dir (never touches
 * dist/web, which a running dev server may be serving). Exits 1 over budget.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BUDGET_GZIP = 100 * 1024;
interface Entry {
  file: string;
  bytes: number;
  gzip: number;
}
interface Manifest {
  entry: string;
  css: string;
  initial: Entry[];
  all: Entry[];
}

const dir = mkdtempSync(join(tmpdir(), "parley-web-size-"));
try {
  execFileSync(process.execPath, ["workers/scripts/build-web.mjs", "--out", join(dir, "web")], { stdio: "inherit" });
  const m = JSON.parse(readFileSync(join(dir, "web-build-manifest.json"), "utf8")) as Manifest;
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const initialFiles = new Set(m.initial.map((e) => e.file));
  const initialJs = m.initial.filter((e) => e.file.endsWith(".js"));
  const jsGzip = initialJs.reduce((s, e) => s + e.gzip, 0);
  const cssGzip = m.initial.filter((e) => e.file.endsWith(".css")).reduce((s, e) => s + e.gzip, 0);
  console.log("\nInitial (landing + hair check):");
  for (const e of m.initial) console.log(`  ${e.file.padEnd(36)} ${kib(e.bytes).padStart(10)} raw ${kib(e.gzip).padStart(10)} gzip`);
  console.log("Lazy chunks (loaded on Join / in bridge mode / by the connectivity check):");
  for (const e of m.all.filter((x) => !initialFiles.has(x.file)))
    console.log(`  ${e.file.padEnd(36)} ${kib(e.bytes).padStart(10)} raw ${kib(e.gzip).padStart(10)} gzip`);
  const lazy = m.all.filter((x) => !initialFiles.has(x.file)).reduce((s, e) => s + e.gzip, 0);
  console.log(`\ninitial JS gzip: ${kib(jsGzip)} (budget ${kib(BUDGET_GZIP)}); initial CSS gzip: ${kib(cssGzip)}; lazy total gzip: ${kib(lazy)}`);
  if (jsGzip > BUDGET_GZIP) {
    console.error(`OVER BUDGET by ${kib(jsGzip - BUDGET_GZIP)}`);
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
