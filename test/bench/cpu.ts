/**
 * `npm run bench:cpu`: how much CPU the web app keeps busy while people sit on the hair check and in a 1:1 call,
 * per Chromium process type (renderers = the pages; GPU = compositing, in software here; audio and video capture
 * services). On a small machine, whatever an idle page burns is taken from the next call set-up (bench:call).
 *
 * Reads /proc/<pid>/stat (user+system time) of every process before and after each window; percentages are of one
 * core. Linux only. Options: --url http://127.0.0.1:PORT (an already running edge), --seconds N (window, default 5),
 * --bridge (start a bridge host too and also measure three pages in a call through it), --e2ee mls|plain|both
 * (default both): `mls` is the product, every frame SFrame-encrypted end to end with the room's MLS group's keys;
 * `plain` the baseline without frame encryption (the app's test-only plaintext hook, test/node/helpers/e2ee-keys.ts
 * PLAINTEXT); `both` runs the sequence once per mode, alternating, `--runs N` times (default 1), and prints what
 * encryption adds to the calls' CPU (three pages through the bridge with --bridge, else the 1:1) in %.
 * `--quiet-mic`: the pages capture a mostly silent microphone (0.3 s of tone every 2 s, helpers/audio-file.ts), as
 * most people in a call are, instead of Chromium's fake one, which never falls silent (so Opus DTX never applies).
 * Only processes this benchmark started count (descendants of this Node process): other Chromiums on the machine
 * are left out. Each window also prints the renderers' busiest threads (summed over the pages; the frame-encryption
 * worker is a "DedicatedWorker" thread, so what encryption costs shows there) and, for a call, the video frames each
 * page decoded per second, so that a window in which media did not flow shows.
 * `--per-person`: what one person's machine spends in the call, as when each person has their own. The first person
 * (alice) gets a browser of her own on core 0; the two others share a browser, and with the bridge, the edge and this
 * process, core 1 (`taskset`, Linux, at least 2 cores). Only alice's browser is measured: the figures are free of
 * the other two pages' encoders and decoders competing for the same cores.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import type { Browser } from "playwright-core";
import { mostlySilentMicFile } from "../node/helpers/audio-file";
import { CHROMIUM, framesDecoded, join as joinCall, launchBrowser, openParticipant, waitForCall, type Participant } from "../node/helpers/browser";
import { startBridge, type BridgeHandle } from "../node/helpers/bridge-harness";
import { median } from "../node/helpers/netchange";
import { cpuMsOf, processTree, threadCpuMs } from "../node/helpers/proc";
import { PLAINTEXT } from "../node/helpers/e2ee-keys";
import { freshRoom, startWebTarget, type WebTarget } from "../node/helpers/web-app";
import { checkE2eeMode, e2eeModes, intFlag, type E2eeMode } from "./flags";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const windowMs = Number(opt("seconds") ?? 5) * 1000;
const perPerson = args.includes("--per-person");
/** Marks the measured person's browser in its command line (Chromium ignores switches it does not know). */
const MEASURED = "--parley-bench-measured";

/** The measured person's browser process (--per-person), found once it runs. */
function measuredBrowser(): number {
  for (const pid of processTree(process.pid)) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (cmd.includes(MEASURED) && !cmd.some((a) => a.startsWith("--type="))) return pid;
    } catch {
      /* gone meanwhile */
    }
  }
  throw new Error("the measured browser's process is not found");
}

/** Where measuring starts: this process, or with --per-person the measured person's browser (set once it runs). */
let measuredRoot = process.pid;

/** CPU time (ms) per process of this benchmark, labelled by Chromium process type (or executable name). */
function snapshot(): Map<number, { kind: string; cpuMs: number }> {
  const out = new Map<number, { kind: string; cpuMs: number }>();
  for (const pid of processTree(measuredRoot)) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      const type = /--type=(\S+)/.exec(cmd)?.[1];
      const sub = /--utility-sub-type=([\w.]+)/.exec(cmd)?.[1]?.split(".")[0];
      const kind = type ? (sub ? `${type}:${sub}` : type) : (cmd.split(" ")[0]!.split("/").pop() || "?");
      out.set(pid, { kind, cpuMs: cpuMsOf([pid]) });
    } catch {
      /* the process ended meanwhile */
    }
  }
  return out;
}

/** Per core, jiffies idle (idle + iowait) and in all, from /proc/stat. */
function coreTimes(): Array<{ idle: number; total: number }> {
  return readFileSync("/proc/stat", "utf8")
    .split("\n")
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const v = l.trim().split(/\s+/).slice(1).map(Number);
      return { idle: v[3]! + v[4]!, total: v.reduce((s, x) => s + x, 0) };
    });
}

