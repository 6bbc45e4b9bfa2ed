/**
 * For the web app's tests through the bridge (simulcast, off-screen videos, active speaker): the stack they run on,
 * in-page probes of what a page receives per participant, and ways to force how large a participant's tile is
 * rendered.
 */
import type { Browser, Page } from "playwright-core";
import { startBridge, type BridgeHandle } from "./bridge-harness";
import { launchBrowser } from "./browser";
import { startWebTarget, type WebTarget } from "./web-app";

export interface Received {
  frameWidth: number;
  frameHeight: number;
  bytesReceived: number;
  framesDecoded: number;
  /** for diagnosis: key frames decoded, frames received (assembled) and dropped, key frame requests sent (PLI) */
  keyFramesDecoded: number;
  framesReceived: number;
  framesDropped: number;
  pliCount: number;
  audioBytes: number;
}

/**
 * What this page receives of each participant through the bridge: the inbound-rtp of the tracks on their tile's
 * `<video>` (matched by track id), on the bridge's peer connections (ICE lite).
 */
export async function receivedFrom(page: Page): Promise<Record<string, Received>> {
  return page.evaluate(`(async () => {
    const byTrack = new Map();
    for (const pc of window.__pcs) {
      if (pc.connectionState === "closed" || !pc.remoteDescription || !pc.remoteDescription.sdp.includes("a=ice-lite")) continue;
      (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.trackIdentifier) byTrack.set(s.trackIdentifier, s); });
    }
    const out = {};
    for (const v of document.querySelectorAll("video[data-participant]")) {
      const s = v.srcObject;
      if (!s || !s.getVideoTracks) continue;
      const vt = s.getVideoTracks()[0];
      const at = s.getAudioTracks()[0];
      const vs = vt && byTrack.get(vt.id);
      const as = at && byTrack.get(at.id);
      if (!vs) continue;
      out[v.dataset.participant] = {
        frameWidth: vs.frameWidth || 0,
        frameHeight: vs.frameHeight || 0,
        bytesReceived: vs.bytesReceived || 0,
        framesDecoded: vs.framesDecoded || 0,
        keyFramesDecoded: vs.keyFramesDecoded || 0,
        framesReceived: vs.framesReceived || 0,
        framesDropped: vs.framesDropped || 0,
        pliCount: vs.pliCount || 0,
        audioBytes: (as && as.bytesReceived) || 0,
      };
    }
    return out;
  })()`);
}

/**
 * Force `nick`'s video on this page to `css` (e.g. "width:160px;height:90px" or "display:none"), whatever element
 * shows it now or later; `null` removes what was forced.
 */
export async function forceTile(page: Page, nick: string, css: string | null): Promise<void> {
  const rules = css === null ? null : css.split(";").filter(Boolean).map((r) => `${r} !important`).join(";");
  // A constructed style sheet: the app's Content-Security-Policy (style-src 'self') refuses <style> elements.
  await page.evaluate(`(() => {
    const nick = ${JSON.stringify(nick)};
    const rules = ${JSON.stringify(rules)};
    window.__forcedTiles ??= new Map();
    const old = window.__forcedTiles.get(nick);
    if (old) document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== old);
    window.__forcedTiles.delete(nick);
    if (rules === null) return;
    const sheet = new CSSStyleSheet();
    sheet.replaceSync('video[data-participant="' + CSS.escape(nick) + '"] { ' + rules + ' }');
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    window.__forcedTiles.set(nick, sheet);
  })()`);
}

/** When this page was told each active speaker by the bridge (its `parley:bridge:speaker:<nick>` marks, Date.now() scale). */
export async function speakerMarks(page: Page): Promise<Array<{ nick: string; at: number }>> {
  return page.evaluate(`performance.getEntriesByType("mark").filter((m) => m.name.startsWith("parley:bridge:speaker:"))
    .map((m) => ({ nick: m.name.slice("parley:bridge:speaker:".length), at: performance.timeOrigin + m.startTime }))`);
}

/**
 * Init script: microphones that sound like someone talking, instead of Chromium's fake one, which beeps briefly twice
 * a second: a 440 Hz tone through WebAudio whose loudness swells and fades three times a second (syllables), from
 * nearly silent to loud. The bridge's ActiveSpeakerObserver (Volfin and Cohen's dominant speaker identification)
 * scores sparse beeps as barely speaking, and it takes the quietest level a speaker keeps sending as that speaker's
 * background noise: a tone of constant loudness becomes, after some seconds, "noise" that never wins the floor again.
 */
export const SPEAKING_MICROPHONE = `(() => {
  const md = navigator.mediaDevices;
  const orig = md.getUserMedia.bind(md);
  let tone; // one tone per page, a clone of its track per request
  md.getUserMedia = async (c) => {
    const s = await orig(c);
    if (!c || !c.audio) return s;
    if (!tone) {
      const ctx = new AudioContext();
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      gain.gain.value = 0.16; // swings from 0.01 to 0.31 with the syllable oscillator below
      const syllables = ctx.createOscillator();
      syllables.frequency.value = 3;
      const depth = ctx.createGain();
      depth.gain.value = 0.15;
      syllables.connect(depth).connect(gain.gain);
      const dest = ctx.createMediaStreamDestination();
      osc.connect(gain).connect(dest);
      osc.start();
      syllables.start();
      void ctx.resume();
      tone = dest.stream.getAudioTracks()[0];
    }
    for (const t of s.getAudioTracks()) { s.removeTrack(t); t.stop(); }
    s.addTrack(tone.clone());
    return s;
  };
})();`;

/** Click `name` on this page and return when it was clicked, on the page's clock (Date.now()). */
export async function clickAt(page: Page, name: string): Promise<number> {
  return page.evaluate(`(() => {
    const b = [...document.querySelectorAll("button")].find((x) => x.textContent.trim() === ${JSON.stringify(name)} || x.getAttribute("aria-label") === ${JSON.stringify(name)});
    if (!b) throw new Error("no button " + ${JSON.stringify(name)});
    const at = Date.now();
    b.click();
    return at;
  })()`);
}

/** A bridge host, the edge (snapshot) pointed at it, and a Chromium: what the web app's bridge tests run on. */
export interface BridgeStack {
  bridge: BridgeHandle;
  target: WebTarget;
  browser: Browser;
  stop(): Promise<void>;
}

/**
 * `bridgeEnv`: extra settings of the bridge host (e.g. LOG_LEVEL=debug: key frames, PLIs and layer changes logged);
 * `browserArgs`: extra Chromium flags.
 */
export async function startBridgeStack(bridgeEnv: Record<string, string> = {}, browserArgs: string[] = []): Promise<BridgeStack> {
  const bridge = await startBridge({ env: bridgeEnv });
  const [target, browser] = await Promise.all([
    startWebTarget({ BRIDGES: bridge.controlUrl, BRIDGE_PUBLIC_ORIGINS: bridge.wsBaseUrl, BRIDGE_SECRET: bridge.secret }, { snapshot: true }),
    launchBrowser({ args: browserArgs }),
  ]);
  return {
    bridge,
    target,
    browser,
    async stop() {
      await browser.close();
      await target.stop();
      await bridge.stop();
    },
  };
}
