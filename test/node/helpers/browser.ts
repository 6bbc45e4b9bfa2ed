/**
 * Real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) for the web app's end-to-end tests
 * and the call benchmark. Fake camera/microphone devices, auto-accepted permission prompts, no network beyond
 * loopback.
 *
 * Every RTCPeerConnection a page creates (Jingle sessions, mediasoup-client transports) is recorded in
 * `window.__pcs` by an init script, so tests read the real WebRTC stats: framesDecoded per inbound video stream
 * and the selected ICE candidate pair. WebSockets are recorded in `window.__sockets` (to simulate a network drop).
 */
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * `denyMedia`: no fake permission UI; every permission prompt is denied (to test what people see when they refuse
 * the camera and microphone).
 */
/**
 * `fakeCameras`: how many fake cameras (and microphones) the browser has (Chromium's fake device `device-count`).
 * `fakeFps`: their frame rate (Chromium's fake cameras default to 20 frames a second; webcams usually deliver 30).
 * `executablePath`: another Chromium executable, e.g. a wrapper that runs it in a network namespace (netns.ts).
 * `args`: more command-line switches.
 */
export async function launchBrowser(
  opts: { denyMedia?: boolean; fakeCameras?: number; fakeFps?: number; executablePath?: string; args?: string[] } = {},
): Promise<Browser> {
  const fake = [
    ...(opts.fakeCameras && opts.fakeCameras > 1 ? [`device-count=${opts.fakeCameras}`] : []),
    ...(opts.fakeFps ? [`fps=${opts.fakeFps}`] : []),
  ];
  return chromium.launch({
    executablePath: opts.executablePath ?? CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      fake.length > 0 ? `--use-fake-device-for-media-stream=${fake.join(",")}` : "--use-fake-device-for-media-stream",
      opts.denyMedia ? "--deny-permission-prompts" : "--use-fake-ui-for-media-stream",
      "--disable-background-networking",
      "--disable-gpu",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
      // getDisplayMedia without a picker: capture this tab (fake UI accepts the prompt).
      "--auto-accept-this-tab-capture",
      "--auto-select-desktop-capture-source=Entire screen",
      "--autoplay-policy=no-user-gesture-required",
      // Loopback-only tests: don't hide host candidates behind mDNS names.
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      ...(opts.args ?? []),
    ],
  });
}

const INIT_SCRIPT = `(() => {
  const Orig = window.RTCPeerConnection;
  window.__pcs = [];
  window.__consoleErrors = [];
  class Recorded extends Orig {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  }
  window.RTCPeerConnection = Recorded;
  const OrigWs = window.WebSocket;
  window.__sockets = [];
  class RecordedWs extends OrigWs {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  }
  window.WebSocket = RecordedWs;
})();`;

/** Simulate a network drop of the XMPP connection: close the page's open `xmpp` WebSockets abruptly. */
export async function dropXmppConnection(page: Page): Promise<number> {
  return page.evaluate(`(() => {
    const open = window.__sockets.filter((s) => s.protocol === "xmpp" && s.readyState === 1);
    for (const s of open) s.close(4000, "test: network drop");
    return open.length;
  })()`);
}

export interface Participant {
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors seen so far (for diagnostics on failure). */
  logs: string[];
  close(): Promise<void>;
}

/** A new browser context (own storage, own fake devices) with the app open at `url`. */
export async function openParticipant(
  browser: Browser,
  url: string,
  opts: { initScripts?: string[]; grantMedia?: boolean } = {},
): Promise<Participant> {
  const origin = new URL(url).origin;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  if (opts.grantMedia !== false) await context.grantPermissions(["camera", "microphone", "clipboard-read", "clipboard-write"], { origin });
  await context.addInitScript(INIT_SCRIPT);
  for (const script of opts.initScripts ?? []) await context.addInitScript(script);
  const page = await context.newPage();
  const logs: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") logs.push(`[${m.type()}] ${m.text()}`);
  });
  page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
  const inFlight = new Set<string>(); // requests not answered yet: named in the log if the load hangs
  page.on("request", (r) => {
    inFlight.add(r.url());
    if (!r.url().startsWith(origin) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) {
      logs.push(`[third-party request] ${r.url()}`);
    }
  });
  page.on("requestfinished", (r) => inFlight.delete(r.url()));
  page.on("requestfailed", (r) => inFlight.delete(r.url()));
  try {
    await page.goto(url);
  } catch (e) {
    // Seen once in ~50 CI runs: a page load from `wrangler dev` never finishing (30 s). Say which request hung, then
    // load the page again, as a person would; a second hang fails the test.
    if (!(e instanceof Error) || e.name !== "TimeoutError") throw e;
    console.error(`page load timed out (${url}); unanswered: ${[...inFlight].join(", ") || "none"}; loading it again`);
    await page.goto(url);
  }
  return { context, page, logs, close: () => context.close() };
}

