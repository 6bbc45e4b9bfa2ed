/**
 * `npm run bench:call`: call set-up latency of the web app in real headless Chromium against the real edge
 * (`wrangler dev`).
 *
 *  1:1     time from the second participant's Join click to the first remote video frame on BOTH sides
 *          (each side's first `requestVideoFrameCallback` on the other's <video>), over several rounds.
 *  switch  (with --bridge, or when BRIDGE tests can run) three participants: time from the third participant's
 *          Join click until all three render video from both others (via the bridge).
 *
 * Both with the product's end-to-end encryption (every frame SFrame-encrypted with the room's MLS group's keys) and
 * without it, alternating in the same run (see E2EE).
 *
 * Targets: 1:1 ≤ 350 ms with encryption (≤ 300 ms without), ≤ 1 s for the switch. Options: --rounds N (default 5),
 * --bridge, --url http://127.0.0.1:PORT (drive an already running edge instead of starting one), --marks (print the
 * app's `parley:*` performance marks per page, in ms after the Join click, plus the trace described at TRACE below),
 * --trace-more, --chrome-trace FILE, --one-rounds N (1:1 rounds, default --rounds), --switch-rounds N (default
 * --rounds, at most 3), --one-camera, --fake-fps N (see CAMERAS below), --no-mic (see NO_MIC), --settle-ms N (see
 * SETTLE_MS), --e2ee mls|plain|both (default both, see E2EE), --people N (instead of the above: N pages in one call
 * through the bridge, per-page CPU and downlink with simulcast and without it in the same run; call-people.ts).
 * Prints figures; exits 0 even when a target is missed (it's a measurement, not a test).
 */
import type { Browser, Page } from "playwright-core";
import { join as joinCall, launchBrowser, openParticipant, selectedPairs, waitForCall, type Participant } from "../node/helpers/browser";
import { freshRoom, startWebTarget, type WebTarget } from "../node/helpers/web-app";
import { startBridge, type BridgeHandle } from "../node/helpers/bridge-harness";
import { openReadyParticipants } from "../node/helpers/bridge-participants";
import { PLAINTEXT } from "../node/helpers/e2ee-keys";
import { benchPeople } from "./call-people";
import { checkE2eeMode, e2eeModes, type E2eeMode } from "./flags";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(opt("rounds") ?? 5);
const oneRounds = Number(opt("one-rounds") ?? rounds);
const withBridge = args.includes("--bridge");
const switchRounds = Number(opt("switch-rounds") ?? Math.min(rounds, 3));
/**
 * The switch: carol clicks Join this long after alice and bob see each other (`--settle-ms`, default 3000): a person
 * joining a call in progress, rather than the instant it starts. Her hair check is open all along, so the room keeps
 * its bridge room ready meanwhile (standby, docs/architecture.md).
 */
const SETTLE_MS = Number(opt("settle-ms") ?? 3000);

/** Record the wall-clock time of the Join click inside the page (no automation overhead in the figure). */
const RECORD_CLICK = `document.addEventListener("click", (e) => {
  const b = e.target && e.target.closest && e.target.closest("button");
  if (b && b.textContent === "Join") window.__joinClickAt = Date.now();
}, true);`;

/**
 * In the page: `(added) => MutationObserver` calls `added(video)` once for every `<video>` but the local preview, those
 * there now and each as it is added (no polling); disconnect the observer it returns to stop.
 */
const EACH_VIDEO = `(added) => {
  const seen = new WeakSet();
  const scan = () => {
    for (const v of document.querySelectorAll("video:not([data-local])")) if (!seen.has(v)) (seen.add(v), added(v));
  };
  const mo = new MutationObserver(scan);
  mo.observe(document.body, { subtree: true, childList: true });
  scan();
  return mo;
}`;

/**
 * In the page: resolve with Date.now() when a frame is presented on `nick`'s tile (the `<video>` named
 * `data-participant=nick` at that moment) whose video track passes `accept` (a `(track) => boolean` expression).
 * Event-driven, so the measurement adds no work of its own while the pages connect: every `<video>` but the local
 * preview gets a requestVideoFrameCallback chain as soon as it is added (a MutationObserver, no polling), and each
 * presented frame is checked. The view names an element that replaces a tile's video (view.ts, `incoming`) in its own
 * frame callback, registered first, so that first frame counts: it is the moment the tile shows the new stream.
 */
