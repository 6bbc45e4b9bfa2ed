/**
 * End-to-end encryption of a call's media frames, the page side: one interface over the two ways browsers hand
 * encoded frames to script (WebRTC Encoded Transform, W3C):
 *   - `RTCRtpScriptTransform` (the standard; Chromium 141+, Firefox 117+, Safari 15.4+): frames go straight to the
 *     worker;
 *   - `createEncodedStreams()` (older Chromium): the page takes the streams and posts them to the same worker. It
 *     needs `encodedInsertableStreams: true` on the RTCPeerConnection (`rtcConfiguration()`), which also makes a
 *     sender or receiver whose streams were never taken drop its packets: an unattached track fails closed.
 * Every frame is SFrame-encrypted in the worker (e2ee-worker.ts). Senders drop frames until the first epoch's keys
 * arrive; receivers drop what they cannot decrypt and report when their decoder needs a key frame.
 *
 * Usage (one per page; the call code wires it):
 *   const e2ee = new MediaEncryption();                      // throws when e2eeSupport() is not ok
 *   new RTCPeerConnection({ ...iceConfig, ...e2ee.rtcConfiguration() });
 *   e2ee.attachSenderTransform(sender, "video", CONTEXT_CAMERA);
 *   e2ee.attachReceiverTransform(receiver, "video", participantId);
 *   e2ee.setEpoch({ epoch, baseKey, leafCount, ownIndex });   // every MLS epoch (group.ts sframeBaseKey)
 *   e2ee.onKeyFrameNeeded = ({ participant, kind, requested }) => { ... };
 */
import type { EpochKeys } from "./frame-keys";
import type { FromWorker, MediaKind, StreamInfo, StreamStats, ToWorker } from "./transform-protocol";

export type { MediaKind, StreamStats } from "./transform-protocol";
export type TransformPath = "script-transform" | "encoded-streams";

/** RFC 9605 §5.2 contexts of one sender's streams: each has its own KID and counter */
export const CONTEXT_AUDIO = 0;
export const CONTEXT_CAMERA = 1;
const CONTEXT_SCREEN = 2;

/** The web build (build-web.mjs) replaces this with the hashed URL of the bundled e2ee-worker.ts. */
declare const __PARLEY_E2EE_WORKER_URL__: string | undefined;
function defaultWorkerUrl(): string | undefined {
  return typeof __PARLEY_E2EE_WORKER_URL__ === "string" ? __PARLEY_E2EE_WORKER_URL__ : undefined;
}

type Support = { ok: true; path: TransformPath } | { ok: false; reason: string };

interface LegacySender {
  createEncodedStreams?: () => { readable: ReadableStream; writable: WritableStream };
}

/**
 * Can this browser encrypt media end to end? The hair check refuses an encrypted call when not (fail closed: no
 * call in the clear). `prefer` forces a path (tests; a browser where one path misbehaves).
 */
export function e2eeSupport(prefer?: TransformPath): Support {
  if (typeof Worker !== "function") return { ok: false, reason: "no Web Workers" };
  if (typeof crypto === "undefined" || !crypto.subtle) return { ok: false, reason: "no WebCrypto (needs a secure context)" };
  if (typeof RTCRtpSender === "undefined" || typeof RTCRtpReceiver === "undefined") return { ok: false, reason: "no WebRTC" };
  const script = typeof RTCRtpScriptTransform === "function" && "transform" in RTCRtpSender.prototype;
  const legacy =
    typeof (RTCRtpSender.prototype as LegacySender).createEncodedStreams === "function" &&
    typeof (RTCRtpReceiver.prototype as LegacySender).createEncodedStreams === "function";
  if (prefer === "script-transform" ? script : prefer === "encoded-streams" ? legacy : false) return { ok: true, path: prefer! };
  if (prefer) return { ok: false, reason: `${prefer} is not available` };
  if (script) return { ok: true, path: "script-transform" };
  if (legacy) return { ok: true, path: "encoded-streams" };
  return { ok: false, reason: "no encoded transform API (RTCRtpScriptTransform or createEncodedStreams)" };
}

export interface KeyFrameNeeded {
  participant?: string;
  kind: MediaKind;
  /** true: the browser already sent the key-frame request (RTCRtpScriptTransform); false: the caller must ask */
  requested: boolean;
}

export interface MediaEncryptionOptions {
  /** URL of the bundled worker; defaults to the one the web build names */
  workerUrl?: string;
  path?: TransformPath;
}

