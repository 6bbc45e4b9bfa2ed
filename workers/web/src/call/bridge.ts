/**
 * Media via the bridge (mediasoup SFU) with mediasoup-client. Loaded lazily (dynamic import) only when the room
 * announces `<media xmlns='urn:parley:media:0' mode='bridge' url=… grant=…/>`.
 *
 * Signaling is the bridge's JSON protocol over WebSocket (bridge-host/PROTOCOL.md, bridge-host/src/signaling/
 * messages.ts): requests `{id, method, data}` -> responses `{response, id, ok, data|error}`, notifications
 * `{notification, method, data}` (peerJoined, peerLeft, newProducer, producerClosed, activeSpeaker, roomClosing).
 * We connect to `url?grant=…`, load the router's RTP capabilities, create one send and one receive WebRTC
 * transport, produce our microphone and camera (or screen), and consume every producer announced.
 *
 * Standby (contract/media.ts): a room of two with someone on its hair check names its bridge room ahead. We then do all
 * of the above with our senders inactive (`active: false` encodings: the encoders do not run, no RTP leaves) and
 * hand no stream to the page; the media stays direct. When the room moves to the bridge, `activate()` turns the
 * senders on and the move is a key frame away instead of a whole set-up.
 * Lobby: the same, from the hair check, with a lobby grant (bridge-host/PROTOCOL.md "Lobby"): the bridge names no one
 * to us and us to no one until `admit(grant, nick)` with the grant we get as an occupant. Producers on the other side
 * of the lobby are offered unnamed (`lobbyProducer`) and consumed ahead, by both sides; the bridge starts those
 * consumers on admission, and names their producers then (`newProducer` for a producer we already consume).
 */
import { Device, type types } from "mediasoup-client";
import { callEncryption } from "../e2ee/call-encryption";
import { handlerFactory, prepareBridge, skipProbator } from "./bridge-device";
import { Signaling, str, type Json } from "./bridge-signaling";
import { BRIDGE_HEIGHT, BRIDGE_START_HEIGHT, RAMP_UP_MS, START_BITRATE_KBPS } from "./sdp-tuning";
import { limitSendHeight, scaleFor } from "./send-size";
import { announceActiveSpeaker, clearActiveSpeaker } from "./bridge-speaker";
import { setSimulcastHeight, simulcastEnabled, simulcastEncodings, topLayer } from "./simulcast";
import { tileSizes, type TileSize } from "./tile-sizes";

/**
 * Start the bridge video sender above Chromium's 300 kbit/s default, which makes it drop and downscale the first frames
 * of a 720p camera (the same reason as for direct sessions, sdp-tuning.ts). mediasoup-client writes it as
 * x-google-start-bitrate into the send transport's remote answer.
 */
const VIDEO_START = { videoGoogleStartBitrate: START_BITRATE_KBPS };

/** With simulcast, every layer goes out after the switch (each receiver gets the one that fits, simulcast.ts). */
const SIMULCAST_HEIGHT = null;

/** How long an ICE restart request may wait for the bridge's answer before the link counts as lost. */
const RESTART_ICE_ANSWER_MS = 5000;

/** The bridge closes with this code when the room's media worker died and the room is being recreated (PROTOCOL.md). */
const MEDIA_RESTARTED = 4503;

/** How long our audio producer waits for the others' video at most (see `ready` in connectBridge). */
const AUDIO_AFTER_VIDEO_MAX_MS = 2000;

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

export interface BridgeEvents {
  /** Who is in the room with a camera or screen on: we send our audio once we receive their video (see `ready`). */
  expectedVideo(): string[];
  remoteStream(nick: string, stream: MediaStream): void;
  peerGone(nick: string): void;
  /** the link is lost; `restarted`: the bridge recreates the room at once (its media worker died), connect again */
  failed(reason: string, restarted: boolean): void;
  /** the bridge stopped answering on our open socket (bridge-signaling.ts `watch`) */
  stalled(): void;
}

export interface BridgeOptions {
  /** Connect on standby: senders inactive, no stream handed to the page until `activate()`. */
  standby?: boolean;
}

/** Events of a lobby link: it hands out no streams and knows no peers before `admit`. */
export const LOBBY_EVENTS: BridgeEvents = {
  expectedVideo: () => [],
  remoteStream: () => undefined,
  peerGone: () => undefined,
  failed: () => undefined,
  stalled: () => undefined,
};