function shownAt(nick: string, accept: string, failure: string, timeoutMs: number): string {
  return `new Promise((resolve, reject) => {
    const nick = ${JSON.stringify(nick)};
    // A track's path never changes: decide once per track, not at every frame (the check reads every peer
    // connection's remote description, work the pages being measured would otherwise pay for at each frame).
    const decided = new WeakMap();
    const test = ${accept};
    const accept = (t) => {
      if (!decided.has(t)) decided.set(t, test(t));
      return decided.get(t);
    };
    let done = false;
    const finish = () => { done = true; clearTimeout(timer); mo.disconnect(); };
    const timer = setTimeout(() => { finish(); reject(new Error(${JSON.stringify(failure)})); }, ${timeoutMs});
    const onFrame = (v) => () => {
      if (done) return;
      const t = v.srcObject && v.srcObject.getVideoTracks && v.srcObject.getVideoTracks()[0];
      if (v.isConnected && v.dataset.participant === nick && t && t.readyState === "live" && accept(t)) return (finish(), resolve(Date.now()));
      v.requestVideoFrameCallback(onFrame(v));
    };
    const mo = (${EACH_VIDEO})((v) => v.requestVideoFrameCallback(onFrame(v)));
  })`;
}

/** Resolve with Date.now() at the first presented frame of `nick`'s video (start watching before the Join click). */
function firstFrameAt(page: Page, nick: string, timeoutMs = 60_000): Promise<number> {
  return page.evaluate(shownAt(nick, "() => true", `no video from ${nick}`, timeoutMs));
}

/** The app's `parley:*` performance marks as wall-clock times (Date.now() scale). */
function marks(page: Page): Promise<Array<[string, number]>> {
  return page.evaluate(`performance.getEntriesByType("mark").filter((m) => m.name.startsWith("parley:"))
    .map((m) => [m.name.slice(7), performance.timeOrigin + m.startTime])`);
}

/** One line per page: each mark after the Join click, in ms since the click (`--marks` prints them). */
async function printMarks(ps: Array<[string, Page]>, click: number): Promise<void> {
  if (!args.includes("--marks")) return;
  for (const [who, page] of ps) {
    const ms = (await marks(page)).filter(([, t]) => t >= click - 1).sort((x, y) => x[1] - y[1]);
    console.log(`    ${who}: ${ms.map(([n, t]) => `${n} +${(t - click).toFixed(0)}`).join(", ")}`);
  }
}

/**
 * `--marks` only: long main-thread tasks (≥ 50 ms) and, per peer connection (`d` direct, `b` bridge), the first time
 * video bytes are received, frames decoded and encoded, as extra `parley:` marks (getStats polled every 50 ms).
 * `--trace-more` adds the sender's state (quality limitation, target bitrate in 100 kbit/s, encoded?, sent?), whether
 * its source delivered frames, and every gap over 150 ms between frames of the local preview.
 */
const TRACE = `(() => {
  new PerformanceObserver((l) => { for (const e of l.getEntries()) performance.mark("parley:longtask:" + Math.round(e.duration), { startTime: e.startTime }); })
    .observe({ type: "longtask", buffered: false });
  if (window.__traceMore) {
    const P = RTCPeerConnection.prototype;
    for (const m of ["createOffer", "createAnswer", "setLocalDescription", "setRemoteDescription", "addTransceiver", "addTrack", "addIceCandidate"]) {
      const orig = P[m];
      P[m] = function (...a) {
        const t = performance.now();
        const done = () => performance.mark("parley:pc." + m + ":" + Math.round(performance.now() - t), { startTime: t });
        const r = orig.apply(this, a);
        if (r && typeof r.then === "function") r.then(done, done); else done();
        return r;
      };
    }
    let last = 0;
    const tick = (now) => {
      if (last && now - last > 150) performance.mark("parley:preview-gap:" + Math.round(now - last), { startTime: last });
      last = now;
      const v = document.querySelector("video[data-local]");
      if (v) v.requestVideoFrameCallback(tick); else setTimeout(() => tick(performance.now()), 30);
    };
    tick(performance.now());
  }
  const seen = new Set();
  const once = (key) => { if (!seen.has(key)) { seen.add(key); performance.mark("parley:" + key); } };
  setInterval(async () => {
    for (const [i, pc] of window.__pcs.entries()) {
      if (pc.connectionState === "closed" || !pc.remoteDescription) continue;
      const tag = (pc.remoteDescription.sdp.includes("a=ice-lite") ? "b" : "d") + i;
      for (const r of (await pc.getStats()).values()) {
        if (r.kind !== "video") continue;
        if (r.type === "inbound-rtp") {
          if (r.bytesReceived > 0) once("rx-bytes:" + tag + ":" + r.ssrc);
          if (r.framesDecoded > 0) once("rx-decoded:" + tag + ":" + r.ssrc + ":" + r.frameWidth);
        } else if (r.type === "outbound-rtp") {
          if (r.framesEncoded > 0) once("tx-encoded:" + tag + ":" + r.frameWidth);
          if (r.pliCount > 0) once("tx-pli:" + tag);
          if (window.__traceMore) once("tx-state:" + tag + ":" + r.qualityLimitationReason + ":" + Math.round((r.targetBitrate | 0) / 100000) + ":" + (r.framesEncoded > 0) + ":" + (r.packetsSent > 0));
        } else if (r.type === "media-source" && window.__traceMore) {
          once("src:" + tag + ":" + (r.frames > 0));
        }
      }
    }
  }, 50);
})()`;

