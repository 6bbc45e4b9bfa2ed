/**
 * A three-person call on one of two real bridge hosts, and what happens when that host fails: shared by
 * test/node/e2e-bridge-failover.test.ts and `npm run bench:recovery` (test/bench/recovery.ts).
 *
 * The edge (`wrangler dev`) is configured once with both bridges' control and public URLs; each bridge listens on
 * fixed ports, so that a failed one is replaced by a fresh process on the same URLs (the same identity and control
 * key) before the next round.
 *
 * Faults: `kill` (SIGKILL of the bridge process and its media workers: sockets close at once), `freeze` (SIGSTOP of
 * the same processes: sockets stay open and nothing answers, like a host that drops off the network) and `worker`
 * (SIGKILL of the room's mediasoup worker process: the bridge replaces it and recreates the room, closing the pages'
 * sockets with 4503).
 * Recovery time: from the fault until every page decodes video from both others again, from the pages' own
 * <video> elements sampled every SAMPLE_MS inside the pages (the wall clock is shared with this process).
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { startBridge, strongSecret, type BridgeHandle } from "./bridge-harness";
import { openReadyParticipants } from "./bridge-participants";
import { join, launchBrowser, waitForCall, waitForRemoteVideo, type Participant } from "./browser";
import { freshRoom, startWebTarget, type WebTarget } from "./web-app";
import { freePort } from "./wrangler-dev";

export type Fault = "kill" | "freeze" | "worker";

const NICKS = ["alice", "bob", "carol"] as const;
/** Generous: the move to the bridge of three pages took up to a minute on a loaded 2-core machine (e2e-bridge.test.ts). */
const SETUP_TIMEOUT_MS = 150_000;
const SAMPLE_MS = 100;
/** No new frame from someone for this long: their video stalled (the fake camera sends 30 frames a second). */
const STALL_MS = 400;
/** Video that has not stalled this long after the fault never did. */
const NO_STALL_MS = 5000;

