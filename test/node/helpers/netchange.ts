/**
 * A call with one participant behind a link that fails and moves (netns.ts): the real edge (`wrangler dev`) and, if
 * asked, the real bridge host listen on the namespace's service address; one Chromium runs on the host, one inside the
 * namespace. The pages' origin is http://SERVICE_ADDRESS:PORT, which Chromium is told to treat as secure (camera and
 * microphone need a secure context, and loopback is not reachable from the namespace).
 *
 * Each page runs a watcher (`watchCall`) that samples every 50 ms, on the page's clock (the same machine's clock as
 * the test's), when each remote participant's tile last showed a new video frame, whether the tile was there, and the
 * "… left." / "… joined." lines of the chat: what a person would see.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { startBridge, type BridgeHandle } from "./bridge-harness";
import { launchBrowser, type Participant } from "./browser";
import { createNetns, type NetnsLink } from "./netns";
import { ensureWebBuilt, REPO_ROOT } from "./web-app";
import { startEdge, type EdgeHandle } from "./wrangler-dev";

export interface NetchangeStack {
  link: NetnsLink;
  edge: EdgeHandle;
  bridge: BridgeHandle | undefined;
  /** Chromium on the host (the people who stay) */
  host: Browser;
  /** Chromium inside the namespace (the person whose network changes) */
  moved: Browser;
  stop(): Promise<void>;
}