/**
 * Three people have three cameras. Chromium's fake capture device is shared by all pages of one browser: one pool
 * of frame buffers for everyone, which runs dry when three pages each hold a few (a sender waiting for its network
 * keeps its last frame, and so on) — every page's camera then freezes until some are released, a stall of over a
 * second in the middle of the switch that three real computers don't have. So the browser gets several fake cameras
 * and each page picks its own on the hair check (`--one-camera`: all share the first).
 *
 * Which ones: Chromium's fake_device_1 delivers Y16 (depth) frames, which WebRTC can't send, and fake_device_2
 * paints every frame and then JPEG-encodes it (an MJPEG camera), which alone keeps a large share of a core busy
 * (docs/benchmarks.md, "Design choices"), work a real camera does in its own hardware. Devices 0, 3 and 4 deliver
 * plain I420 frames, at Chromium's default 20 frames a second (`--fake-fps 30` for a webcam's usual rate; on this
 * 2-core machine that is slower, not faster: the 50% more frames to capture, encode and decode cost more CPU than
 * the shorter wait for the first frame saves).
 */
const CAMERAS = args.includes("--one-camera") ? 1 : 5;
const CAMERA_OF = [0, 3, 4];
const FAKE_FPS = opt("fake-fps") === undefined ? undefined : Number(opt("fake-fps"));

async function ownCamera(p: Participant, person: number): Promise<void> {
  const select = p.page.getByLabel("Camera", { exact: true });
  const i = CAMERA_OF[person]!;
  if ((await select.locator("option").count()) <= i) throw new Error(`the browser has fewer than ${i + 1} cameras`);
  if (i === 0) return;
  await p.page.locator("details.devices > summary").click(); // the device pickers are folded away
  await select.selectOption({ index: i });
  await p.page.locator("video[data-local]").evaluate(`(v, label) => new Promise((r) => {
    const t = () => { const tr = v.srcObject && v.srcObject.getVideoTracks()[0]; tr && tr.label === label && v.videoWidth > 0 ? r(0) : setTimeout(t, 20); };
    t();
  })`, await select.locator("option").nth(i).textContent());
}

/** `--trace-more`, from page creation: when a Jingle or MUC presence frame leaves or reaches the XMPP WebSocket. */
const WS_TRACE = `(() => {
  const tag = (d) => { const m = /action=["']([a-z-]+)["']/.exec(d); return m ? m[1] : (/^<presence/.test(d) ? "presence" : undefined); };
  const Orig = window.WebSocket;
  window.WebSocket = class extends Orig {
    constructor(...a) {
      super(...a);
      this.addEventListener("message", (e) => { const t = typeof e.data === "string" && tag(e.data); if (t) performance.mark("parley:ws-rx:" + t); });
    }
    send(d) { const t = typeof d === "string" && tag(d); if (t) performance.mark("parley:ws-tx:" + t); return super.send(d); }
  };
})()`;
/**
 * `--no-mic`: every page asks for the camera only (as if it had no microphone), to see what three pages' audio costs
 * here (capture with echo cancellation in Chromium's audio service, Opus, decoding and mixing everyone's audio).
 */