/** PIDs of the mediasoup-worker processes a bridge process started. */
export function workerPids(bridgePid: number): number[] {
  const children = readdirSync(`/proc/${bridgePid}/task`).flatMap((t) =>
    readFileSync(`/proc/${bridgePid}/task/${t}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number),
  );
  return children.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim().startsWith("mediasoup-work");
    } catch {
      return false; // exited meanwhile
    }
  });
}

interface Slot {
  env: Record<string, string>;
  controlUrl: string;
  wsBaseUrl: string;
  handle: BridgeHandle;
}

export interface FailoverStack {
  target: WebTarget;
  browser: Browser;
  bridges: Slot[];
  /** both bridges up (a failed one replaced by a fresh process on the same URLs) */
  heal(): Promise<void>;
  stop(): Promise<void>;
}

export async function startFailoverStack(): Promise<FailoverStack> {
  const secret = strongSecret();
  const slots: Slot[] = [];
  for (let i = 0; i < 2; i++) {
    const [http, control] = [await freePort(), await freePort()];
    const env = { BRIDGE_SECRET: secret, HTTP_PORT: String(http), CONTROL_PORT: String(control) };
    const handle = await startBridge({ env });
    slots.push({ env, controlUrl: handle.controlUrl, wsBaseUrl: handle.wsBaseUrl, handle });
  }
  const [target, browser] = await Promise.all([
    startWebTarget(
      {
        BRIDGES: slots.map((s) => s.controlUrl).join(","),
        BRIDGE_PUBLIC_ORIGINS: slots.map((s) => s.wsBaseUrl).join(","),
        BRIDGE_SECRET: secret,
      },
      { snapshot: true },
    ),
    launchBrowser(),
  ]);
  const heal = async () => {
    for (const s of slots) {
      const p = s.handle.process;
      if (p.exitCode === null && p.signalCode === null && !frozen.has(p.pid!)) continue;
      killTree(p.pid!);
      await s.handle.stop().catch(() => null);
      frozen.delete(p.pid!);
      s.handle = await startBridge({ env: s.env });
    }
  };
  return {
    target,
    browser,
    bridges: slots,
    heal,
    stop: async () => {
      await browser.close();
      await target.stop();
      for (const s of slots) killTree(s.handle.process.pid!);
      await Promise.all(slots.map((s) => s.handle.stop().catch(() => null)));
    },
  };
}

/** Processes stopped by a `freeze` (they are killed, not resumed, by heal()). */
const frozen = new Set<number>();

function signalTree(pid: number, signal: NodeJS.Signals): void {
  let workers: number[] = [];
  try {
    workers = workerPids(pid);
  } catch {
    /* gone */
  }
  for (const p of [pid, ...workers]) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}

function killTree(pid: number): void {
  signalTree(pid, "SIGKILL");
}

/** The bridge WebSocket URLs the page has open. */
async function openBridgeSockets(page: Page): Promise<string[]> {
  return page.evaluate(`window.__sockets.filter((s) => s.readyState === 1 && s.protocol !== "xmpp").map((s) => s.url)`);
}

/** Which bridge every page's open bridge socket goes to (all the same one), once they agree. */
async function bridgeOfCall(stack: FailoverStack, ps: Participant[], notIdx?: number, timeoutMs = 30_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last: string[][] = [];
  for (;;) {
    last = await Promise.all(ps.map((p) => openBridgeSockets(p.page)));
    const idx = stack.bridges.map((b, i) => (last.every((urls) => urls.length > 0 && urls.every((u) => u.startsWith(b.wsBaseUrl))) ? i : -1));
    const found = idx.find((i) => i >= 0 && i !== notIdx);
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`the pages are not on one bridge: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** In the page: every SAMPLE_MS, the wall clock and how many frames each participant's <video> has rendered. */
const FRAME_LOG = `(() => {
  window.__frameLog = [];
  setInterval(() => {
    const frames = {};
    for (const v of document.querySelectorAll("video[data-participant]")) {
      const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
      frames[v.getAttribute("data-participant")] = v.srcObject && v.videoWidth > 0 ? q : 0;
    }
    window.__frameLog.push([Date.now(), frames]);
  }, ${SAMPLE_MS});
})()`;

type FrameLog = Array<[number, Record<string, number>]>;

/**
 * When `nick`'s video on this page is back after the fault at `t0`: the first new frame after a stall (no new frame for
 * STALL_MS) that is followed by more (at least 3 of the next 5 samples have new frames). `t0` itself if it never
 * stalled; undefined if not back yet.
 */
function recoveredAt(log: FrameLog, nick: string, t0: number): number | undefined {
  const s = log.filter(([t]) => t >= t0 - SAMPLE_MS).map(([t, f]) => [t, f[nick] ?? 0] as const);
  const advances = s.map(([, n], i) => i > 0 && n > s[i - 1]![1]);
  let lastAdvance = s[0]?.[0] ?? t0;
  let stalled = false;
  for (let i = 1; i < s.length; i++) {
    const [t] = s[i]!;
    if (!advances[i]) {
      if (t - lastAdvance >= STALL_MS) stalled = true;
      continue;
    }
    lastAdvance = t;
    if (!stalled) continue;
    const next = advances.slice(i + 1, i + 6);
    if (next.length < 5) return undefined; // not enough samples yet to tell
    if (next.filter(Boolean).length >= 3) return t;
  }
  return stalled || (s.at(-1)?.[0] ?? t0) < t0 + NO_STALL_MS ? undefined : t0;
}

export interface RoundResult {
  fault: Fault;
  /** ms from the fault until every page decodes both others again */
  recoveryMs: number;
  /** per page and participant */
  perPair: Record<string, number>;
  /** the bridge the call was on, and the one it is on after */
  from: number;
  to: number;
  /** per page: the app's `parley:bridge:*` and `parley:first-frame:*` performance marks, ms after the fault */
  marks: string[];
}

/** Three pages in a fresh room, on the bridge, each decoding both others (the pages are returned for closing). */
export async function threeOnTheBridge(stack: FailoverStack, open: Participant[]): Promise<Participant[]> {
  const url = `${stack.target.httpUrl}/${freshRoom("failover")}`;
  const ps = await openReadyParticipants(stack.browser, url, 3);
  open.push(...ps);
  for (const [i, p] of ps.entries()) {
    await join(p, NICKS[i]!);
    await waitForCall(p);
  }
  for (const p of ps) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: SETUP_TIMEOUT_MS });
  await Promise.all(ps.map((p, i) => waitForRemoteVideo(p.page, NICKS.filter((_, j) => j !== i), SETUP_TIMEOUT_MS)));
  return ps;
}

/** Cause `fault` on the bridge the call is on; wait until every page decodes both others again (or `timeoutMs`). */
export async function failAndRecover(stack: FailoverStack, ps: Participant[], fault: Fault, timeoutMs = 60_000): Promise<RoundResult> {
  const from = await bridgeOfCall(stack, ps);
  const bridge = stack.bridges[from]!.handle;
  const pid = bridge.process.pid!;
  await Promise.all(ps.map((p) => p.page.evaluate(FRAME_LOG)));
  await new Promise((r) => setTimeout(r, 500)); // a baseline of flowing video in the logs
  const workers = workerPids(pid);
  const t0 = Date.now();
  if (fault === "kill") signalTree(pid, "SIGKILL");
  else if (fault === "freeze") {
    frozen.add(pid);
    signalTree(pid, "SIGSTOP");
  } else {
    if (workers.length === 0) throw new Error("the bridge has no media worker to kill");
    for (const w of workers) process.kill(w, "SIGKILL");
  }
  const perPair: Record<string, number> = {};
  for (;;) {
    const logs = await Promise.all(ps.map((p) => p.page.evaluate(`window.__frameLog`) as Promise<FrameLog>));
    let all = true;
    for (const [i, log] of logs.entries()) {
      for (const nick of NICKS.filter((_, j) => j !== i)) {
        const at = recoveredAt(log, nick, t0);
        if (at === undefined) all = false;
        else perPair[`${NICKS[i]}<-${nick}`] = at - t0;
      }
    }
    if (all) break;
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`not every page decodes both others again within ${timeoutMs} ms of the ${fault}: ${JSON.stringify(perPair)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const to = await bridgeOfCall(stack, ps, fault === "worker" ? undefined : from);
  const marks = await Promise.all(
    ps.map((p) =>
      p.page.evaluate(
        `performance.getEntriesByType("mark").filter((m) => /^parley:(bridge|first-frame):/.test(m.name) && performance.timeOrigin + m.startTime >= ${t0})
          .map((m) => m.name.replace(/^parley:(bridge:)?/, "") + "@" + Math.round(performance.timeOrigin + m.startTime - ${t0})).join(" ")`,
      ) as Promise<string>,
    ),
  );
  return { fault, recoveryMs: Math.max(...Object.values(perPair)), perPair, from, to, marks };
}