/** On the hair check: type the name (and password), click Join, wait for the call screen or a hair-check message. */
export async function join(p: Participant, name: string, password?: string): Promise<void> {
  const { page } = p;
  await page.getByLabel("Name", { exact: true }).fill(name);
  if (password !== undefined) await page.getByLabel("Room password").fill(password);
  await page.getByRole("button", { name: "Join", exact: true }).click();
}

export async function waitForCall(p: Participant, timeoutMs = 60_000): Promise<void> {
  await p.page.locator("[data-media-mode]").waitFor({ timeout: timeoutMs });
}

export async function mediaMode(p: Participant): Promise<string | null> {
  return p.page.locator("[data-media-mode]").getAttribute("data-media-mode");
}

/** Sum of framesDecoded over every inbound video RTP stream of every peer connection on the page. */
export async function framesDecoded(page: Page): Promise<number> {
  return inboundSum(page, "video", "framesDecoded");
}

/** Sum of one counter of the inbound RTP streams of one kind, over every peer connection on the page. */
async function inboundSum(page: Page, kind: "audio" | "video", field: string): Promise<number> {
  return page.evaluate(`(async () => {
    let n = 0;
    for (const pc of window.__pcs) {
      if (pc.connectionState === "closed") continue;
      const stats = await pc.getStats();
      stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === ${JSON.stringify(kind)}) n += s[${JSON.stringify(field)}] || 0; });
    }
    return n;
  })()`);
}

/** Frames decoded so far per remote participant video element (`data-participant`), from the element itself. */
async function framesPerParticipant(page: Page): Promise<Record<string, number>> {
  return page.evaluate(`(() => {
    const out = {};
    for (const v of document.querySelectorAll("video[data-participant]")) {
      const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
      out[v.getAttribute("data-participant")] = v.srcObject && v.videoWidth > 0 ? q : 0;
    }
    return out;
  })()`);
}

/**
 * Wait until the page decodes video from every listed participant: framesDecoded (getStats) grows, and each
 * participant's <video> renders frames that keep increasing. Returns the time it took.
 */
export async function waitForRemoteVideo(page: Page, nicks: string[], timeoutMs = 45_000): Promise<number> {
  const start = Date.now();
  const first = await framesPerParticipant(page);
  const firstDecoded = await framesDecoded(page);
  for (;;) {
    const now = await framesPerParticipant(page);
    const decoded = await framesDecoded(page);
    const ok = nicks.every((n) => (now[n] ?? 0) > 0 && (now[n] ?? 0) > (first[n] ?? 0));
    if (ok && decoded > firstDecoded) return Date.now() - start;
    if (Date.now() - start > timeoutMs) {
      throw new Error(
        `no remote video from ${nicks.join(", ")} within ${timeoutMs} ms: element frames ${JSON.stringify(now)}, framesDecoded ${decoded}`,
      );
    }
    await page.waitForTimeout(100);
  }
}

/** Height of the video each connected peer connection sends now (outbound-rtp frameHeight), direct or via the bridge. */
export async function sentVideoHeights(page: Page): Promise<Array<{ via: "bridge" | "direct"; height: number }>> {
  return page.evaluate(`(async () => {
    const out = [];
    for (const pc of window.__pcs) {
      if (pc.connectionState !== "connected" || !pc.remoteDescription) continue;
      const via = pc.remoteDescription.sdp.includes("a=ice-lite") ? "bridge" : "direct";
      (await pc.getStats()).forEach((r) => {
        if (r.type === "outbound-rtp" && r.kind === "video" && r.frameHeight) out.push({ via, height: r.frameHeight });
      });
    }
    return out;
  })()`);
}

export interface CandidatePair {
  local: string;
  remote: string;
  remoteAddress: string;
}