const NO_MIC = `(() => {
  const md = navigator.mediaDevices;
  const gum = md.getUserMedia.bind(md);
  md.getUserMedia = (c) => gum({ ...c, audio: false });
})()`;
const initScripts = [...(args.includes("--trace-more") ? [WS_TRACE] : []), ...(args.includes("--no-mic") ? [NO_MIC] : [])];
/**
 * `--e2ee mls|plain|both` (default both):
 *  - `mls`: the product. Every page encrypts every frame end to end with its room's MLS group's keys, on both paths;
 *    a newcomer's Join includes the MLS commit round trip (the room asks a member for the Add, the newcomer gets the
 *    Welcome, everyone moves to the new epoch) before its frames, and everyone's to it, can be decrypted.
 *  - `plain`: the baseline without frame encryption: the pages carry the app's test-only plaintext hook
 *    (test/node/helpers/e2ee-keys.ts PLAINTEXT), so the hair check provides no call encryption and no MLS member
 *    starts: nothing of end-to-end encryption runs.
 *  - `both`: rounds alternate between the two in one run, so that both see the same machine load; the medians of
 *    each and their difference are printed.
 * Each round checks that its pages were in the mode it claims (`[data-e2ee]` `on` or `off`).
 */
const E2EE_MODES = e2eeModes(opt("e2ee"));
/** Init scripts of a room's `n` pages. */
function scriptsFor(mode: E2eeMode, n: number): string[][] {
  return Array.from({ length: n }, () => [...initScripts, ...(mode === "plain" ? [PLAINTEXT] : [])]);
}
/**
 * Before the measured Join: with encryption, wait until the pages in the call hold their group's keys, as they do in a
 * call in progress (the first person's group is created when they join).
 */
async function keysReady(mode: E2eeMode, ps: Participant[]): Promise<void> {
  if (mode === "mls") await Promise.all(ps.map((p) => p.page.locator('[data-e2ee="on"]').waitFor({ timeout: 60_000 })));
}
/** `--chrome-trace FILE`: a Chromium trace of the last round (1:1: FILE-1to1.json), for chrome://tracing or Perfetto. */
const TRACE_CATEGORIES = ["toplevel", "blink.user_timing", "media", "webrtc", "disabled-by-default-video_and_image_capture", "video_and_image_capture", "gpu", "viz", "ipc", "mojom", "renderer.scheduler", "v8", "blink", "devtools.timeline"];

async function joinClickAt(page: Page): Promise<number> {
  return page.evaluate("window.__joinClickAt");
}

