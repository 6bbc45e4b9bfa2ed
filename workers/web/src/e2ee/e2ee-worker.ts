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
 *   - a codec other than VP8 (video) or Opus (audio) is dropped, since its clear bytes are unknown (codec.ts); the
 *     codec is read on a stream's first frame, every video key frame and every CODEC_CHECK_MS.
 */
import { codecFromMime, type MediaCodec } from "./codec";
import { FrameDecryptError, FrameKeys } from "./frame-keys";
import { HoldWindow, KeyWait, withKeys } from "./key-wait";
import type { FromWorker, StreamInfo, StreamStats, ToWorker } from "./transform-protocol";

/** RTCEncodedVideoFrame / RTCEncodedAudioFrame, the parts used here */
interface EncodedFrame {
  data: ArrayBuffer;
  /** video only: "key", "delta" or "empty" */
  type?: string;
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

/**
 * How long a stream trusts its last codec check. getMetadata() builds a new dictionary at every call, a good part of
 * the per-frame cost, so a stream reads it on its first frame, on every video key frame (a video stream changes codec
 * only at a key frame) and at least every CODEC_CHECK_MS. A codec change needs a renegotiation, so this leaves a frame
 * of another codec at most that long under the codec's clear-byte rule, still encrypted and authenticated.
 */
const CODEC_CHECK_MS = 250;

class CodecCheck {
  #codec: MediaCodec | undefined;
  #until = -Infinity;

  constructor(readonly kind: StreamInfo["kind"]) {}

  of(frame: EncodedFrame): MediaCodec | undefined {
    const now = Date.now();
    if (this.#codec && now < this.#until && frame.type !== "key") return this.#codec;
    this.#codec = codecOf(this.kind, frame);
    this.#until = now + CODEC_CHECK_MS;
    return this.#codec;
  }
}

function isVp8KeyFrame(data: Uint8Array): boolean {
  return data.length > 0 && (data[0]! & 0x01) === 0;
}

function drop(st: StreamStats, why: string): void {
  st.dropped++;
  st.lastDrop = why;
}

/** One stream's frame handler: enqueue() passes a frame on; returning without it drops the frame. */
interface FrameHandler {
  transform(frame: EncodedFrame, controller: { enqueue(frame: EncodedFrame): void }): Promise<void>;
}

function sendTransform(st: StreamStats, transformer: ScriptTransformer | undefined): FrameHandler {
  const hold = new HoldWindow(HOLD_MS);
  const codecs = new CodecCheck(st.info.kind);
  return {
    async transform(frame, controller) {
      const codec = codecs.of(frame);
      if (!codec) return drop(st, "unsupported codec");
      const plain = new Uint8Array(frame.data);
      // With Opus DTX the encoder hands over an empty frame every 20 ms of silence: there is nothing to send or to
      // count, and no reason to take FrameKeys' error path (a frame shorter than its clear bytes) 50 times a second.
      if (plain.length === 0) return;
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

function receiveTransform(st: StreamStats, transformer: ScriptTransformer | undefined): FrameHandler {
  /** frames were dropped since the last video key frame that got through: the decoder cannot go on */
  let broken = false;
  let lastRequest = -Infinity;
  const hold = new HoldWindow(HOLD_MS);
  const codecs = new CodecCheck(st.info.kind);
  return {
    async transform(frame, controller) {
      const codec = codecs.of(frame);
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
  pump(readable, writable, t)
    .catch((e: unknown) => scope.postMessage({ type: "error", id: info.id, message: String(e) }))
    .finally(() => streams.delete(info.id));
}

/**
 * Read each frame, handle it, write what it passes on, in order. A loop rather than
 * `readable.pipeThrough(new TransformStream(t)).pipeTo(writable)`: the same order and one frame at a time, without the
 * second pipe and the TransformStream's queues (in a call through the bridge that took 15% more of the worker's CPU
 * per frame, docs/benchmarks.md).
 */
async function pump(readable: ReadableStream<EncodedFrame>, writable: WritableStream<EncodedFrame>, t: FrameHandler): Promise<void> {
  const reader = readable.getReader();
  const writer = writable.getWriter();
  let failed: unknown;
  const fail = (e: unknown): void => {
    failed ??= e;
  };
  const controller = {
    enqueue(frame: EncodedFrame): void {
      // The sink (the packetizer or the decoder) takes frames at once; a failed write ends the stream below.
      writer.write(frame).catch(fail);
    },
  };
  try {
    for (;;) {
      if (failed !== undefined) throw failed;
      const { done, value } = await reader.read();
      if (done) break;
      await t.transform(value, controller);
    }
    await writer.close();
  } catch (e) {
    reader.cancel(e).catch(() => undefined);
    writer.abort(e).catch(() => undefined);
    throw e;
  }
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