/** CPU time (ms) of the renderers' threads, keyed by "pid/tid", with the thread's name. */
function rendererThreads(snap: Map<number, { kind: string }>): Map<string, { name: string; cpuMs: number }> {
  const out = new Map<string, { name: string; cpuMs: number }>();
  for (const [pid, { kind }] of snap) {
    if (kind !== "renderer") continue;
    for (const [tid, t] of threadCpuMs(pid)) out.set(`${pid}/${tid}`, t);
  }
  return out;
}

/** The frame-encryption worker (and the MLS worker, idle in a call) are the renderers' "DedicatedWorker" threads. */
const WORKER_THREAD = /^DedicatedWorker/;

interface Window {
  /** % of a core, all processes */
  total: number;
  /** % of a core, the renderers' dedicated-worker threads */
  workers: number;
}

/**
 * CPU of this benchmark's processes over one window, printed per process type and, for the renderers, per thread;
 * with `pages`, also the video frames each page decoded per second (a window where media did not flow shows).
 */
async function measure(label: string, pages: Participant[] = []): Promise<Window> {
  const decodedBefore = await Promise.all(pages.map((p) => framesDecoded(p.page)));
  const before = snapshot();
  const coresBefore = coreTimes();
  const threadsBefore = rendererThreads(before);
  await new Promise((r) => setTimeout(r, windowMs));
  const after = snapshot();
  const coresAfter = coreTimes();
  const threadsAfter = rendererThreads(after);
  const decodedAfter = await Promise.all(pages.map((p) => framesDecoded(p.page)));
  const perKind = new Map<string, number[]>();
  for (const [pid, { kind, cpuMs }] of after) {
    const prev = before.get(pid);
    if (!prev) continue;
    const pct = ((cpuMs - prev.cpuMs) / windowMs) * 100;
    perKind.set(kind, [...(perKind.get(kind) ?? []), pct]);
  }
  const rows = [...perKind]
    .map(([kind, v]) => ({ kind, v: v.filter((x) => x >= 0.5).sort((a, b) => b - a) }))
    .filter((r) => r.v.length > 0)
    .sort((a, b) => b.v.reduce((s, x) => s + x, 0) - a.v.reduce((s, x) => s + x, 0));
  const total = rows.reduce((s, r) => s + r.v.reduce((t, x) => t + x, 0), 0);
  console.log(`${label}: ${total.toFixed(0)}% of a core in all`);
  const busy = coresAfter.map((c, i) => {
    const b = coresBefore[i];
    return b && c.total > b.total ? (1 - (c.idle - b.idle) / (c.total - b.total)) * 100 : NaN;
  });
  console.log(`  cores busy (whole machine): ${busy.map((x, i) => `cpu${i} ${x.toFixed(0)}%`).join(", ")}`);
  for (const r of rows.slice(0, 8)) console.log(`  ${r.kind.padEnd(24)} ${r.v.map((x) => `${x.toFixed(0)}%`).join(" + ")}`);
  const byName = new Map<string, number>();
  for (const [key, t] of threadsAfter) {
    const prev = threadsBefore.get(key);
    if (prev) byName.set(t.name, (byName.get(t.name) ?? 0) + ((t.cpuMs - prev.cpuMs) / windowMs) * 100);
  }
  const top = [...byName].filter(([, v]) => v >= 0.5).sort((a, b) => b[1] - a[1]);
  console.log(`  renderer threads, all pages: ${top.slice(0, 6).map(([n, v]) => `${n} ${v.toFixed(1)}%`).join(", ")}`);
  if (pages.length > 0) {
    const fps = decodedAfter.map((n, i) => ((n - decodedBefore[i]!) * 1000) / windowMs);
    console.log(`  video frames decoded per second, per page: ${fps.map((x) => x.toFixed(0)).join(", ")}`);
  }
  const workers = top.filter(([n]) => WORKER_THREAD.test(n)).reduce((s, [, v]) => s + v, 0);
  return { total, workers };
}

const E2EE_MODES = e2eeModes(opt("e2ee"));
const runs = intFlag("runs", opt("runs") ?? "1", 1);
const withBridge = args.includes("--bridge");