async function startNetchangeStack(opts: { bridge: boolean }): Promise<NetchangeStack> {
  const link = await createNetns();
  const ip = link.serviceAddress;
  let bridge: BridgeHandle | undefined;
  let edge: EdgeHandle | undefined;
  const browsers: Browser[] = [];
  const stop = async () => {
    await Promise.all(browsers.map((b) => b.close().catch(() => undefined)));
    await edge?.stop();
    await bridge?.stop();
    await link.close();
  };
  try {
    ensureWebBuilt();
    if (opts.bridge) bridge = await startBridge({ env: { HTTP_HOST: ip, LISTEN_IP: ip, ANNOUNCED_ADDRESS: ip } });
    const vars: Record<string, string> = bridge
      ? { BRIDGES: bridge.controlUrl, BRIDGE_PUBLIC_ORIGINS: bridge.wsBaseUrl, BRIDGE_SECRET: bridge.secret }
      : {};
    edge = await startEdge({ ip, vars, cwd: REPO_ROOT, timeoutMs: 120_000 });
    const args = [`--unsafely-treat-insecure-origin-as-secure=${edge.httpUrl}`];
    const [host, moved] = await Promise.all([launchBrowser({ args }), launchBrowser({ args, executablePath: link.chromiumPath })]);
    browsers.push(host, moved);
    return { link, edge, bridge, host, moved, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Init script: the watcher (see the file comment), in `window.__watch`. */
export const WATCH_SCRIPT = `(() => {
  const w = (window.__watch = { last: {}, missing: {}, lines: [], events: [] });
  const seen = new Map();
  for (const ev of ["online", "offline"]) window.addEventListener(ev, () => w.events.push([ev, Date.now()]));
  navigator.connection?.addEventListener("change", () => w.events.push(["connection", Date.now()]));
  setInterval(() => {
    const now = Date.now();
    for (const nick of w.watching ?? []) {
      const el = document.querySelector('video[data-participant="' + CSS.escape(nick) + '"]');
      if (!el) { (w.missing[nick] ??= []).push(now); continue; }
      const frames = el.getVideoPlaybackQuality ? el.getVideoPlaybackQuality().totalVideoFrames : 0;
      const prev = seen.get(nick);
      if (el.videoWidth > 0 && frames > 0 && (!prev || prev.el !== el || frames > prev.frames)) w.last[nick] = now;
      seen.set(nick, { el, frames });
    }
    for (const p of document.querySelectorAll(".chat-line.system")) {
      if (p.dataset.watched) continue;
      p.dataset.watched = "1";
      w.lines.push([p.textContent, now]);
    }
  }, 50);
})();`;

/** Start watching these participants' tiles on the page (the page was opened with WATCH_SCRIPT). */
async function watchTiles(page: Page, nicks: string[]): Promise<void> {
  await page.evaluate(`window.__watch.watching = ${JSON.stringify(nicks)}`);
}

interface Watched {
  /** per nick: when its tile last showed a new frame (ms since the epoch) */
  last: Record<string, number>;
  /** per nick: the samples at which its tile was missing */
  missing: Record<string, number[]>;
  /** system lines of the chat with when they appeared */
  lines: Array<[string, number]>;
  /** online/offline/connection-change events */
  events: Array<[string, number]>;
}

async function watched(page: Page): Promise<Watched> {
  return page.evaluate(`window.__watch`);
}

/** Wait until `nick`'s tile on `page` shows a frame newer than `after`; that frame's time (ms since the epoch). */
async function frameAfter(page: Page, nick: string, after: number, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const t = (await watched(page)).last[nick] ?? 0;
    if (t > after) return t;
    if (Date.now() > until) throw new Error(`no new frame from ${nick} within ${timeoutMs} ms after the link came back`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Median of some numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The page's `parley:` performance marks since `since` (ms since the epoch), as [name, ms after `since`]. */
async function marksSince(page: Page, since: number): Promise<Array<[string, number]>> {
  return page.evaluate(`performance.getEntriesByType("mark")
    .filter((m) => m.name.startsWith("parley:") && performance.timeOrigin + m.startTime >= ${since})
    .map((m) => [m.name, Math.round(performance.timeOrigin + m.startTime - ${since})])`);
}

/** A page and the participants it should see. */
export interface Viewer {
  nick: string;
  page: Page;
  sees: string[];
}

/** Start every viewer's watcher and wait until each shows a fresh frame from everyone it should see. */
export async function watchAll(viewers: Viewer[]): Promise<number> {
  for (const v of viewers) await watchTiles(v.page, v.sees);
  const start = Date.now();
  await Promise.all(viewers.flatMap((v) => v.sees.map((n) => frameAfter(v.page, n, start, 15_000))));
  return start;
}

/**
 * Take the link down for `outageMs`, bring it back on a new subnet, and return how long after it was back every viewer
 * showed a new frame from everyone it should see (the slowest pair), with every page's timeline for the log.
 */
export async function outageAndRecovery(link: NetnsLink, viewers: Viewer[], moved: Page, outageMs: number): Promise<{ ms: number; detail: string }> {
  const down = Date.now();
  await link.linkDown();
  await new Promise((r) => setTimeout(r, outageMs));
  await link.linkUp({ newSubnet: true });
  const back = Date.now();
  const pairs = viewers.flatMap((v) => v.sees.map((n) => ({ v, n })));
  const at = await Promise.all(pairs.map(({ v, n }) => frameAfter(v.page, n, back, 30_000)));
  const ms = Math.max(...at) - back;
  const each = pairs.map(({ v, n }, i) => `${v.nick} sees ${n} at ${at[i]! - back} ms`).join(", ");
  const marks = await marksSince(moved, down);
  const others = await Promise.all(viewers.filter((v) => v.page !== moved).map(async (v) => `${v.nick}: ${JSON.stringify(await marksSince(v.page, down))}`));
  return { ms, detail: `${each}; link down at 0, back at ${back - down} ms; the moved page: ${JSON.stringify(marks)}; ${others.join("; ")}` };
}

/** Since `since`, no viewer's tile of anyone it sees went missing, and no chat line said one of them left or joined. */
export async function expectRosterKept(viewers: Viewer[], since: number): Promise<void> {
  for (const v of viewers) {
    const w = await watched(v.page);
    for (const other of v.sees) {
      expect(w.missing[other] ?? [], `${v.nick}: ${other}'s tile went missing`).toEqual([]);
      const said = w.lines.filter(([l, at]) => at >= since && l.includes(other)).map(([l]) => l);
      expect(said, `${v.nick}: the chat said ${other} left or joined`).toEqual([]);
    }
  }
}

/**
 * One test file's stack (started before its tests, stopped after) and the pages its tests open (closed after each
 * test; on a failure their logs, what the watcher saw, and the bridge's output are printed first).
 */
export function netchangeSuite(opts: { bridge: boolean }): { readonly stack: NetchangeStack; open: Participant[] } {
  let stack: NetchangeStack | undefined;
  const open: Participant[] = [];
  beforeAll(async () => {
    stack = await startNetchangeStack(opts);
  }, 240_000);
  afterAll(async () => {
    await stack?.stop();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const p of open) {
        const w = await watched(p.page).catch(() => undefined);
        console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}\nwatched: ${JSON.stringify(w)}`);
      }
      if (stack?.bridge) console.error(`bridge output (tail):\n${stack.bridge.output().slice(-3000)}`);
    }
    await Promise.all(open.splice(0).map((p) => p.close()));
  });
  return {
    get stack(): NetchangeStack {
      if (!stack) throw new Error("the stack is not started");
      return stack;
    },
    open,
  };
}