export interface BridgeLink {
  /** Resolves when our media is being sent (on standby: set up, inactive) and we receive everyone already producing. */
  readonly ready: Promise<void>;
  /** Leave standby: send our media and hand the page everyone's streams (no-op if not on standby). */
  activate(): Promise<void>;
  /** A lobby link becomes ours as the occupant `nick` (its grant from the room); `events` replace the lobby's. */
  admit(grant: string, nick: string, events: BridgeEvents): Promise<void>;
  replaceTrack(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void>;
  close(): void;
}

setTimeout(prepareBridge, 0);

interface TransportInfo {
  id: string;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
}

export async function connectBridge(
  url: string,
  grant: string,
  self: string,
  sendStream: MediaStream,
  events: BridgeEvents,
  opts: BridgeOptions = {},
): Promise<BridgeLink> {
  let standby = opts.standby === true;
  let me = self;
  const sep = url.includes("?") ? "&" : "?";
  const mark = (what: string) => performance.mark(`parley:bridge:${what}`);
  mark("connect");
  const sig = await Signaling.open(`${url}${sep}grant=${encodeURIComponent(grant)}`);
  mark("ws-open");
  let closed = false;
  // Notifications may arrive before we're ready to consume (existing producers are announced at once): queue them.
  const early: Array<[string, Json]> = [];
  sig.onNotification = (m, d) => early.push([m, d]);
  sig.onClose = (code, reason) => {
    if (!closed) events.failed(`closed ${code}${reason ? ` ${reason}` : ""}`, code === MEDIA_RESTARTED);
  };
  const liveness = sig.watch(() => !closed && events.stalled());

  // Ask for the router's capabilities and both transports at once (the bridge answers in order) while the device
  // loads: one round trip instead of three before media can start.
  const capsP = sig.request<types.RtpCapabilities>("getRouterRtpCapabilities");
  const recvP = sig.request<TransportInfo>("createWebRtcTransport", { direction: "recv" });
  const sendP = sig.request<TransportInfo>("createWebRtcTransport", { direction: "send" });
  for (const p of [recvP, sendP]) p.catch(() => undefined); // awaited below; don't report them twice if load fails
  const device = new Device({ handlerFactory: handlerFactory() });
  await device.load({ routerRtpCapabilities: await capsP });
  mark("device-loaded");

  // End-to-end encryption (e2ee/call-encryption.ts): the same transforms and keys as on the direct path, attached
  // through mediasoup-client's hooks before any media flows; the bridge forwards frames it cannot read.
  const e2ee = callEncryption();
  const makeTransport = (direction: "send" | "recv", info: TransportInfo): types.Transport => {
    const p = { ...info, additionalSettings: e2ee?.rtcConfiguration() };
    const t = direction === "send" ? device.createSendTransport(p) : device.createRecvTransport(p);
    t.on("connect", ({ dtlsParameters }, ok, fail) => {
      sig.request("connectWebRtcTransport", { transportId: t.id, dtlsParameters }).then(() => ok(), fail);
    });
    t.on("connectionstatechange", (state) => {
      mark(`${direction}-${state}`);
      // ICE restart on failure (RFC 8445 §9): new ICE parameters from the bridge. After a network change the
      // signaling socket is usually as dead as the media path, without being closed yet: a request it does not answer
      // in time fails the link, and the call connects a new one (a new socket, then new transports).
      if (state === "failed" && !closed) {
        sig
          .request<types.IceParameters>("restartIce", { transportId: t.id }, RESTART_ICE_ANSWER_MS)
          .then((iceParameters) => t.restartIce({ iceParameters }))
          .catch(() => events.failed("media connection to the bridge failed", false));
      }
    });
    return t;
  };

  const recv = makeTransport("recv", await recvP);
  // Simulcast needs the bridge's bandwidth probing to move a receiver up to a larger layer (bridge-device.ts).
  const simulcast = simulcastEnabled();
  if (!simulcast) skipProbator(recv);
  const send = makeTransport("send", await sendP);
  send.on("produce", ({ kind, rtpParameters, appData }, ok, fail) => {
    sig.request<{ id: string }>("produce", { transportId: send.id, kind, rtpParameters, appData }).then(ok, fail);
  });

  /** by producerId; `nick` undefined: consumed across the lobby, not named yet */
  const consumers = new Map<string, { consumer: types.Consumer; nick: string | undefined }>();
  const streams = new Map<string, MediaStream>(); // by nick
  const requested = new Map<string, { nick: string | undefined; kind: string | undefined }>(); // producerId -> consume in flight or done
  /**
   * Hand a peer's bridge stream to the page as soon as its video consumer exists, before any media flows: the page
   * sets up its player for it meanwhile, and keeps the direct stream on screen until the bridge's first frame is
   * (view.ts, setRemoteStream: make-before-break on screen), so the first frame shows the moment it is decoded.
   */
  const offer = (nick: string): void => {
    const stream = streams.get(nick);
    if (!stream || closed || standby) return;
    const videoComing = [...requested.values()].some((r) => r.nick === nick && r.kind === "video");
    if (stream.getVideoTracks()[0] || !videoComing) events.remoteStream(nick, stream);
  };
  /**
   * Consume a set of producers with as few steps as possible: all `consume` requests at once (the bridge answers in
   * order), then every `recvTransport.consume()` in the same tick (mediasoup-client makes that ONE SDP renegotiation),
   * then all `resumeConsumer` requests at once. Resuming makes the bridge ask each sender for a key frame.
   */
  /** A consumer's track joins its owner's stream, which goes to the page (offer). */
  const attach = (consumer: types.Consumer, nick: string): void => {
    let stream = streams.get(nick);
    if (!stream) streams.set(nick, (stream = new MediaStream()));
    for (const t of stream.getTracks()) if (t.kind === consumer.track.kind) stream.removeTrack(t);
    stream.addTrack(consumer.track);
    offer(nick);
  };
  const consumeAll = async (items: Array<{ producerId: string; nick: string | undefined; kind: string | undefined }>): Promise<void> => {
    const fresh = items.filter((i) => i.nick !== me && !requested.has(i.producerId));
    for (const i of fresh) requested.set(i.producerId, { nick: i.nick, kind: i.kind });
    const answers = await Promise.allSettled(
      fresh.map((i) =>
        sig.request<{ id: string; producerId: string; kind: "audio" | "video"; rtpParameters: types.RtpParameters }>("consume", {
          transportId: recv.id,
          producerId: i.producerId,
          rtpCapabilities: device.rtpCapabilities,
        }),
      ),
    );
    const made = await Promise.allSettled(
      answers.map((a) =>
        a.status === "fulfilled"
          ? recv.consume({
              id: a.value.id,
              producerId: a.value.producerId,
              kind: a.value.kind,
              rtpParameters: a.value.rtpParameters,
              onRtpReceiver: e2ee && ((r) => e2ee.receiver(r, a.value.kind)),
            })
          : Promise.reject(a.reason as Error),
      ),
    );
    await Promise.all(
      made.map(async (m, k) => {
        if (m.status === "rejected") {
          requested.delete(fresh[k]!.producerId);
          if (!closed) console.warn("bridge consume failed", m.reason);
          return;
        }
        const consumer = m.value;
        const req = requested.get(consumer.producerId);
        if (closed || !req) return consumer.close(); // left or producer closed meanwhile
        const nick = req.nick; // named meanwhile, perhaps (see name)
        consumers.set(consumer.producerId, { consumer, nick });
        if (nick !== undefined) attach(consumer, nick);
        // Its size first, if the page shows this person already (requests are handled in order): a video off screen
        // is then never started, and a large one asks for its layer from the first key frame on.
        const size = nick !== undefined && consumer.kind === "video" ? tileSizes.get(nick) : undefined;
        if (size) sendSize(consumer, size);
        try {
          // Across the lobby, the bridge holds this until admission (and says so): nothing more to do then.
          await sig.request("resumeConsumer", { consumerId: consumer.id });
        } catch (e) {
          if (!closed) console.warn("bridge resume failed", e);
          return;
        }
        mark(`consumed:${nick ?? "lobby"}:${consumer.kind}`);
      }),
    );
  };
  /** Tell the bridge how large we show a video consumer (PROTOCOL.md `setConsumerSize`). */
  const sendSize = (consumer: types.Consumer, size: TileSize): void => {
    if (closed || standby) return;
    sig.request("setConsumerSize", { consumerId: consumer.id, width: size.width, height: size.height }).catch((e: unknown) => {
      if (!closed && !consumer.closed) console.warn("bridge size", e);
    });
  };
  /** Every video consumer of a named peer whose tile we know the size of (on leaving standby). */
  const sendKnownSizes = (): void => {
    for (const e of consumers.values()) {
      const size = e.nick !== undefined && e.consumer.kind === "video" ? tileSizes.get(e.nick) : undefined;
      if (size) sendSize(e.consumer, size);
    }
  };
  const unsubscribeSizes = tileSizes.subscribe((nick, size) => {
    for (const e of consumers.values()) if (e.nick === nick && e.consumer.kind === "video" && !e.consumer.closed) sendSize(e.consumer, size);
  });
  // newProducer notifications that arrive together (everyone already producing, on connect) are consumed together.
  let batch: Array<{ producerId: string; nick: string | undefined; kind: string | undefined }> | undefined;
  const pendingConsumes: Promise<void>[] = [];
  /** A producer consumed across the lobby gets its owner's name (on admission): its track goes to that stream. */
  const name = (producerId: string, nick: string): void => {
    const req = requested.get(producerId);
    if (!req || req.nick !== undefined) return;
    req.nick = nick;
    const entry = consumers.get(producerId);
    if (!entry) return; // still being made: consumeAll attaches it
    entry.nick = nick;
    attach(entry.consumer, nick);
    const size = entry.consumer.kind === "video" ? tileSizes.get(nick) : undefined;
    if (size) sendSize(entry.consumer, size);
    mark(`named:${nick}:${entry.consumer.kind}`);
  };
  const consumeSoon = (producerId: string, nick: string | undefined, kind: string | undefined): void => {
    if (batch) return void batch.push({ producerId, nick, kind });
    const b = (batch = [{ producerId, nick, kind }]);
    pendingConsumes.push(
      Promise.resolve().then(() => {
        batch = undefined;
        return consumeAll(b);
      }),
    );
  };
  const onNotification = (method: string, d: Json): void => {
    switch (method) {
      case "newProducer": {
        const producerId = str(d.producerId);
        const nick = str(d.nick);
        if (producerId && nick) {
          if (requested.has(producerId)) name(producerId, nick);
          else consumeSoon(producerId, nick, str(d.kind));
        }
        return;
      }
      case "lobbyProducer": {
        const producerId = str(d.producerId);
        if (producerId) consumeSoon(producerId, undefined, str(d.kind));
        return;
      }
      case "producerClosed": {
        const producerId = str(d.producerId);
        if (producerId) requested.delete(producerId);
        const entry = producerId ? consumers.get(producerId) : undefined;
        if (!entry || !producerId) return;
        consumers.delete(producerId);
        entry.consumer.close();
        if (entry.nick !== undefined) streams.get(entry.nick)?.removeTrack(entry.consumer.track);
        return;
      }
      case "peerLeft": {
        const nick = str(d.nick);
        if (!nick) return;
        for (const [pid, e] of consumers) if (e.nick === nick) (e.consumer.close(), consumers.delete(pid));
        for (const [pid, r] of requested) if (r.nick === nick) requested.delete(pid);
        streams.delete(nick);
        if (!standby) events.peerGone(nick);
        return;
      }
      case "activeSpeaker":
        if (!standby) announceActiveSpeaker(sig, str(d.nick));
        return;
      case "roomClosing":
        if (!closed) events.failed(`the bridge is closing this room (${str(d.reason) ?? "unknown"})`, d.reason === "worker-died");
        return;
      default:
        return; // peerJoined: the room's presence already tells us
    }
  };
  sig.onNotification = onNotification;
  for (const [m, d] of early.splice(0)) onNotification(m, d);

  const producers = new Map<"audio" | "video", types.Producer>();
  /** A producer being made (or made) per kind: one producer per kind, however the tracks come (see replaceTrack). */
  const producing = new Map<"audio" | "video", Promise<void>>();
  /** Camera height now: BRIDGE_START_HEIGHT during the switch, BRIDGE_HEIGHT from RAMP_UP_MS after `ready` on. */
  let videoHeight: number | null = BRIDGE_START_HEIGHT;
  const produce = (track: MediaStreamTrack): Promise<void> => {
    const kind = track.kind === "audio" ? "audio" : "video";
    const inactive = standby;
    const made = (async () => {
      // stopTracks: false — the tracks are ours (camera, mic, screen) and outlive the bridge (make-before-break back to P2P).
      const encodings = encodingsFor(track, videoHeight, inactive, simulcast);
      const layered = (encodings?.length ?? 0) > 1;
      const producer = await send.produce({
        track,
        stopTracks: false,
        codecOptions: VIDEO_START,
        encodings,
        // The bridge picks each receiver's layer from the top layer's size (PROTOCOL.md `setConsumerSize`).
        appData: { source: kind === "audio" ? "mic" : "camera", ...(layered ? topLayer(track) : {}) },
        onRtpSender: e2ee && ((s) => e2ee.sender(s, kind)),
      });
      producers.set(kind, producer);
      if (inactive && !standby) await setActive(producer.rtpSender, videoHeight); // activated while it was being made
    })();
    producing.set(
      kind,
      made.catch(() => void producing.delete(kind)),
    );
    return made;
  };
  /** Produce this track unless a producer of its kind exists or is being made. */
  const produceOnce = (track: MediaStreamTrack): Promise<void> => producing.get(track.kind === "audio" ? "audio" : "video") ?? produce(track);
  const videoConsumed = (nick: string): boolean => [...consumers.values()].some((c) => c.nick === nick && c.consumer.kind === "video");
  let audioPending = false;
  const ready = (async () => {
    // Video first: it is what takes longest to show on the other side (a key frame must come through).
    for (const track of sendStream.getVideoTracks()) await produceOnce(track);
    mark("produced:video");
    if (standby) {
      // Nothing is sent yet, so nothing to wait for: the audio producer is made now too (on activation both start).
      const mic = sendStream.getAudioTracks()[0];
      if (mic && !closed) await produceOnce(mic);
      await Promise.all(pendingConsumes);
      mark("standby-ready");
      return;
    }
    // Audio once we receive everyone's video (at most AUDIO_AFTER_VIDEO_MAX_MS): every producer is one SDP
    // renegotiation here and one on every other page, run one after another, and an audio one queued before the
    // next person's video makes that video wait (a slower switch: docs/benchmarks.md). Nobody goes unheard
    // meanwhile: the direct sessions carry the sound until each person's bridge stream has audio too (call.ts).
    audioPending = true;
    for (const until = Date.now() + AUDIO_AFTER_VIDEO_MAX_MS; Date.now() < until && !closed; await new Promise((r) => setTimeout(r, 40))) {
      if (events.expectedVideo().every((nick) => nick === me || videoConsumed(nick))) break;
    }
    audioPending = false;
    const mic = sendStream.getAudioTracks()[0];
    if (mic && !closed) await produceOnce(mic);
    mark("produced");
    await Promise.all(pendingConsumes);
    mark("ready");
  })();
  const rampUpLater = () =>
    setTimeout(() => {
      if (closed) return;
      videoHeight = simulcast ? SIMULCAST_HEIGHT : BRIDGE_HEIGHT;
      const sender = producers.get("video")?.rtpSender;
      if (sender) void limitHeight(sender, videoHeight);
    }, RAMP_UP_MS);
  void ready.then(
    () => !standby && rampUpLater(),
    () => undefined, // reported by whoever awaits `ready`
  );

  return {
    ready,
    async activate() {
      if (!standby || closed) return;
      standby = false;
      mark("activate");
      await Promise.all([...producers.values()].map((p) => setActive(p.rtpSender, videoHeight)));
      for (const nick of streams.keys()) offer(nick);
      sendKnownSizes();
      // Made on standby, resumed then: `ready` already settled (if it failed, the caller's await of it reports that).
      void ready.then(rampUpLater, () => undefined);
    },
    async admit(grant, nick, next) {
      // The bridge tells us who is here and what they send before it answers: those notifications already find
      // the call's events (what they start waits for `activate()` to reach the page).
      events = next;
      me = nick;
      await sig.request("admit", { grant });
    },
    async replaceTrack(kind, track) {
      // A device that came late (or changed) produces its kind the first time, and replaces the track after that.
      for (;;) {
        if (kind === "audio" && audioPending) return; // produced from sendStream's track once the wait is over
        const p = producers.get(kind);
        if (p) {
          if (p.track === track) return;
          await p.replaceTrack({ track });
          if (p.rtpSender) await limitHeight(p.rtpSender, videoHeight);
          return;
        }
        const inflight = producing.get(kind);
        if (!inflight) {
          if (track && !closed) await produce(track);
          return;
        }
        await inflight; // then replace on the producer it made
      }
    },
    close() {
      if (closed) return;
      closed = true;
      liveness.stop();
      unsubscribeSizes();
      clearActiveSpeaker(sig);
      for (const e of consumers.values()) e.consumer.close();
      for (const p of producers.values()) p.close();
      send.close();
      recv.close();
      sig.ws.close(1000, "leaving");
    },
  };
}