export class MediaEncryption {
  readonly path: TransformPath;
  /** Called when a receiver's decoder needs a key frame (after frames were dropped for lack of a key). */
  onKeyFrameNeeded: (e: KeyFrameNeeded) => void = () => undefined;
  /** Called when a stream's transform stops with an error (its media stops: fail closed). */
  onError: (e: { participant?: string; kind: MediaKind; message: string }) => void = () => undefined;
  readonly #worker: Worker;
  readonly #infos = new Map<number, StreamInfo>();
  readonly #statsWaiting = new Map<number, (s: StreamStats[]) => void>();
  #nextId = 1;
  #lastEpoch: bigint | undefined;

  constructor(opts: MediaEncryptionOptions = {}) {
    const support = e2eeSupport(opts.path);
    if (!support.ok) throw new Error(`end-to-end encryption unavailable: ${support.reason}`);
    const url = opts.workerUrl ?? defaultWorkerUrl();
    if (!url) throw new Error("end-to-end encryption: no worker URL");
    this.path = support.path;
    this.#worker = new Worker(url, { name: "parley-e2ee" });
    this.#worker.onmessage = (e: MessageEvent<FromWorker>) => this.#onMessage(e.data);
  }

  /** What the RTCPeerConnection configuration needs for this path (spread it into the config). */
  rtcConfiguration(): Record<string, unknown> {
    return this.path === "encoded-streams" ? { encodedInsertableStreams: true } : {};
  }

  /** Encrypt everything `sender` sends, from its first frame. Call before media flows (mediasoup-client: onRtpSender). */
  attachSenderTransform(sender: RTCRtpSender, kind: MediaKind, context = kind === "audio" ? CONTEXT_AUDIO : CONTEXT_CAMERA): void {
    this.#attach(sender, { id: this.#nextId++, side: "send", kind, context });
  }

  /** Decrypt everything `receiver` gets (mediasoup-client: onRtpReceiver). `participant` comes back in events. */
  attachReceiverTransform(receiver: RTCRtpReceiver, kind: MediaKind, participant?: string): void {
    this.#attach(receiver, { id: this.#nextId++, side: "receive", kind, context: 0, participant });
  }

  /** Install an MLS epoch's frame keys (sending switches to it at once; older epochs decrypt for a while). */
  setEpoch(keys: EpochKeys): void {
    // FrameKeys refuses an epoch that is not after the current one; say so here, where the caller can see it.
    if (this.#lastEpoch !== undefined && keys.epoch <= this.#lastEpoch) throw new RangeError(`epoch ${keys.epoch} is not after ${this.#lastEpoch}`);
    this.#lastEpoch = keys.epoch;
    this.#post({ type: "epoch", keys: { ...keys, baseKey: new Uint8Array(keys.baseKey) } });
  }

  /** Forget every key (leaving the call): senders drop frames again. */
  clear(): void {
    this.#lastEpoch = undefined;
    this.#post({ type: "clear" });
  }

  /** Per-stream frame counts, for diagnostics and tests. */
  stats(): Promise<StreamStats[]> {
    const requestId = this.#nextId++;
    return new Promise((resolve) => {
      this.#statsWaiting.set(requestId, resolve);
      this.#post({ type: "stats", requestId });
    });
  }

  close(): void {
    this.#worker.terminate();
  }

  #attach(target: RTCRtpSender | RTCRtpReceiver, info: StreamInfo): void {
    this.#infos.set(info.id, info);
    if (this.path === "script-transform") {
      target.transform = new RTCRtpScriptTransform(this.#worker, info);
      return;
    }
    const { readable, writable } = (target as unknown as Required<LegacySender>).createEncodedStreams();
    this.#worker.postMessage({ type: "streams", info, readable, writable } satisfies ToWorker, [
      readable as unknown as Transferable,
      writable as unknown as Transferable,
    ]);
  }

  #post(m: ToWorker): void {
    this.#worker.postMessage(m);
  }

  #onMessage(m: FromWorker): void {
    switch (m.type) {
      case "keyframe-needed":
        this.onKeyFrameNeeded({ participant: m.participant, kind: m.kind, requested: m.requested });
        return;
      case "stats": {
        const done = this.#statsWaiting.get(m.requestId);
        this.#statsWaiting.delete(m.requestId);
        done?.(m.streams);
        return;
      }
      case "error": {
        const info = this.#infos.get(m.id);
        this.onError({ participant: info?.participant, kind: info?.kind ?? "video", message: m.message });
        return;
      }
      default: {
        const never: never = m;
        throw new Error(`unknown worker message ${JSON.stringify(never)}`);
      }
    }
  }
}
