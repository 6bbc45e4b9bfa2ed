/**
 * Pure SDP/codec choices for direct (P2P) sessions, kept free of browser APIs so they are unit-tested
 * (test/unit/web-sdp-tuning.test.ts).
 *
 * 1. Start bitrate. Chromium starts every video sender at 300 kbps; for a 720p camera that is below its
 *    initial-frame-drop threshold, so the first frames are dropped and the resolution is stepped down before
 *    anything is sent (a slower first remote frame, even with two peer connections in one page). A
 *    `x-google-start-bitrate` format parameter on the video codecs of the *remote* description makes the sender
 *    start higher (what Jitsi and mediasoup's `videoGoogleStartBitrate` do). Other browsers ignore the parameter.
 *    Congestion control still adapts within a second if the path can't carry it.
 * 2. Codecs offered. Our direct sessions are between Parley clients only, so the offer lists Opus for audio and
 *    VP8/VP9 (+ RTX) for video (RFC 7874 and RFC 7742 make Opus and VP8 mandatory to implement): the Jingle
 *    session-initiate shrinks about threefold and so does the work of turning it into SDP and back.
 */

/**
 * 3. Send size (`sendScale`). A camera sender of a direct session starts at most START_HEIGHT lines high and goes
 *    to full size RAMP_UP_MS after its connection is up: a 360p key frame is a quarter of the pixels of a 720p one
 *    to encode, pace out and decode, and Chromium drops and downscales its first 720p frames even at 1.5 Mbit/s (one
 *    page, two peer connections: docs/benchmarks.md, "Design choices"). Through the bridge
 *    (three or more people, each decoding everyone else), cameras are sent in simulcast layers (simulcast.ts), or,
 *    with simulcast off, at most BRIDGE_HEIGHT lines high. Screen shares are always sent at full size.
 */
export const START_HEIGHT = 360;
export const RAMP_UP_MS = 1500;
export const BRIDGE_HEIGHT = 360;
/**
 * Through the bridge, a camera starts at this height (its lowest simulcast layer alone) and goes to all its layers
 * (or BRIDGE_HEIGHT, with simulcast off) once the switch is done (RAMP_UP_MS
 * after our media is sent and everyone's received). The switch is when every page encodes twice (the direct session
 * still runs) and every receiver waits for a key frame: a 180p one is a quarter of the work, and the switch of
 * `npm run bench:call -- --bridge` is faster starting at 180p (docs/benchmarks.md, "Design choices").
 */
export const BRIDGE_START_HEIGHT = 180;
/** While a room moves to the bridge, direct camera senders go down to this (their sessions end within seconds). */
export const SWITCHING_HEIGHT = 180;

/** `scaleResolutionDownBy` that sends a track `height` lines high at most `maxHeight` lines high (1: as is). */
export function sendScale(height: number | undefined, maxHeight: number | null): number {
  if (maxHeight === null || !height || !Number.isFinite(height) || height <= maxHeight) return 1;
  return height / maxHeight;
}

/** kbps; Chromium's own default is 300. */
export const START_BITRATE_KBPS = 1500;

const VIDEO_CODECS = new Set(["vp8", "vp9", "h264", "av1"]);
const OPUS = new Set(["opus"]);

/**
 * Add `name=value` to the format parameters of the given codecs in every `media` section (creating the a=fmtp line
 * if needed; left alone where the codec already has that parameter).
 */
function withFormatParameter(sdp: string, media: "audio" | "video", codecs: Set<string>, name: string, value: string): string {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  // Split into the session part and one chunk per m-section; payload types are scoped to their m-section.
  const sections: string[][] = [[]];
  for (const line of sdp.split(eol)) {
    if (line.startsWith("m=")) sections.push([]);
    sections[sections.length - 1]!.push(line);
  }
  return sections
    .map((lines) => {
      if (!lines[0]?.startsWith(`m=${media}`)) return lines;
      const codecPts = new Set<string>();
      for (const l of lines) {
        const m = /^a=rtpmap:(\d+) ([^/]+)\//.exec(l);
        if (m && codecs.has(m[2]!.toLowerCase())) codecPts.add(m[1]!);
      }
      const withFmtp = new Set(lines.map((l) => /^a=fmtp:(\d+) /.exec(l)?.[1]).filter((pt) => pt !== undefined));
      return lines.flatMap((l) => {
        const fmtp = /^a=fmtp:(\d+) /.exec(l);
        if (fmtp && codecPts.has(fmtp[1]!) && !l.includes(`${name}=`)) return [`${l};${name}=${value}`];
        const rtpmap = /^a=rtpmap:(\d+) /.exec(l);
        // RFC 4566 §6: format parameters go on a=fmtp; add one right after a=rtpmap when there is none.
        if (rtpmap && codecPts.has(rtpmap[1]!) && !withFmtp.has(rtpmap[1]!)) return [l, `a=fmtp:${rtpmap[1]} ${name}=${value}`];
        return [l];
      });
    })
    .flat()
    .join(eol);
}

/** Add `x-google-start-bitrate` to every video codec's format parameters (1. above). */
export function withStartBitrate(sdp: string, kbps = START_BITRATE_KBPS): string {
  return withFormatParameter(sdp, "video", VIDEO_CODECS, "x-google-start-bitrate", String(kbps));
}

/**
 * 4. Opus DTX (RFC 7587 §6.1 `usedtx`, in the description of the side that receives): while someone is silent, their
 * Opus encoder sends a packet every 400 ms instead of 50 a second. Most of a call is most people listening: less to
 * send, to encrypt end to end and decrypt, and to forward through the bridge, and Chromium's receiver fills the gaps
 * with comfort noise. The bridge path asks for it too (bridge-send.ts, mediasoup-client's `opusDtx`).
 */
export function withOpusDtx(sdp: string): string {
  return withFormatParameter(sdp, "audio", OPUS, "usedtx", "1");
}

/** What a direct session's remote descriptions get: 1. and 4. above. */
export function tuneRemoteSdp(sdp: string): string {
  return withOpusDtx(withStartBitrate(sdp));
}

export interface CodecLike {
  mimeType: string;
  sdpFmtpLine?: string;
}

/**
 * The codecs our direct sessions offer, in order of preference: Opus for audio; VP8 then VP9 (profile 0) for video,
 * then RTX (retransmission, RFC 4588). If the browser has none of them, everything it has.
 */
export function preferredCodecs<C extends CodecLike>(kind: "audio" | "video", available: readonly C[]): C[] {
  const name = (c: C) => c.mimeType.split("/")[1]!.toLowerCase();
  if (kind === "audio") {
    const opus = available.filter((c) => name(c) === "opus");
    return opus.length > 0 ? opus : [...available];
  }
  const vp8 = available.filter((c) => name(c) === "vp8");
  const vp9 = available.filter((c) => name(c) === "vp9" && !/profile-id=[^0]/.test(c.sdpFmtpLine ?? ""));
  const rtx = available.filter((c) => name(c) === "rtx");
  const main = [...vp8, ...vp9];
  return main.length > 0 ? [...main, ...rtx] : [...available];
}