async function ready(p: Participant): Promise<void> {
  // Hair check fully settled (preview live, connectivity check done) so it doesn't compete with the join.
  await p.page.locator("video[data-local]").evaluate("v => new Promise(r => { const t = () => v.videoWidth > 0 ? r(0) : setTimeout(t, 20); t(); })");
  await p.page.locator('[data-check="parley-server"]:not([data-verdict="pending"])').waitFor({ timeout: 30_000 });
  // ...and every connectivity probe finished (they gather ICE candidates, as the prepared offer does).
  await p.page.locator('[data-check][data-verdict="pending"]').first().waitFor({ state: "detached", timeout: 30_000 });
  await p.page.evaluate(RECORD_CLICK);
  if (args.includes("--marks")) await p.page.evaluate((args.includes("--trace-more") ? "window.__traceMore = true;" : "") + TRACE);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${median(s).toFixed(0)} ms, min ${s[0]!.toFixed(0)} ms, max ${s[s.length - 1]!.toFixed(0)} ms (n=${s.length})`;
}

/** One line per mode, and with both the difference of their medians (what encryption adds). */
function report(what: string, byMode: Map<E2eeMode, number[]>, targetMs: Record<E2eeMode, number>): void {
  for (const [m, xs] of byMode) if (xs.length > 0) console.log(`${what} ${m === "mls" ? "encrypted (mls)" : "unencrypted (plain)"}: ${stats(xs)} (target ≤ ${targetMs[m]} ms)`);
  const mls = byMode.get("mls") ?? [];
  const plain = byMode.get("plain") ?? [];
  if (mls.length > 0 && plain.length > 0) console.log(`${what}: encryption adds ${(median(mls) - median(plain)).toFixed(0)} ms to the median`);
}

async function oneToOne(browser: Browser, base: string, mode: E2eeMode, rounds = oneRounds, first = 0): Promise<number[]> {
  const results: number[] = [];
  for (let r = first; r < first + rounds; r++) {
    const room = freshRoom("bench-call");
    const scripts = scriptsFor(mode, 2);
    const a = await openParticipant(browser, `${base}/${room}`, { initScripts: scripts[0] });
    const b = await openParticipant(browser, `${base}/${room}`, { initScripts: scripts[1] });
    try {
      await Promise.all([ready(a), ready(b)]);
      if (CAMERAS > 1) await Promise.all([a, b].map((p, i) => ownCamera(p, i)));
      await joinCall(a, "alice");
      await waitForCall(a);
      await keysReady(mode, [a]);
      const framesA = firstFrameAt(a.page, "bob");
      const framesB = firstFrameAt(b.page, "alice");
      const tracing = opt("chrome-trace");
      if (tracing) await browser.startTracing(undefined, { path: tracing.replace(/(\.json)?$/, "-1to1.json"), categories: TRACE_CATEGORIES });
      await joinCall(b, "bob");
      const [fa, fb] = await Promise.all([framesA, framesB]);
      if (tracing) await browser.stopTracing();
      const click = await joinClickAt(b.page);
      const total = Math.max(fa, fb) - click;
      await checkE2eeMode(mode, [a, b]);
      console.log(`  round ${r + 1} (${mode}): alice sees bob after ${fa - click} ms, bob sees alice after ${fb - click} ms -> ${total} ms`);
      results.push(total);
      await printMarks([["alice", a.page], ["bob", b.page]], click);
      if (args.includes("--marks")) {
        const [pa, pb] = await Promise.all([selectedPairs(a.page), selectedPairs(b.page)]);
        console.log(`    selected pairs (local/remote): alice ${pa.map((p) => `${p.local}/${p.remote}`).join(" ")}, bob ${pb.map((p) => `${p.local}/${p.remote}`).join(" ")}`);
      }
    } finally {
      await a.close();
      await b.close();
    }
  }
  return results;
}

/**
 * Resolve with Date.now() at the first rendered frame of `nick`'s video that comes through the media bridge: the
 * element's video track must be received on a mediasoup transport (the bridge is ICE-lite: `a=ice-lite` in the
 * transport's remote description), not on a direct Jingle session, and a frame of it must be presented (rVFC).
 */
function firstBridgeFrameAt(page: Page, nick: string, timeoutMs = 60_000): Promise<number> {
  const viaBridge = `(track) => window.__pcs.some((pc) => pc.connectionState !== "closed" && pc.remoteDescription &&
    pc.remoteDescription.sdp.includes("a=ice-lite") && pc.getReceivers().some((r) => r.track === track))`;
  return page.evaluate(shownAt(nick, viaBridge, `no video from ${nick} via the bridge`, timeoutMs));
}

/**
 * Make-before-break as the person watching sees it: from the moment it is armed, the longest time a remote tile went
 * without presenting a new frame (whichever `<video>` carries the participant's name at the time: a frozen or blank
 * tile while the view changes streams, or after a path closed too early, shows up here). At the fake cameras' 20
 * frames/s, 50 ms is a frame missed by nobody.
 */
const WATCH_GAPS = `(() => {
  window.__gaps = {};
  (${EACH_VIDEO})((v) => {
    const onFrame = () => {
      const nick = v.dataset.participant; // an incoming element is named when it replaces the tile's video
      if (nick && v.isConnected) {
        const now = performance.now();
        const g = (window.__gaps[nick] ??= { last: 0, max: 0 });
        if (g.last && window.__gapArmed) g.max = Math.max(g.max, now - g.last);
        g.last = now;
      }
      if (v.isConnected || !nick) v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  });
})()`;

async function longestGaps(page: Page): Promise<string> {
  return page.evaluate(`Object.entries(window.__gaps).map(([n, g]) => n + " " + Math.round(g.max) + " ms").join(", ")`);
}

async function threeWay(browser: Browser, base: string, mode: E2eeMode, rounds = switchRounds, first = 0): Promise<number[]> {
  const results: number[] = [];
  for (let r = first; r < first + rounds; r++) {
    const room = freshRoom("bench-bridge");
    // One after another, each once it reached the server (bridge-participants.ts: concurrent opens could stall one).
    const scripts = scriptsFor(mode, 3);
    const ps: Participant[] = [];
    for (const s of scripts) ps.push(...(await openReadyParticipants(browser, `${base}/${room}`, 1, { initScripts: s })));
    const [a, b, c] = ps as [Participant, Participant, Participant];
    try {
      await Promise.all(ps.map(ready));
      if (CAMERAS > 1) await Promise.all(ps.map((p, i) => ownCamera(p, i)));
      await joinCall(a, "alice");
      await waitForCall(a);
      await joinCall(b, "bob");
      await waitForCall(b);
      await Promise.all([firstFrameAt(a.page, "bob"), firstFrameAt(b.page, "alice")]);
      await keysReady(mode, [a, b]);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      // Every page must render both others' video via the bridge (frames of the bridge's tracks, not the direct ones).
      const want: Array<[Participant, string]> = [
        [a, "bob"],
        [a, "carol"],
        [b, "alice"],
        [b, "carol"],
        [c, "alice"],
        [c, "bob"],
      ];
      const waits = want.map(([p, nick]) => firstBridgeFrameAt(p.page, nick));
      await Promise.all([a, b].map((p) => p.page.evaluate(WATCH_GAPS + "; window.__gapArmed = true;")));
      const tracing = opt("chrome-trace");
      if (tracing) await browser.startTracing(undefined, { path: tracing, categories: TRACE_CATEGORIES });
      await joinCall(c, "carol");
      await Promise.all(ps.map((p) => p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: 60_000 })));
      const ends = await Promise.all(waits);
      if (tracing) await browser.stopTracing();
      const click = await joinClickAt(c.page);
      const total = Math.max(...ends) - click;
      await new Promise((r) => setTimeout(r, 2000)); // the direct sessions close after the bridge's first frames
      const [ga, gb] = await Promise.all([longestGaps(a.page), longestGaps(b.page)]);
      await checkE2eeMode(mode, ps);
      console.log(`  round ${r + 1} (${mode}): all three see each other ${total} ms after carol's Join; longest frame gap on alice's tiles: ${ga}; on bob's: ${gb}`);
      await printMarks([["alice", a.page], ["bob", b.page], ["carol", c.page]], click);
      results.push(total);
    } catch (e) {
      // Say what each page shows (hair-check message, call screen) and logged, so a failed round can be diagnosed.
      for (const [who, p] of [["alice", a], ["bob", b], ["carol", c]] as const) {
        const text = await p.page.evaluate("document.body.innerText.replace(/\\s+/g, ' ').slice(0, 300)").catch(() => "?");
        console.error(`  ${who}: page shows: ${String(text)}\n    logs: ${p.logs.slice(-10).join("\n          ") || "(none)"}`);
      }
      throw e;
    } finally {
      await Promise.all(ps.map((p) => p.close()));
    }
  }
  return results;
}

