/**
 * The page's end-to-end media encryption for calls: one MediaEncryption (transform.ts) fed by one group key source
 * (keys.ts), attached to every sender and receiver the call makes, on the direct path (p2p.ts, prepared.ts) and on
 * the bridge path (bridge.ts, through mediasoup-client's onRtpSender/onRtpReceiver), with the same keys and format:
 * moving between the two changes nothing about who can read the media.
 *
 * Fail closed:
 *  - senders encrypt from their first frame; until the first epoch's keys arrive they drop frames (e2ee-worker.ts);
 *  - a peer connection is covered from its creation: its transceivers (made by addTrack, addTransceiver or a remote
 *    description) get their transforms before any description is applied (DTLS, hence media, needs both), and a
 *    receiver is covered again on `track` at the latest, before its first packet can be decoded;
 *  - a browser without encoded transforms gets no CallEncryption: the hair check says so and refuses Join.
 *
 * Where the keys come from: `provideGroupKeys(source)`, called on the hair check before the call prepares any
 * connection (warm.ts). The group's MLS member implements GroupKeySource; a test can install a key source on the page,
 * or have the hair check provide none (the benchmarks' unencrypted baseline), with the test-only hooks in
 * test-key-hook.ts.
 */
import type { EpochKeys } from "./frame-keys";
import type { GroupKeySource } from "./keys";
import { CONTEXT_AUDIO, CONTEXT_CAMERA, e2eeSupport, MediaEncryption, type MediaKind } from "./transform";

export class CallEncryption {
  readonly media: MediaEncryption;
  readonly #source: GroupKeySource;
  readonly #attached = new WeakSet<RTCRtpSender | RTCRtpReceiver>();
  readonly #covered = new WeakSet<RTCPeerConnection>();
  readonly #listeners = new Set<() => void>();
  #epoch: bigint | undefined;
  #baseKey: Uint8Array | undefined;

  constructor(source: GroupKeySource, media: MediaEncryption) {
    this.media = media;
    // A stream whose transform failed stops (nothing goes out in the clear); say so for diagnosis.
    media.onError = (e) => console.warn(`end-to-end encryption stopped a ${e.kind} stream: ${e.message}`);
    this.#source = source;
    source.onEpoch((k) => this.#install(k));
    const now = source.current();
    if (now) this.#install(now);
  }

  #install(k: EpochKeys): void {
    if (this.#epoch !== undefined && k.epoch <= this.#epoch) {
      // the same epoch again (current() and onEpoch both report it)
      if (k.epoch === this.#epoch && sameBytes(k.baseKey, this.#baseKey)) return;
      // an epoch not after the last: a new group (a rejoin is a new member, keys.ts); forget the old keys first
      this.media.clear();
    }
    this.#epoch = k.epoch;
    this.#baseKey = k.baseKey;
    this.media.setEpoch(k);
    for (const l of this.#listeners) l();
  }

  /** Media is end-to-end encrypted and readable by the group: every sender and receiver has a transform and keys. */
  active(): boolean {
    return this.#epoch !== undefined;
  }

  safetyCode(): string | undefined {
    return this.#source.safetyCode();
  }

  /** Called whenever keys change (a new epoch); returns the unsubscribe. */
  onChange(l: () => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** RTCPeerConnection configuration this path needs (spread into every call peer connection, and mediasoup's). */
  rtcConfiguration(): Record<string, unknown> {
    return this.media.rtcConfiguration();
  }

  /**
   * Encrypt our frames on `sender`. One video sender carries the camera or, replaced in place, the screen: one stream
   * of frames (one SFrame context, hence one counter), whatever it shows.
   */
  sender(sender: RTCRtpSender, kind: MediaKind): void {
    if (this.#attached.has(sender)) return;
    this.#attached.add(sender);
    this.media.attachSenderTransform(sender, kind, kind === "audio" ? CONTEXT_AUDIO : CONTEXT_CAMERA);
  }

  receiver(receiver: RTCRtpReceiver, kind: MediaKind, participant?: string): void {
    if (this.#attached.has(receiver)) return;
    this.#attached.add(receiver);
    this.media.attachReceiverTransform(receiver, kind, participant);
  }

  /** Cover every transceiver of a direct-call peer connection, now and whenever it gains one (see the file comment). */
  peerConnection(pc: RTCPeerConnection): RTCPeerConnection {
    const cover = (): void => {
      for (const t of pc.getTransceivers()) {
        if (t.currentDirection === "stopped" || t.direction === "stopped") continue;
        const kind: MediaKind = t.receiver.track.kind === "audio" ? "audio" : "video";
        this.sender(t.sender, kind);
        this.receiver(t.receiver, kind);
      }
    };
    cover();
    if (this.#covered.has(pc)) return pc;
    this.#covered.add(pc);
    pc.addEventListener("negotiationneeded", cover);
    pc.addEventListener("signalingstatechange", cover);
    pc.addEventListener("track", cover);
    // Transceivers made between events (addTrack right before createOffer/createAnswer) are covered by wrapping the
    // calls that apply a description: no media flows before both are applied.
    for (const m of ["setLocalDescription", "setRemoteDescription"] as const) {
      const orig = pc[m].bind(pc) as (...a: unknown[]) => Promise<void>;
      (pc as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
        cover();
        return orig(...a).then((r) => (cover(), r));
      };
    }
    return pc;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

let page: { source: GroupKeySource; enc?: CallEncryption; error?: string } | undefined;

/**
 * The group key source of this page's call (the MLS member): from now on every call connection is encrypted with its
 * keys. Throws when the browser cannot encrypt (the hair check checks e2eeSupport() first).
 */
export function provideGroupKeys(source: GroupKeySource): CallEncryption {
  if (page?.enc) throw new Error("group keys already provided");
  const support = e2eeSupport();
  if (!support.ok) throw new Error(`end-to-end encryption unavailable: ${support.reason}`);
  const enc = new CallEncryption(source, new MediaEncryption({ path: support.path }));
  page = { source, enc };
  return enc;
}

/**
 * A peer connection for a direct call: with the configuration the transform path needs, and every transceiver it
 * ever has covered, when this page encrypts (group keys provided).
 */
export function callPeerConnection(config: RTCConfiguration = {}): RTCPeerConnection {
  const enc = page?.enc;
  if (!enc) return new RTCPeerConnection(config);
  return enc.peerConnection(new RTCPeerConnection({ ...config, ...enc.rtcConfiguration() } as RTCConfiguration));
}

/** The page's call encryption, once group keys were provided; undefined: no key source on this page. */
export function callEncryption(): CallEncryption | undefined {
  return page?.enc;
}