/** One sequence in a fresh room: hair check, one in a call, the 1:1, and with --bridge three through the bridge. */
async function sequence(browser: Browser, first: Browser, base: string, mode: E2eeMode): Promise<{ call: Window; label: string }> {
  const room = freshRoom("bench-cpu");
  const init = { initScripts: mode === "plain" ? [PLAINTEXT] : [] };
  console.log(`bench:cpu, ${mode === "mls" ? "encrypted end to end (mls)" : "unencrypted (plain)"}`);
  const a = await openParticipant(first, `${base}/${room}`, init);
  const b = await openParticipant(browser, `${base}/${room}`, init);
  const c = withBridge ? await openParticipant(browser, `${base}/${room}`, init) : undefined;
  try {
    await new Promise((r) => setTimeout(r, 5000)); // connectivity checks done, previews running
    await measure("two pages on the hair check");
    await joinCall(a, "alice");
    await waitForCall(a);
    await new Promise((r) => setTimeout(r, 2000));
    await measure("one page alone in a call, one on the hair check");
    await joinCall(b, "bob");
    await waitForCall(b);
    await new Promise((r) => setTimeout(r, 3000)); // past the ramp-up to full size
    const oneLabel = c ? "two pages in a direct call, one on the hair check" : "two pages in a direct call";
    const one = await measure(oneLabel, [a, b]);
    await checkE2eeMode(mode, [a, b]);
    if (!c) return { call: one, label: oneLabel };
    await joinCall(c, "carol");
    await waitForCall(c);
    await c.page.locator(`[data-media-mode="bridge"]`).waitFor({ timeout: 90_000 });
    await new Promise((r) => setTimeout(r, 5000)); // direct sessions closed, everyone's video flowing via the bridge
    const threeLabel = perPerson ? "alice's browser in a call of three via the bridge" : "three pages in a call via the bridge";
    const three = await measure(threeLabel, [a, b, c]);
    await checkE2eeMode(mode, [a, b, c]);
    return { call: three, label: threeLabel };
  } finally {
    await Promise.all([a, b, c].map((p) => p?.close()));
  }
}

/** With --per-person: this process and what it starts on core 1; alice's browser on core 0 (a wrapper script). */
function pinForPerPerson(): string {
  execFileSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)], { stdio: "ignore" });
  const wrapper = joinPath(mkdtempSync(joinPath(tmpdir(), "parley-bench-cpu-")), "chromium-core0");
  writeFileSync(wrapper, `#!/bin/sh\nexec taskset -c 0 ${JSON.stringify(CHROMIUM)} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}
const firstBrowserPath = perPerson ? pinForPerPerson() : undefined;

const url = opt("url");
let bridge: BridgeHandle | undefined;
let target: WebTarget | undefined;
if (!url && withBridge) {
  bridge = await startBridge();
  target = await startWebTarget({ BRIDGES: bridge.controlUrl, BRIDGE_PUBLIC_ORIGINS: bridge.wsBaseUrl, BRIDGE_SECRET: bridge.secret });
} else if (!url) target = await startWebTarget();
const base = url ?? target!.httpUrl;
const micArgs = args.includes("--quiet-mic") ? [`--use-file-for-fake-audio-capture=${mostlySilentMicFile()}`] : [];
const browser = await launchBrowser({ fakeCameras: 5, args: micArgs });
const first = firstBrowserPath ? await launchBrowser({ fakeCameras: 5, executablePath: firstBrowserPath, args: [...micArgs, MEASURED] }) : browser;
if (perPerson) measuredRoot = measuredBrowser();
try {
  const calls = new Map<E2eeMode, Window[]>(E2EE_MODES.map((m) => [m, []]));
  let label = "";
  for (let r = 0; r < runs; r++) {
    // ABBA: the order of the modes flips every run, so that a drift over the run (the machine warming up, another
    // process winding down) weighs on both alike.
    for (const m of r % 2 === 0 ? E2EE_MODES : [...E2EE_MODES].reverse()) {
      const got = await sequence(browser, first, base, m);
      calls.get(m)!.push(got.call);
      label = got.label;
    }
  }
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  for (const [m, xs] of calls) {
    console.log(`${label}, ${m}: ${xs.map((x) => `${x.total.toFixed(0)}%`).join(", ")} of a core`);
    console.log(`  of which the pages' worker threads: ${xs.map((x) => `${x.workers.toFixed(1)}%`).join(", ")}`);
  }
  const mls = (calls.get("mls") ?? []).map((x) => x.total);
  const plain = (calls.get("plain") ?? []).map((x) => x.total);
  if (mls.length > 0 && plain.length > 0) {
    const added = mean(mls) - mean(plain);
    console.log(`encryption adds ${added.toFixed(0)} points of a core to ${label}: ${((added / mean(plain)) * 100).toFixed(1)}% (target ≤ 10%)`);
    // Each run measures the two modes one after the other: the run-by-run differences show how far one window's
    // noise (up to 30 points between windows of one mode on 2 cores) moves the figure above.
    const diffs = mls.map((m, i) => (plain[i] === undefined ? undefined : ((m - plain[i]!) / plain[i]!) * 100)).filter((d) => d !== undefined);
    console.log(`  run by run: ${diffs.map((d) => `${d.toFixed(1)}%`).join(", ")}; median ${median(diffs).toFixed(1)}%`);
  }
} finally {
  if (first !== browser) await first.close();
  await browser.close();
  await target?.stop();
  await bridge?.stop();
}