async function main(): Promise<void> {
  let bridge: BridgeHandle | undefined;
  let target: WebTarget | undefined;
  const url = opt("url");
  const browser = await launchBrowser({ fakeCameras: CAMERAS, fakeFps: FAKE_FPS });
  try {
    if (withBridge && !url) {
      bridge = await startBridge();
      target = await startWebTarget({ BRIDGES: bridge.controlUrl, BRIDGE_PUBLIC_ORIGINS: bridge.wsBaseUrl, BRIDGE_SECRET: bridge.secret }, { snapshot: true });
    } else if (!url) target = await startWebTarget({}, { snapshot: true });
    const base = url ?? target!.httpUrl;
    console.log(`bench:call against ${base}${bridge ? ` with bridge ${bridge.controlUrl}` : ""}; carol joins ${SETTLE_MS} ms after the 1:1 is up`);
    console.log("1:1 call, second Join click -> first remote frame on both sides:");
    // Rounds alternate between the modes (--e2ee both), so both see the same machine load.
    const one = new Map<E2eeMode, number[]>(E2EE_MODES.map((m) => [m, []]));
    for (let r = 0; r < oneRounds; r++) for (const m of E2EE_MODES) one.get(m)!.push(...(await oneToOne(browser, base, m, 1, r)));
    report("1:1", one, { mls: 350, plain: 300 });
    if (withBridge) {
      console.log("third participant joins -> all three see each other via the bridge:");
      const three = new Map<E2eeMode, number[]>(E2EE_MODES.map((m) => [m, []]));
      for (let r = 0; r < switchRounds; r++) for (const m of E2EE_MODES) three.get(m)!.push(...(await threeWay(browser, base, m, 1, r)));
      report("switch", three, { mls: 1000, plain: 1000 });
    } else {
      console.log("switch: not measured (run with --bridge to start a bridge host and measure the 3-way switch)");
    }
  } finally {
    await browser.close();
    await target?.stop();
    await bridge?.stop();
  }
}

if (args.includes("--people")) await benchPeople(args);
else await main();
