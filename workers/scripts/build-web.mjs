// Build the web app (workers/web) into dist/web, served by Workers static assets.
//
// - esbuild bundles workers/web/src/main.ts as ES modules with code splitting: the call code (StanzaJS, Jingle,
//   chat) and the bridge code (mediasoup-client) are separate chunks loaded with dynamic import() only when needed.
// - Every JS/CSS file gets a content hash in its name (immutable caching); index.html is the only unhashed file.
// - No inline scripts or styles: index.html references the entry with <script type="module" src> and the CSS with
//   <link>, so a strict CSP (script-src 'self') works.
// - Writes dist/web-build-manifest.json (not served): the initial files (entry + its static imports + CSS) and every chunk with
//   raw and gzip sizes, used by `npm run bench:web-size` and the e2e size test.
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync, cpSync, existsSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const webDir = join(root, "workers/web");
// `--out <dir>` builds elsewhere (the size benchmark uses a temp dir so it never disturbs a running dev server).
const outArg = process.argv.indexOf("--out");
const outDir = outArg > 0 && process.argv[outArg + 1] ? resolve(process.argv[outArg + 1]) : join(root, "dist/web");
const manifestPath = outArg > 0 ? join(outDir, "..", "web-build-manifest.json") : join(root, "dist/web-build-manifest.json");
const assetsDir = join(outDir, "assets");

rmSync(outDir, { recursive: true, force: true });
mkdirSync(assetsDir, { recursive: true });

// The workers are classic-script bundles of their own: media encryption (workers/web/src/e2ee/e2ee-worker.ts) and the
// MLS member (mls-worker.ts, with ts-mls); the app gets their hashed URLs as the constants
// __PARLEY_E2EE_WORKER_URL__ (transform.ts) and __PARLEY_MLS_WORKER_URL__ (mls-xmpp.ts).
const workerBuild = await build({
  absWorkingDir: root,
  entryPoints: { "e2ee-worker": join(webDir, "src/e2ee/e2ee-worker.ts"), "mls-worker": join(webDir, "src/e2ee/mls-worker.ts") },
  bundle: true,
  format: "iife",
  platform: "browser",
  target: ["chrome110", "firefox115", "safari16"],
  outdir: assetsDir,
  entryNames: "[name]-[hash]",
  minify: true,
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});
const workerUrlOf = (name) => {
  const js = Object.entries(workerBuild.metafile.outputs).find(([f, m]) => f.endsWith(".js") && m.entryPoint?.endsWith(`src/e2ee/${name}.ts`))?.[0];
  if (!js) throw new Error(`build-web: ${name} output not found`);
  return "/" + relative(outDir, resolve(root, js)).split("\\").join("/");
};

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: join(webDir, "src/main.ts"), style: join(webDir, "styles.css") },
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  target: ["chrome110", "firefox115", "safari16"],
  outdir: assetsDir,
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  minify: true,
  sourcemap: false,
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"', global: "globalThis", __PARLEY_E2EE_WORKER_URL__: JSON.stringify(workerUrlOf("e2ee-worker")),
    __PARLEY_MLS_WORKER_URL__: JSON.stringify(workerUrlOf("mls-worker")),
  },
});

const outputs = result.metafile.outputs;
const abs = (p) => resolve(root, p);
const rel = (p) => "/" + relative(outDir, abs(p)).split("\\").join("/");
let entryJs;
let entryCss;
for (const [file, meta] of Object.entries(outputs)) {
  if (meta.entryPoint?.endsWith("src/main.ts") && file.endsWith(".js")) entryJs = file;
  if (file.endsWith(".css") && meta.entryPoint?.endsWith("styles.css")) entryCss = file;
}
if (!entryJs || !entryCss) throw new Error("build-web: entry outputs not found");

// The initial JS = the entry plus everything it imports statically (transitively).
const initial = new Set();
const visit = (file) => {
  if (initial.has(file)) return;
  initial.add(file);
  for (const imp of outputs[file]?.imports ?? []) if (imp.kind === "import-statement") visit(imp.path);
};
visit(entryJs);

// style entry emits an empty JS stub when bundled with splitting; drop it.
for (const file of Object.keys(outputs)) {
  if (outputs[file].entryPoint?.endsWith("styles.css") && file.endsWith(".js")) rmSync(abs(file), { force: true });
}

const preloads = [...initial].filter((f) => f !== entryJs);
const tags = [
  `<link rel="stylesheet" href="${rel(entryCss)}">`,
  ...preloads.map((f) => `<link rel="modulepreload" href="${rel(f)}">`),
  `<script type="module" src="${rel(entryJs)}"></script>`,
].join("\n    ");

const template = readFileSync(join(webDir, "index.html"), "utf8");
if (!template.includes("<!-- assets -->")) throw new Error("build-web: index.html lacks the <!-- assets --> marker");
writeFileSync(join(outDir, "index.html"), template.replace("<!-- assets -->", tags));

// Static files copied as they are (icons etc.).
const publicDir = join(webDir, "public");
if (existsSync(publicDir)) cpSync(publicDir, outDir, { recursive: true });
// Never ship screenshots (they live in the repo for the README only).
if (existsSync(join(outDir, "screenshots"))) rmSync(join(outDir, "screenshots"), { recursive: true, force: true });

const size = (file) => {
  const buf = readFileSync(abs(file));
  return { bytes: buf.length, gzip: gzipSync(buf, { level: 9 }).length };
};
const files = readdirSync(assetsDir).map((f) => join(assetsDir, f));
const manifest = {
  entry: rel(entryJs),
  css: rel(entryCss),
  initial: [...initial, entryCss].map((f) => ({ file: rel(f), ...size(f) })),
  all: files.map((f) => ({ file: rel(f), ...size(f) })),
};
writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
const initialGzip = manifest.initial.reduce((s, f) => s + f.gzip, 0);
console.log(
  `web app built into ${relative(root, outDir)}: ${files.length} assets, initial JS+CSS ${(initialGzip / 1024).toFixed(1)} KiB gzipped`,
);
