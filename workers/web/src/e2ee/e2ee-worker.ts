/**
 * The frame-encryption worker: every encoded audio and video frame of a call passes through here, sent or received.
 * One worker per page holds the SFrame keys (FrameKeys) for all streams; frames arrive either through
 * RTCRtpScriptTransform (`rtctransform` event) or as the streams of createEncodedStreams() posted by the page.
 * Rules (fail closed):
 *   - a sender with no key holds the frame until the key comes, a moment at most, then drops it: nothing leaves
 *     unencrypted;
 *   - a receiver holds a frame of an epoch whose keys may still come (key-wait.ts), a moment at most; it drops every
 *     frame it cannot decrypt (no key, wrong key, replay, junk), so the decoder never sees ciphertext; once frames
 *     decrypt again after drops, it asks for a key frame (the decoder's references are gone);
 *   - a codec other than VP8 (video) or Opus (audio) is dropped, since its clear bytes are unknown (codec.ts).
 */
import { codecFromMime, type MediaCodec } from "./codec";
import { FrameDecryptError, FrameKeys } from "./frame-keys";
import { HoldWindow, KeyWait, withKeys } from "./key-wait";
import type { FromWorker, StreamInfo, StreamStats, ToWorker } from "./transform-protocol";

/** RTCEncodedVideoFrame / RTCEncodedAudioFrame, the parts used here */
interface EncodedFrame {
  data: ArrayBuffer;
  getMetadata?: () => { mimeType?: string };
}

/** RTCRtpScriptTransformer (WebRTC Encoded Transform §4.6); the key-frame methods are missing in some browsers */
interface ScriptTransformer {
  readable: ReadableStream<EncodedFrame>;
  writable: WritableStream<EncodedFrame>;
  options: StreamInfo;
  generateKeyFrame?: () => Promise<unknown>;
  sendKeyFrameRequest?: () => Promise<unknown>;
}

interface WorkerScope {
  postMessage(m: FromWorker): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  onrtctransform: ((e: { transformer: ScriptTransformer }) => void) | null;
}

/** at most one key-frame request per stream in this many ms (the sender answers each one with a large frame) */
const KEY_FRAME_REQUEST_GAP_MS = 1000;
/**
 * How long a stream holds a frame whose keys have not come yet (key-wait.ts): a membership change reaches the pages
 * within a few hundred ms of each other, more on a busy machine.
 */
const HOLD_MS = 1500;

const scope = self as unknown as WorkerScope;
const keys = new FrameKeys({ now: () => Date.now() });
const keyWait = new KeyWait();
class NoKeyYet extends Error {}
const streams = new Map<number, StreamStats>();
/** senders that dropped frames for lack of a key: on the first key they ask their encoder for a key frame */
const senderWaiting = new Map<number, ScriptTransformer | undefined>();

function codecOf(kind: StreamInfo["kind"], frame: EncodedFrame): MediaCodec | undefined {
  const expected: MediaCodec = kind === "video" ? "vp8" : "opus";
  const mime = frame.getMetadata?.().mimeType;
  if (mime === undefined || mime === "") return expected;
  return codecFromMime(mime) === expected ? expected : undefined;
}

function isVp8KeyFrame(data: Uint8Array): boolean {
  return data.length > 0 && (data[0]! & 0x01) === 0;
}

function drop(st: StreamStats, why: string): void {
  st.dropped++;
  st.lastDrop = why;
}

function sendTransform(st: StreamStats, transformer: ScriptTransformer | undefined): Transformer<EncodedFrame, EncodedFrame> {
  const hold = new HoldWindow(HOLD_MS);
  return {
    async transform(frame, controller) {
      const codec = codecOf(st.info.kind, frame);
      if (!codec) return drop(st, "unsupported codec");
      const plain = new Uint8Array(frame.data);
      try {
        const out = await withKeys(
          () => {
            if (keys.epoch === undefined) throw new NoKeyYet("no key");
            return keys.encrypt(codec, plain, st.info.context);
          },
          (e) => e instanceof NoKeyYet,
          hold,
          keyWait,
        );
        frame.data = out.buffer as ArrayBuffer;
        st.passed++;
        st.bytesIn += plain.length;
        st.bytesOut += out.length;
        controller.enqueue(frame);
      } catch (e) {
        if (e instanceof NoKeyYet) senderWaiting.set(st.info.id, transformer);
        drop(st, (e as Error).message);
      }
    },
  };
}

