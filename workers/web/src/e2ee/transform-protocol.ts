/**
 * Messages between the page (transform.ts) and the frame-encryption worker (e2ee-worker.ts). Both ends are ours
 * and run the same build, so these are plain typed objects (structured clone), not external input.
 */
import type { EpochKeys } from "./frame-keys";

export type MediaKind = "audio" | "video";
type Side = "send" | "receive";

/** What the worker needs to know about one sender's or receiver's frame stream. */
export interface StreamInfo {
  /** unique per page, chosen by the page */
  id: number;
  side: Side;
  kind: MediaKind;
  /** RFC 9605 §5.2 context of our own streams (0 audio, 1 camera, 2 screen): each has its own CTR */
  context: number;
  /** receivers: whose stream this is, as the caller names it (returned in events) */
  participant?: string;
}

export type ToWorker =
  | { type: "epoch"; keys: EpochKeys }
  | { type: "clear" }
  /** the createEncodedStreams() path: the page hands the streams over */
  | { type: "streams"; info: StreamInfo; readable: ReadableStream; writable: WritableStream }
  | { type: "stats"; requestId: number };

export interface StreamStats {
  info: StreamInfo;
  /** frames passed on (encrypted for senders, decrypted for receivers) */
  passed: number;
  /** frames dropped: no key yet, or failed to decrypt */
  dropped: number;
  /** bytes before and after the transform, summed over the frames passed on */
  bytesIn: number;
  bytesOut: number;
  /** last reason a frame was dropped */
  lastDrop?: string;
}

export type FromWorker =
  /**
   * A receiver dropped frames (no key yet, or undecryptable) and now decrypts a video delta frame: its decoder needs
   * a key frame. With RTCRtpScriptTransform the worker has already asked the sender (sendKeyFrameRequest); with
   * createEncodedStreams the page must ask (on the bridge: the consumer's key-frame request).
   */
  | { type: "keyframe-needed"; id: number; participant?: string; kind: MediaKind; requested: boolean }
  | { type: "stats"; requestId: number; streams: StreamStats[] }
  | { type: "error"; id: number; message: string };