/** The selected ICE candidate pair of every connected peer connection on the page. */
export async function selectedPairs(page: Page): Promise<CandidatePair[]> {
  return page.evaluate(`(async () => {
    const out = [];
    for (const pc of window.__pcs) {
      if (pc.connectionState !== "connected") continue;
      const stats = await pc.getStats();
      let pairId;
      stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
      const pair = pairId ? stats.get(pairId) : undefined;
      if (!pair) continue;
      const l = stats.get(pair.localCandidateId), r = stats.get(pair.remoteCandidateId);
      out.push({ local: l && l.candidateType, remote: r && r.candidateType, remoteAddress: r && (r.address || r.ip) });
    }
    return out;
  })()`);
}

/** Poll `fn` until it returns a truthy value or the timeout passes (generous defaults for a loaded machine). */
export async function eventually<T>(fn: () => Promise<T>, what: string, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/**
 * Test fixture for screen sharing: headless Chromium has no screen to capture, so getDisplayMedia returns a
 * real canvas capture track painted solid magenta (a colour the fake camera never shows) at 640x360.
 */
export const MAGENTA_SCREEN = `(() => {
  navigator.mediaDevices.getDisplayMedia = async () => {
    const c = document.createElement("canvas");
    c.width = 640; c.height = 360;
    const g = c.getContext("2d");
    const paint = () => { g.fillStyle = "rgb(255,0,255)"; g.fillRect(0, 0, c.width, c.height); g.fillStyle = "rgb(250,0,250)"; g.fillRect(0, 0, 2, 2); };
    paint();
    setInterval(paint, 50);
    return c.captureStream(20);
  };
})();`;

/** The colour at the centre of the remote participant's video, as rendered on the page. */
export async function centrePixel(page: Page, nick: string): Promise<[number, number, number]> {
  return page.evaluate(`(() => {
    const v = document.querySelector('video[data-participant=' + JSON.stringify(${JSON.stringify(nick)}) + ']');
    if (!v || !v.videoWidth) return [0, 0, 0];
    const c = document.createElement("canvas");
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext("2d");
    g.drawImage(v, 0, 0);
    const d = g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data;
    return [d[0], d[1], d[2]];
  })()`);
}

/**
 * An init script for a camera slower than the person: getUserMedia answers only `ms` after the page's first form
 * submit (Join), or after 20 s without one. A real camera takes a second or two to start while the fake device
 * answers at once; tying the delay to the click makes "Join clicked before the devices were ready" certain, however
 * slowly a loaded machine runs the test.
 */
export function slowGetUserMedia(ms: number): string {
  return `(() => {
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) return;
    const gum = md.getUserMedia.bind(md);
    const clicked = new Promise((r) => {
      addEventListener("submit", () => r(undefined), { capture: true, once: true });
      setTimeout(r, 20000);
    });
    md.getUserMedia = (c) => clicked.then(() => new Promise((r) => setTimeout(r, ${ms}))).then(() => gum(c));
  })();`;
}

/** Sum of totalAudioEnergy over every inbound audio RTP stream of every peer connection on the page (0 if silent). */
async function audioEnergyReceived(page: Page): Promise<number> {
  return inboundSum(page, "audio", "totalAudioEnergy");
}

/** Audio RTP packets the page receives per second, over `ms` (every inbound audio stream together). */
export async function audioPacketsPerSecond(page: Page, ms: number): Promise<number> {
  const first = await inboundSum(page, "audio", "packetsReceived");
  const t0 = Date.now();
  await page.waitForTimeout(ms);
  return ((await inboundSum(page, "audio", "packetsReceived")) - first) / ((Date.now() - t0) / 1000);
}

/** Wait until the page hears sound: received audio energy grows (the fake microphone beeps twice a second). */
export async function waitForRemoteAudio(page: Page, timeoutMs = 45_000): Promise<void> {
  const first = await audioEnergyReceived(page);
  await eventually(async () => (await audioEnergyReceived(page)) > first, "remote audio heard", timeoutMs);
}

/** Is the page's own preview (`video[data-local]`) showing camera frames? */
export async function localPreviewPlaying(page: Page): Promise<boolean> {
  return page.locator("video[data-local]").evaluate((el) => {
    const v = el as HTMLVideoElement;
    return !!v.srcObject && v.videoWidth > 0;
  });
}
