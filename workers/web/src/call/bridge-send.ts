/**
 * Sending on a bridge link (bridge.ts): one producer per kind for our microphone and camera (or screen), in simulcast
 * layers or one scaled encoding (simulcast.ts, sdp-tuning.ts), inactive on standby; video first and our audio once
 * we receive the others' video; the camera's height ramped up after the move; and tracks that come or change later.
 */
import type { types } from "mediasoup-client";
import type { CallEncryption } from "../e2ee/call-encryption";
import type { Signaling } from "./bridge-signaling";
import type { BridgeReceiver, LinkState } from "./bridge-receive";
import { BRIDGE_HEIGHT, BRIDGE_START_HEIGHT, RAMP_UP_MS, START_BITRATE_KBPS } from "./sdp-tuning";
import { limitSendHeight, scaleFor } from "./send-size";
import { layerHeight, setSimulcastHeight, simulcastEncodings, topLayer } from "./simulcast";

/**
 * Opus packets on the bridge path carry 40 ms of sound, not WebRTC's usual 20 ms (direct calls keep 20). Per packet,
 * every page pays a fixed cost whatever the packet holds: end-to-end encryption (each frame goes to the
 * frame-encryption worker and back, about 165 µs on a small machine), SRTP, the jitter buffer, and so does the
 * bridge once per receiver. In a call of three, audio is 150 of the 230 frames a page handles each second; 40 ms
 * packets halve that and so the CPU encryption adds (docs/benchmarks.md, bench:cpu), and they halve the packet
 * headers' share of each audio stream's bandwidth. The price is 20 ms more delay on the way, small beside the
 * bridge's own hop and the jitter buffer in calls of three or more.
 */
const BRIDGE_OPUS_PTIME_MS = 40;

/**
 * mediasoup-client's codec options per kind, which it writes into the send transport's remote answer (as direct
 * sessions get them, sdp-tuning.ts): the video sender starts above Chromium's 300 kbit/s default, which makes it drop
 * and downscale the first frames of a 720p camera (x-google-start-bitrate); Opus uses DTX (usedtx) and
 * BRIDGE_OPUS_PTIME_MS packets (ptime).
 */
const CODEC_OPTIONS = {
  video: { videoGoogleStartBitrate: START_BITRATE_KBPS },
  audio: { opusDtx: true, opusPtime: BRIDGE_OPUS_PTIME_MS },
} as const;

/** With simulcast, every layer goes out after the switch (each receiver gets the one that fits, simulcast.ts). */
const SIMULCAST_HEIGHT = null;

/** How long our audio producer waits for the others' video at most (see `sendAll`). */
const AUDIO_AFTER_VIDEO_MAX_MS = 2000;
/** How long a lower `layerDemand` waits before the layers above it stop (see BridgeSender.#demand). */
const DEMAND_DOWN_MS = 1500;

/**
 * Cameras go to the bridge in simulcast layers (simulcast.ts), those above `maxHeight` lines off for now; without
 * simulcast, as one encoding at most `maxHeight` lines high (sdp-tuning.ts §3). Screen shares at full size. On standby
 * every sender starts inactive.
 */
function encodingsFor(track: MediaStreamTrack, maxHeight: number | null, standby: boolean, simulcast: boolean): RTCRtpEncodingParameters[] | undefined {
  const off = standby ? { active: false } : {};
  if (track.kind !== "video") return standby ? [off] : undefined;
  if (simulcast) return simulcastEncodings(track.getSettings().height, maxHeight, standby);
  return [{ scaleResolutionDownBy: scaleFor(track, maxHeight), ...off }];
}

/** Turn a sender's encodings on (leaving standby): all of them, or for simulcast those up to `maxHeight` lines. */
async function setActive(sender: RTCRtpSender | undefined, maxHeight: number | null): Promise<void> {
  if (!sender) return;
  const params = sender.getParameters();
  if (!params.encodings?.length || params.encodings.every((e) => e.active !== false)) return;
  if (params.encodings.length > 1) return void (await setSimulcastHeight(sender, maxHeight));
  for (const e of params.encodings) e.active = true;
  await sender.setParameters(params);
}

