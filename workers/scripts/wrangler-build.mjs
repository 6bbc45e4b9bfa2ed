// wrangler.toml's [build] command: `wrangler deploy` and `wrangler dev` run it before bundling the Worker, so the
// static assets in dist/web exist and match the sources, from a fresh clone too.
//
// `wrangler dev` runs it at start and on every change under [build] watch_dir, sometimes while another
// `wrangler dev` serves pages from the same dist/web (tests start several). A plain rebuild empties dist/web first,
// and a page loading meanwhile misses its chunks. So the web app is built into a temporary directory and swapped into
// dist/web only when it differs from what is there: an unchanged app leaves the served files alone.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const dist = join(root, "dist");
const live = { web: join(dist, "web"), manifest: join(dist, "web-build-manifest.json") };

/** Files under `dir` (relative paths, sorted), or undefined if `dir` is missing. */
function listFiles(dir, prefix = "") {
  if (!existsSync(dir)) return undefined;
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path, `${prefix}${name}/`));
    else out.push(`${prefix}${name}`);
  }
  return out;
}
const sameFile = (a, b) => existsSync(a) && existsSync(b) && readFileSync(a).equals(readFileSync(b));
function sameTree(a, b) {
  const fa = listFiles(a);
  const fb = listFiles(b);
  if (!fa || !fb || fa.join("\n") !== fb.join("\n")) return false;
  return fa.every((f) => sameFile(join(a, f), join(b, f)));
}

mkdirSync(dist, { recursive: true });
const tmp = mkdtempSync(join(dist, ".web-build-"));
const next = { web: join(tmp, "web"), manifest: join(tmp, "web-build-manifest.json") };
try {
  execFileSync(process.execPath, [join(root, "workers/scripts/build-web.mjs"), "--out", next.web], { stdio: "inherit" });
  if (sameTree(next.web, live.web) && sameFile(next.manifest, live.manifest)) {
    console.log("dist/web is up to date");
  } else {
    try {
      if (existsSync(live.web)) renameSync(live.web, join(tmp, "old"));
      renameSync(next.web, live.web);
      renameSync(next.manifest, live.manifest);
      console.log("dist/web updated");
    } catch (e) {
      // Another build swapped its own (same) output in at the same moment: that one stands.
      if (!existsSync(live.web)) throw e;
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