function receiveTransform(st: StreamStats, transformer: ScriptTransformer | undefined): Transformer<EncodedFrame, EncodedFrame> {
  /** frames were dropped since the last video key frame that got through: the decoder cannot go on */
  let broken = false;
  let lastRequest = -Infinity;
  const hold = new HoldWindow(HOLD_MS);
  return {
    async transform(frame, controller) {
      const codec = codecOf(st.info.kind, frame);
      if (!codec) return drop(st, "unsupported codec");
      const data = new Uint8Array(frame.data);
      try {
        const { frame: plain } = await withKeys(
          () => keys.decrypt(codec, data),
          (e) => e instanceof FrameDecryptError && e.keyMayCome,
          hold,
          keyWait,
        );
        frame.data = plain.buffer as ArrayBuffer;
        st.passed++;
        st.bytesIn += data.length;
        st.bytesOut += plain.length;
        if (codec === "vp8" && broken) {
          if (isVp8KeyFrame(plain)) broken = false;
          else if (Date.now() - lastRequest >= KEY_FRAME_REQUEST_GAP_MS) {
            lastRequest = Date.now();
            requestKeyFrame(st, transformer);
          }
        }
        controller.enqueue(frame);
      } catch (e) {
        const reason = (e as { reason?: string }).reason ?? (e as Error).message;
        if (codec === "vp8") broken = true;
        drop(st, reason);
      }
    },
  };
}

/** RTCRtpScriptTransformer.sendKeyFrameRequest sends a PLI/FIR to the sender; the page is told either way. */
function requestKeyFrame(st: StreamStats, transformer: ScriptTransformer | undefined): void {
  const requested = typeof transformer?.sendKeyFrameRequest === "function";
  if (requested) transformer!.sendKeyFrameRequest!().catch(() => undefined);
  scope.postMessage({ type: "keyframe-needed", id: st.info.id, participant: st.info.participant, kind: st.info.kind, requested });
}

function run(info: StreamInfo, readable: ReadableStream<EncodedFrame>, writable: WritableStream<EncodedFrame>, transformer?: ScriptTransformer): void {
  const st: StreamStats = { info, passed: 0, dropped: 0, bytesIn: 0, bytesOut: 0 };
  streams.set(info.id, st);
  const t = info.side === "send" ? sendTransform(st, transformer) : receiveTransform(st, transformer);
  readable
    .pipeThrough(new TransformStream(t))
    .pipeTo(writable)
    .catch((e: unknown) => scope.postMessage({ type: "error", id: info.id, message: String(e) }))
    .finally(() => streams.delete(info.id));
}

scope.onrtctransform = (e) => {
  const t = e.transformer;
  run(t.options, t.readable, t.writable, t);
};

scope.onmessage = (e) => {
  const m = e.data;
  switch (m.type) {
    case "epoch": {
      keys.setEpoch(m.keys);
      keyWait.keysChanged();
      // Receivers could not decode anything before: the first frames our senders encrypt must be a key frame.
      for (const t of senderWaiting.values()) t?.generateKeyFrame?.().catch(() => undefined);
      senderWaiting.clear();
      return;
    }
    case "clear":
      keys.clear();
      return;
    case "streams":
      run(m.info, m.readable as ReadableStream<EncodedFrame>, m.writable as WritableStream<EncodedFrame>);
      return;
    case "stats":
      scope.postMessage({ type: "stats", requestId: m.requestId, streams: [...streams.values()].map((s) => ({ ...s })) });
      return;
    default: {
      const never: never = m;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
};