/** Send `sender`'s camera at most `maxHeight` lines high: its simulcast layers up to that, or its one encoding scaled. */
async function limitHeight(sender: RTCRtpSender, maxHeight: number | null): Promise<void> {
  if (sender.getParameters().encodings?.length > 1) await setSimulcastHeight(sender, maxHeight);
  else await limitSendHeight(sender, maxHeight);
}

/** What a link sends with: its signaling, the send transport, simulcast or not, and the frame encryption. */
export interface SendDeps {
  sig: Signaling;
  send: types.Transport;
  simulcast: boolean;
  e2ee: CallEncryption | undefined;
  mark(what: string): void;
}

type Kind = "audio" | "video";

export class BridgeSender {
  readonly #producers = new Map<Kind, types.Producer>();
  /** A producer being made (or made) per kind: one producer per kind, however the tracks come (see replaceTrack). */
  readonly #producing = new Map<Kind, Promise<void>>();
  /** Camera height now: BRIDGE_START_HEIGHT during the switch, BRIDGE_HEIGHT from RAMP_UP_MS after `ready` on. */
  #videoHeight: number | null = BRIDGE_START_HEIGHT;
  /** Our audio producer waits for the others' video (sendAll): a track that comes meanwhile is produced then. */
  #audioPending = false;
  /**
   * The highest simulcast layer the bridge says our camera's viewers want (`layerDemand`), by producer id: the
   * layers above it are not encoded. A lower demand applies DEMAND_DOWN_MS later (a viewer's layer switch down
   * waits for a key frame of the lower layer, and a tile that shrinks often grows back), a higher one at once.
   */
  readonly #demand = new Map<string, number>();
  #demandDown: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly link: LinkState,
    readonly deps: SendDeps,
  ) {
    const { sig, send } = deps;
    send.on("produce", ({ kind, rtpParameters, appData }, ok, fail) => {
      sig.request<{ id: string }>("produce", { transportId: send.id, kind, rtpParameters, appData }).then(ok, fail);
    });
  }

  /**
   * Produce what `sendStream` has; resolves once our media is being sent (on standby: set up, inactive) and we
   * receive everyone already producing.
   */
  async sendAll(sendStream: MediaStream, receiver: BridgeReceiver): Promise<void> {
    const { link, deps } = this;
    // Our audio waits (see below) from the start: the call hands its tracks to a new link as soon as it is linked
    // (replaceTrack), while our video is still being produced, and an audio producer made then would go first.
    this.#audioPending = !link.standby;
    // Video first: it is what takes longest to show on the other side (a key frame must come through).
    for (const track of sendStream.getVideoTracks()) await this.#produceOnce(track);
    deps.mark("produced:video");
    if (link.standby) {
      // Nothing is sent yet, so nothing to wait for: the audio producer is made now too (on activation both start).
      const mic = sendStream.getAudioTracks()[0];
      if (mic && !link.closed) await this.#produceOnce(mic);
      await receiver.settled();
      deps.mark("standby-ready");
      return;
    }
    // Audio once we receive everyone's video (at most AUDIO_AFTER_VIDEO_MAX_MS): every producer is one SDP
    // renegotiation here and one on every other page, run one after another, and an audio one queued before the
    // next person's video makes that video wait (a slower switch: docs/benchmarks.md). Nobody goes unheard
    // meanwhile: the direct sessions carry the sound until each person's bridge stream has audio too (call.ts).
    for (const until = Date.now() + AUDIO_AFTER_VIDEO_MAX_MS; Date.now() < until && !link.closed; await new Promise((r) => setTimeout(r, 40))) {
      if (link.events.expectedVideo().every((nick) => nick === link.me || receiver.videoConsumed(nick))) break;
    }
    this.#audioPending = false;
    const mic = sendStream.getAudioTracks()[0];
    if (mic && !link.closed) await this.#produceOnce(mic);
    deps.mark("produced");
    await receiver.settled();
    deps.mark("ready");
  }

  /** Leaving standby: every producer's encodings on. */
  async activate(): Promise<void> {
    await Promise.all([...this.#producers.values()].map((p) => setActive(p.rtpSender, this.#maxHeight())));
  }

  /** The bridge's `layerDemand` for one of our producers (PROTOCOL.md). */
  onLayerDemand(producerId: string, layer: number): void {
    clearTimeout(this.#demandDown);
    const apply = (): void => {
      this.#demand.set(producerId, layer);
      const sender = this.#producers.get("video")?.rtpSender;
      if (sender && !this.link.closed && !this.link.standby) void limitHeight(sender, this.#maxHeight());
    };
    const before = this.#demand.get(producerId);
    if (before !== undefined && layer < before) this.#demandDown = setTimeout(apply, DEMAND_DOWN_MS);
    else apply();
  }

  /** How high our camera goes out now: the ramp-up's height, capped at the layer the bridge says is wanted. */
  #maxHeight(): number | null {
    const p = this.#producers.get("video");
    const layer = p ? this.#demand.get(p.id) : undefined;
    const height = p?.track?.getSettings().height;
    const layers = p?.rtpSender?.getParameters().encodings?.length ?? 0;
    if (layer === undefined || !height || layers < 2) return this.#videoHeight;
    const wanted = layerHeight(height, layers, layer);
    return this.#videoHeight === null ? wanted : Math.min(this.#videoHeight, wanted);
  }

  /** RAMP_UP_MS after the move, the camera goes out at its full height (or every simulcast layer). */
  rampUpLater(): void {
    setTimeout(() => {
      if (this.link.closed) return;
      this.#videoHeight = this.deps.simulcast ? SIMULCAST_HEIGHT : BRIDGE_HEIGHT;
      const sender = this.#producers.get("video")?.rtpSender;
      if (sender) void limitHeight(sender, this.#maxHeight());
    }, RAMP_UP_MS);
  }

  /** A device that came late (or changed) produces its kind the first time, and replaces the track after that. */
  async replaceTrack(kind: Kind, track: MediaStreamTrack | null): Promise<void> {
    for (;;) {
      if (kind === "audio" && this.#audioPending) return; // produced from sendStream's track once the wait is over
      const p = this.#producers.get(kind);
      if (p) {
        if (p.track === track) return;
        await p.replaceTrack({ track });
        if (p.rtpSender) await limitHeight(p.rtpSender, this.#maxHeight());
        return;
      }
      const inflight = this.#producing.get(kind);
      if (!inflight) {
        if (track && !this.link.closed) await this.#produce(track);
        return;
      }
      await inflight; // then replace on the producer it made
    }
  }

  close(): void {
    clearTimeout(this.#demandDown);
    for (const p of this.#producers.values()) p.close();
  }

  #produce(track: MediaStreamTrack): Promise<void> {
    const kind: Kind = track.kind === "audio" ? "audio" : "video";
    const inactive = this.link.standby;
    const { send, simulcast, e2ee } = this.deps;
    this.deps.mark(`produce:${kind}`);
    const made = (async () => {
      // stopTracks: false — the tracks are ours (camera, mic, screen) and outlive the bridge (make-before-break back to P2P).
      const encodings = encodingsFor(track, this.#videoHeight, inactive, simulcast);
      const layered = (encodings?.length ?? 0) > 1;
      const producer = await send.produce({
        track,
        stopTracks: false,
        codecOptions: CODEC_OPTIONS[kind],
        encodings,
        // The bridge picks each receiver's layer from the top layer's size (PROTOCOL.md `setConsumerSize`).
        appData: { source: kind === "audio" ? "mic" : "camera", ...(layered ? topLayer(track) : {}) },
        onRtpSender: e2ee && ((s) => e2ee.sender(s, kind)),
      });
      this.#producers.set(kind, producer);
      if (inactive && !this.link.standby) await setActive(producer.rtpSender, this.#maxHeight()); // activated while it was being made
      else if (!inactive && kind === "video" && this.#demand.has(producer.id)) await limitHeight(producer.rtpSender!, this.#maxHeight());
    })();
    this.#producing.set(
      kind,
      made.catch(() => void this.#producing.delete(kind)),
    );
    return made;
  }

  /** Produce this track unless a producer of its kind exists or is being made. */
  #produceOnce(track: MediaStreamTrack): Promise<void> {
    return this.#producing.get(track.kind === "audio" ? "audio" : "video") ?? this.#produce(track);
  }
}
