/**
 * Init scripts for end-to-end tests and benchmarks of the web app's media encryption, through the test-only hooks
 * (workers/web/src/e2ee/test-key-hook.ts), installed before the app runs. Without them a page encrypts with its
 * room's MLS group, as the product does.
 *  - groupKeysScript: a fixed group key source instead of the MLS group's. Every page of a call gets the same epoch
 *    base key (16 random bytes: the shared secret of the test) and its own sender index, so each sender has its own
 *    SFrame key (RFC 9605 §5.2), exactly as an MLS epoch would give them.
 *  - PLAINTEXT: no frame encryption at all (the benchmarks' baseline; a page that does not decrypt).
 */
import { randomBytes } from "node:crypto";

/** The group's shared secret for one call: one per test. */
export function groupSecret(): number[] {
  return [...randomBytes(16)];
}

/** Init script giving the page the group's keys for epoch 1 as sender `ownIndex` of `leafCount`. */
export function groupKeysScript(secret: number[], ownIndex: number, leafCount = 8): string {
  return `(() => {
    const keys = { epoch: 1n, baseKey: new Uint8Array(${JSON.stringify(secret)}), leafCount: ${leafCount}, ownIndex: ${ownIndex} };
    window.__parleyTestGroupKeys = {
      onEpoch: () => () => undefined,
      current: () => keys,
      members: () => [],
      safetyCode: () => undefined,
    };
  })();`;
}

/** Init script: the page's call sends and receives frames unencrypted (`[data-e2ee]` stays `off`). */
export const PLAINTEXT = "window.__parleyTestPlaintext = true;";

/** Init script of a browser without encoded transforms (neither RTCRtpScriptTransform nor createEncodedStreams). */
export const NO_ENCODED_TRANSFORMS = `(() => {
  delete window.RTCRtpScriptTransform;
  delete RTCRtpSender.prototype.createEncodedStreams;
  delete RTCRtpReceiver.prototype.createEncodedStreams;
})();`;

/** The known picture and sound of KNOWN_MEDIA: a magenta camera and a 440 Hz microphone. */
const KNOWN_TONE_HZ = 440;
export const isMagenta = ([r, g, b]: [number, number, number]): boolean => r > 200 && g < 60 && b > 200;

/**
 * Init script: the camera shows a known picture (all magenta, repainted 20 times a second) and the microphone plays a
 * known sound (a 440 Hz sine): whoever decodes them can be told from whoever only receives bytes.
 */
export const KNOWN_MEDIA = `(() => {
  const md = navigator.mediaDevices;
  const orig = md.getUserMedia.bind(md);
  md.getUserMedia = async (c) => {
    const real = await orig(c);
    const out = new MediaStream();
    for (const t of real.getTracks()) {
      if (t.kind === "video") {
        const canvas = document.createElement("canvas");
        canvas.width = 640; canvas.height = 360;
        const g = canvas.getContext("2d");
        let n = 0;
        const paint = () => { g.fillStyle = "rgb(255,0,255)"; g.fillRect(0, 0, 640, 360); g.fillStyle = "rgb(250,0,250)"; g.fillRect(0, 0, 2 + (n++ % 8), 2); };
        paint();
        setInterval(paint, 50);
        out.addTrack(canvas.captureStream(20).getVideoTracks()[0]);
      } else {
        const ctx = new AudioContext();
        const osc = ctx.createOscillator();
        osc.frequency.value = ${KNOWN_TONE_HZ};
        const gain = ctx.createGain();
        gain.gain.value = 0.5;
        const dest = ctx.createMediaStreamDestination();
        osc.connect(gain).connect(dest);
        osc.start();
        out.addTrack(dest.stream.getAudioTracks()[0]);
      }
      t.stop();
    }
    return out;
  };
})();`;

/**
 * In the page: for each live remote audio track of its connected peer connections, the share of the received
 * sound's power that is at the known tone (0..1; 0 for silence), measured over `ms`.
 */
export function toneShareScript(ms = 1500): string {
  return `(async () => {
    const ctx = new AudioContext();
    const tracks = [];
    for (const pc of window.__pcs) {
      if (pc.connectionState !== "connected") continue;
      for (const r of pc.getReceivers()) if (r.track && r.track.kind === "audio" && r.track.readyState === "live") tracks.push(r.track);
    }
    const analysers = tracks.map((t) => {
      const a = ctx.createAnalyser();
      a.fftSize = 4096;
      ctx.createMediaStreamSource(new MediaStream([t])).connect(a);
      return a;
    });
    const sums = analysers.map(() => ({ tone: 0, all: 0 }));
    const binHz = ctx.sampleRate / 4096;
    const end = Date.now() + ${ms};
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      analysers.forEach((a, i) => {
        const d = new Float32Array(a.frequencyBinCount);
        a.getFloatFrequencyData(d);
        for (let k = Math.floor(100 / binHz); k < Math.min(d.length, Math.ceil(8000 / binHz)); k++) {
          const p = Math.pow(10, d[k] / 10);
          sums[i].all += p;
          if (Math.abs(k * binHz - ${KNOWN_TONE_HZ}) <= 3 * binHz) sums[i].tone += p;
        }
      });
    }
    await ctx.close();
    return sums.map((s) => (s.all > 1e-9 ? s.tone / s.all : 0));
  })()`;
}
