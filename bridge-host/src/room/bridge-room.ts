/**
 * One room's media on this bridge: a mediasoup Router (on one Worker, using that Worker's WebRtcServer), an
 * ActiveSpeakerObserver, and the peers. Follows mediasoup-demo's Room, typed:
 *  - `static async create()` does the async setup, the constructor only assigns;
 *  - this object owns every media object of the room; `close()` is idempotent and cascades
 *    (peers -> transports -> producers/consumers, then the router);
 *  - typed events: "close" (to the owner), "counts" changed (for metrics) via the owner's polling.
 * The bridge is an SFU only; which nick may join is decided by the room's Durable Object through grants.
 * Lobby (PROTOCOL.md): a connection with a lobby grant (someone on the room's hair check) may set up transports and
 * producers but is nobody in the room: not announced and told no nick. Its producers and the room's are offered
 * across the lobby anonymously (`lobbyProducer`: id and kind) so that both sides can have their consumers made, but
 * no such consumer is resumed (no media crosses) until `admit` with an occupant grant makes it a peer like any other.
 */
import type { types } from "mediasoup";
import { DEFAULT_MAX_INCOMING_BITRATE } from "../config";
import { TypedEmitter } from "../events";
import { BridgeError, ErrorCode, invalidState, limitExceeded, notFound } from "../errors";
import type { Logger } from "../log";
import { MEDIA_CODECS } from "../media-codecs";
import type { Notification, ProducerInfo, RequestData } from "../signaling/messages";
import { CloseCode } from "../signaling/messages";
import { FIRST_KEY_FRAME_HOLD_MS, FirstKeyFrameGate } from "./first-key-frame";
import { chooseLayers, demandedLayer, parseScalabilityMode, topLayerOf } from "./layers";
import { PEER_LIMITS, Peer, type Direction, type PeerLink, type TransportAppData } from "./peer";

export type RoomCloseReason = "deleted" | "shutdown" | "worker-died";

export type BridgeRoomEvents = { close: [RoomCloseReason] };

export interface RoomHost {
  worker: types.Worker;
  webRtcServer: types.WebRtcServer;
}

/** How the room's connections are closed, by why the room closes (PROTOCOL.md, close codes). */
const CLOSE_FOR: Record<RoomCloseReason, { code: CloseCode; reason: string }> = {
  deleted: { code: CloseCode.RoomClosed, reason: "room closed" },
  shutdown: { code: CloseCode.ServerShutdown, reason: "bridge shutting down" },
  "worker-died": { code: CloseCode.MediaRestarted, reason: "media restarted" },
};

/** A grant minted before a kick must not let the kicked nick back in (grants live <= 60 s, contract/grants.ts). */
const KICK_MEMORY_SECONDS = 60;

const LOBBY_CLOSED = { code: CloseCode.Kicked, reason: "lobby closed" } as const;

/**
 * Key frame requests (PLI) to one video producer are sent at most once per this many ms; the requests in between are
 * merged into one sent when the time is up (mediasoup `keyFrameRequestDelay`). Why: libwebrtc senders ignore a PLI
 * that comes less than 300 ms after the last one they answered (EncoderRtcpFeedback min_keyframe_send_interval),
 * and mediasoup, having sent a PLI, asks again only after 1 s if no key frame came. When several consumers start
 * within 300 ms of each other (everyone joins the bridge at once), the second PLI is ignored and those receivers
 * wait over a second for their first frame; merged and spaced just beyond 300 ms, the second request is answered.
 */
const KEY_FRAME_REQUEST_DELAY_MS = 350;


export class BridgeRoom extends TypedEmitter<BridgeRoomEvents> {
  readonly peers = new Map<string, Peer>();
  /** Lobby connections: not peers yet (see above). */
  readonly lobby = new Set<Peer>();
  /** Consumers asked to resume while their viewer or their producer's owner was in the lobby: resumed on `admit`. */
  readonly #heldForAdmit = new Set<types.Consumer>();
  /**
   * Video consumers whose viewer says they are not on screen (`setConsumerSize` 0): paused here whatever the viewer
   * asked; `#wanted` are those the viewer asked to resume, started again when they are back on screen.
   */
  readonly #offScreen = new Set<types.Consumer>();
  readonly #wanted = new Set<types.Consumer>();
  /** The spatial layer last told to each simulcast/SVC producer's owner (`layerDemand`), by producer id. */
  readonly #demand = new Map<string, number>();
  readonly #kicked = new Map<string, number>(); // nick -> kick time (unix s)
  /** Lobby ids the room closed (lid -> time, unix s), and when it closed the whole lobby (evictLobby). */
  readonly #evicted = new Map<string, number>();
  #lobbyClosedAt: number | undefined;
  /** current dominant speaker, told to newcomers */
  #speaker: { nick: string | null; producerId: string } | undefined;
  #closed = false;
  /** Holds the first viewers of a video producer so that one key frame starts them all (first-key-frame.ts). */
  readonly #firstKeyFrame: FirstKeyFrameGate<types.Consumer>;

  private constructor(
    readonly name: string,
    readonly host: RoomHost,
    readonly router: types.Router,
    readonly speakerObserver: types.ActiveSpeakerObserver,
    readonly maxPeers: number,
    readonly log: Logger,
    readonly traceKeyFrames: boolean,
    firstKeyFrameHoldMs: number,
    /** bits/s a client may send on one transport (config MAX_INCOMING_BITRATE) */
    readonly maxIncomingBitrate: number,
  ) {
    super();
    this.#firstKeyFrame = new FirstKeyFrameGate<types.Consumer>(
      {
        resume: (c) => void this.#resume(c).catch(() => undefined), // closed meanwhile
        setTimer: (fn, ms) => setTimeout(fn, ms),
        clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
      },
      firstKeyFrameHoldMs,
    );
  }

  /** `traceKeyFrames` (LOG_LEVEL=debug): log every key frame and PLI/FIR of video producers and consumers. */
  static async create(opts: {
    name: string;
    host: RoomHost;
    maxPeers: number;
    log: Logger;
    traceKeyFrames?: boolean;
    /** first-key-frame.ts; 0: no holding */
    firstKeyFrameHoldMs?: number;
    /** bits/s a client may send on one transport */
    maxIncomingBitrate?: number;
  }): Promise<BridgeRoom> {
    const router = await opts.host.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const speakerObserver = await router.createActiveSpeakerObserver({ interval: 300 });
    const room = new BridgeRoom(
      opts.name,
      opts.host,
      router,
      speakerObserver,
      opts.maxPeers,
      opts.log,
      opts.traceKeyFrames ?? false,
      opts.firstKeyFrameHoldMs ?? FIRST_KEY_FRAME_HOLD_MS,
      opts.maxIncomingBitrate ?? DEFAULT_MAX_INCOMING_BITRATE,
    );
    router.on("workerclose", () => room.close("worker-died"));
    speakerObserver.on("dominantspeaker", ({ producer }) => {
      const nick = (producer.appData as { nick?: string }).nick ?? null;
      room.#speaker = { nick, producerId: producer.id };
      producer.observer.once("close", () => {
        if (room.#speaker?.producerId === producer.id) room.#speaker = undefined;
      });
      if (room.traceKeyFrames) room.log.debug("room.speaker", { nick: nick ?? "" });
      room.broadcast({ method: "activeSpeaker", data: room.#speaker });
    });
    return room;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Idempotent; tells every peer `roomClosing`, closes their sockets and all media. */
  close(reason: RoomCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.broadcast({ method: "roomClosing", data: { reason } });
    const close = CLOSE_FOR[reason];
    for (const p of [...this.peers.values(), ...this.lobby]) p.close(close);
    this.peers.clear();
    this.lobby.clear();
    this.#firstKeyFrame.close();
    this.router.close(); // closes the observer and any remaining transports
    this.log.info("room.closed", { [`reason_${reason.replace("-", "_")}`]: true });
    this.safeEmit("close", reason);
  }

  broadcast(n: Notification, except?: Peer): void {
    for (const p of this.peers.values()) if (p !== except) p.notify(n);
  }

  /** Checks that run before a (grant-verified) connection becomes a peer. Returns a close reason or undefined. */
  admissionError(nick: string, grantExp: number): { code: CloseCode; reason: string } | undefined {
    if (this.#closed) return { code: CloseCode.RoomClosed, reason: "room closed" };
    const kickedAt = this.#kicked.get(nick);
    if (kickedAt !== undefined) {
      if (grantExp <= kickedAt + KICK_MEMORY_SECONDS) return { code: CloseCode.Kicked, reason: "kicked" };
      this.#kicked.delete(nick);
    }
    if (!this.peers.has(nick) && this.peers.size >= this.maxPeers) return { code: CloseCode.RoomFull, reason: "room full" };
    return undefined;
  }

  /**
   * Checks before a (grant-verified) lobby connection is let in. Returns a close reason or undefined. A grant minted
   * before the room closed that session's lobby connections (or the whole lobby) is refused, as a kicked nick's.
   */
  lobbyAdmissionError(lid: string, grantExp: number): { code: CloseCode; reason: string } | undefined {
    if (this.#closed) return { code: CloseCode.RoomClosed, reason: "room closed" };
    const evictedAt = this.#evicted.get(lid);
    if (evictedAt !== undefined && grantExp <= evictedAt + KICK_MEMORY_SECONDS) return LOBBY_CLOSED;
    if (this.#lobbyClosedAt !== undefined && grantExp <= this.#lobbyClosedAt + KICK_MEMORY_SECONDS) return LOBBY_CLOSED;
    if (this.lobby.size >= this.maxPeers) return { code: CloseCode.RoomFull, reason: "lobby full" };
    return undefined;
  }

  /**
   * The room closes lobby connections (PROTOCOL.md "Lobby"): those of the sessions `lids` (gone, or kicked), or all
   * of them (`"all"`: the room was locked). Lobby grants minted before stay refused for their lifetime.
   * Returns how many connections were closed.
   */
  evictLobby(lids: readonly string[] | "all", nowSeconds = Math.floor(Date.now() / 1000)): number {
    for (const [l, t] of this.#evicted) if (t + KICK_MEMORY_SECONDS < nowSeconds) this.#evicted.delete(l);
    if (lids === "all") this.#lobbyClosedAt = nowSeconds;
    else for (const l of lids) this.#evicted.set(l, nowSeconds);
    const gone = [...this.lobby].filter((p) => lids === "all" || (p.lobbyId !== undefined && lids.includes(p.lobbyId)));
    for (const p of gone) {
      this.lobby.delete(p);
      p.close(LOBBY_CLOSED); // its producers close: the room's consumers of them get producerClosed
    }
    return gone.length;
  }

  /** Adds a peer; a previous connection with the same nick is replaced (closed with 4409). */
  join(nick: string, link: PeerLink): Peer {
    if (this.#closed) throw invalidState("room closed");
    const peer = new Peer(nick, link);
    this.#enter(peer);
    return peer;
  }

  /** Adds a lobby connection (nobody in the room until `admit`) for the session `lid`. */
  joinLobby(link: PeerLink, lid: string): Peer {
    if (this.#closed) throw invalidState("room closed");
    const peer = new Peer(`~lobby-${crypto.randomUUID()}`, link, lid);
    this.lobby.add(peer);
    for (const other of this.peers.values()) for (const producer of other.producers.values()) peer.notify(lobbyProducer(producer));
    return peer;
  }

  /**
   * A lobby connection becomes the peer `nick` (its occupant grant was checked by the caller, with admissionError):
   * it is told who is here and what it can consume, and the others are told about it and its producers.
   */
  admit(peer: Peer, nick: string): void {
    if (!this.lobby.has(peer)) throw invalidState(peer.closed ? "peer closed" : "already admitted");
    this.lobby.delete(peer);
    peer.nick = nick;
    for (const producer of peer.producers.values()) (producer.appData as { nick?: string }).nick = nick;
    this.#enter(peer);
    for (const producer of peer.producers.values()) this.#announceProducer(peer, producer);
    // Consumers across the lobby that this admission connects (both sides now in the room) start now.
    for (const c of [...this.#heldForAdmit]) {
      const viewer = [...this.peers.values()].find((p) => p.consumers.has(c.id));
      const owner = this.#ownerOf(c.producerId);
      if (!viewer || !owner || !this.#inRoom(owner)) continue;
      this.#heldForAdmit.delete(c);
      void this.#startConsumer(c).catch(() => undefined); // closed meanwhile
    }
  }

  #enter(peer: Peer): void {
    const old = this.peers.get(peer.nick);
    if (old) this.#removePeer(old, { code: CloseCode.Replaced, reason: "replaced by a newer connection" });
    // Tell the newcomer who is here and what it can consume, then tell the others about it.
    for (const other of this.peers.values()) {
      peer.notify({ method: "peerJoined", data: { nick: other.nick } });
      for (const producer of other.producers.values()) peer.notify({ method: "newProducer", data: producerInfo(other, producer) });
    }
    for (const waiting of this.lobby) for (const producer of waiting.producers.values()) peer.notify(lobbyProducer(producer));
    if (this.#speaker) peer.notify({ method: "activeSpeaker", data: this.#speaker });
    this.peers.set(peer.nick, peer);
    this.broadcast({ method: "peerJoined", data: { nick: peer.nick } }, peer);
  }

  /** A peer in the room, not a lobby connection. */
  #inRoom(peer: Peer): boolean {
    return this.peers.get(peer.nick) === peer;
  }

  /** Who produces `producerId`: a peer in the room or a lobby connection. */
  #ownerOf(producerId: string): Peer | undefined {
    for (const p of this.peers.values()) if (p.producers.has(producerId)) return p;
    for (const p of this.lobby) if (p.producers.has(producerId)) return p;
    return undefined;
  }

  /** The peer's socket went away. */
  leave(peer: Peer): void {
    if (this.#inRoom(peer)) this.#removePeer(peer);
    else {
      this.lobby.delete(peer);
      peer.close();
    }
  }

  kick(nick: string, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
    this.#kicked.set(nick, nowSeconds);
    for (const [n, t] of this.#kicked) if (t + KICK_MEMORY_SECONDS < nowSeconds) this.#kicked.delete(n);
    const peer = this.peers.get(nick);
    if (!peer) return false;
    this.#removePeer(peer, { code: CloseCode.Kicked, reason: "kicked" });
    return true;
  }

  #removePeer(peer: Peer, link?: { code: CloseCode; reason: string }): void {
    this.peers.delete(peer.nick);
    peer.close(link); // producers close -> consumers of others get "producerclose" -> producerClosed notifications
    this.broadcast({ method: "peerLeft", data: { nick: peer.nick } });
    this.#firstKeyFrame.reconsider((pid) => this.#waitingViewer(pid)); // first viewers held for this peer
  }

  // ---- media operations (called by the signaling method table) ------------------------------------------------

  async createWebRtcTransport(peer: Peer, direction: Direction) {
    if (peer.transports.size >= PEER_LIMITS.transports) throw limitExceeded("too many transports");
    const transport = await this.router.createWebRtcTransport<TransportAppData>({
      webRtcServer: this.host.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      initialAvailableOutgoingBitrate: 1_000_000,
      appData: { direction },
    });
    // What the client may send (the bandwidth estimate mediasoup gives the sender is capped): set on every transport,
    // since a receive transport could be used to send as well were it not for the direction check in produce.
    await transport.setMaxIncomingBitrate(this.maxIncomingBitrate);
    if (peer.closed) {
      transport.close();
      throw invalidState("peer closed");
    }
    peer.transports.set(transport.id, transport);
    transport.observer.on("close", () => peer.transports.delete(transport.id));
    transport.on("dtlsstatechange", (s) => {
      if (s === "failed" || s === "closed" || this.traceKeyFrames) this.log.debug("transport.dtls", { state: s, who: `${peer.nick} ${direction}` });
    });
    return {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
    };
  }

  async connectWebRtcTransport(peer: Peer, d: RequestData<"connectWebRtcTransport">) {
    const t = transportOf(peer, d.transportId);
    await t.connect({ dtlsParameters: d.dtlsParameters as types.DtlsParameters });
    return {};
  }

  async restartIce(peer: Peer, d: RequestData<"restartIce">) {
    const t = transportOf(peer, d.transportId);
    return t.restartIce(); // the new IceParameters themselves (as mediasoup-demo), for transport.restartIce({ iceParameters })
  }

  async produce(peer: Peer, d: RequestData<"produce">) {
    const t = transportOf(peer, d.transportId);
    if (t.appData.direction !== "send") throw invalidState("transport is not a send transport");
    if (peer.producers.size >= PEER_LIMITS.producers) throw limitExceeded("too many producers");
    const producer = await t.produce({
      kind: d.kind,
      rtpParameters: d.rtpParameters as types.RtpParameters,
      keyFrameRequestDelay: d.kind === "video" ? KEY_FRAME_REQUEST_DELAY_MS : 0,
      appData: { ...(d.appData ?? {}), nick: peer.nick },
    });
    if (peer.closed) {
      producer.close();
      throw invalidState("peer closed");
    }
    peer.producers.set(producer.id, producer);
    producer.observer.on("close", () => {
      peer.producers.delete(producer.id);
      this.#firstKeyFrame.producerClosed(producer.id);
      this.#demand.delete(producer.id);
    });
    if (this.traceKeyFrames && producer.kind === "video") this.#trace(producer, `producer ${peer.nick}`);
    if (this.#inRoom(peer)) this.#announceProducer(peer, producer);
    else this.broadcast(lobbyProducer(producer)); // a lobby connection's: to the room anonymously, named once admitted
    this.#tellDemand(producer.id, peer);
    return { id: producer.id };
  }

  #announceProducer(peer: Peer, producer: types.Producer): void {
    if (producer.kind === "audio") void this.speakerObserver.addProducer({ producerId: producer.id }).catch(() => undefined);
    this.broadcast({ method: "newProducer", data: producerInfo(peer, producer) }, peer);
    for (const waiting of this.lobby) waiting.notify(lobbyProducer(producer));
  }

  async consume(peer: Peer, d: RequestData<"consume">) {
    const t = transportOf(peer, d.transportId);
    if (t.appData.direction !== "recv") throw invalidState("transport is not a recv transport");
    if (peer.consumers.size >= PEER_LIMITS.consumers) throw limitExceeded("too many consumers");
    const owner = this.#ownerOf(d.producerId);
    if (!owner) throw notFound("producer");
    if (owner === peer) throw new BridgeError(ErrorCode.BadRequest, "cannot consume own producer");
    if (!this.#inRoom(peer) && !this.#inRoom(owner)) throw new BridgeError(ErrorCode.Forbidden, "a lobby connection cannot consume another's");
    const rtpCapabilities = d.rtpCapabilities as types.RtpCapabilities;
    if (!this.router.canConsume({ producerId: d.producerId, rtpCapabilities })) {
      throw new BridgeError(ErrorCode.Unsupported, "cannot consume this producer with these rtpCapabilities");
    }
    // Consumers start paused (mediasoup recommendation): the client resumes once its consumer exists, so the
    // first packets (and the keyframe request) are not lost.
    // A simulcast/SVC camera starts at its lowest spatial layer (full frame rate) until the viewer says how large it
    // shows it (setConsumerSize): a small first key frame, like a camera's first seconds on the bridge (sdp-tuning.ts).
    const consumer = await t.consume({ producerId: d.producerId, rtpCapabilities, paused: true, preferredLayers: { spatialLayer: 0 } });
    if (peer.closed) {
      consumer.close();
      throw invalidState("peer closed");
    }
    peer.consumers.set(consumer.id, consumer);
    consumer.observer.on("close", () => {
      peer.consumers.delete(consumer.id);
      this.#firstKeyFrame.forget(consumer);
      this.#heldForAdmit.delete(consumer);
      this.#offScreen.delete(consumer);
      this.#wanted.delete(consumer);
      this.#tellDemand(consumer.producerId);
    });
    if (this.traceKeyFrames && consumer.kind === "video") {
      const who = `consumer ${peer.nick}<-${owner.nick}`;
      this.#trace(consumer, who);
      consumer.on("layerschange", (l) => this.log.debug("consumer.layers", { who, spatial: l?.spatialLayer ?? -1, temporal: l?.temporalLayer ?? -1 }));
    }
    consumer.on("producerclose", () => {
      peer.consumers.delete(consumer.id);
      peer.notify({ method: "producerClosed", data: { producerId: consumer.producerId, consumerId: consumer.id } });
    });
    return {
      id: consumer.id,
      producerId: consumer.producerId,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      producerPaused: consumer.producerPaused,
    };
  }

  async setConsumerPaused(peer: Peer, consumerId: string, paused: boolean) {
    const c = peer.consumers.get(consumerId);
    if (!c) throw notFound("consumer");
    if (paused) {
      this.#wanted.delete(c);
      this.#heldForAdmit.delete(c);
      this.#firstKeyFrame.forget(c);
      await c.pause();
      if (this.traceKeyFrames) this.log.debug("consumer.paused", { who: peer.nick, kind: c.kind });
      return {};
    }
    this.#wanted.add(c);
    const owner = this.#ownerOf(c.producerId);
    if (!this.#inRoom(peer) || (owner && !this.#inRoom(owner))) {
      this.#heldForAdmit.add(c); // no media across the lobby: it starts on admission (see admit)
      return { heldUntilAdmitted: true };
    }
    await this.#startConsumer(c);
    return {};
  }

  /**
   * How large the viewer renders a video consumer, in device pixels (PROTOCOL.md `setConsumerSize`): 0 pauses it
   * (off screen: no video bytes), a size resumes it if the viewer asked for it and, for a simulcast/SVC producer,
   * prefers the layers that fit (layers.ts).
   */
  async setConsumerSize(peer: Peer, d: RequestData<"setConsumerSize">) {
    const c = peer.consumers.get(d.consumerId);
    if (!c) throw notFound("consumer");
    if (c.kind !== "video") throw new BridgeError(ErrorCode.BadRequest, "only a video consumer has a size (audio always flows)");
    if (d.width === 0 || d.height === 0) {
      if (this.#offScreen.has(c)) return {};
      this.#offScreen.add(c);
      this.#firstKeyFrame.forget(c);
      this.#firstKeyFrame.reconsider((pid) => this.#waitingViewer(pid)); // nobody waits for a viewer who won't look
      this.#tellDemand(c.producerId);
      if (!c.paused) await c.pause();
      return {};
    }
    if (c.type === "simulcast" || c.type === "svc") {
      const owner = this.#ownerOf(c.producerId);
      const producer = owner?.producers.get(c.producerId);
      const { spatialLayers, temporalLayers } = parseScalabilityMode(c.rtpParameters.encodings?.[0]?.scalabilityMode);
      const top = topLayerOf((producer?.appData ?? {}) as Record<string, unknown>);
      const want = chooseLayers({ width: d.width, height: d.height }, top, spatialLayers, temporalLayers);
      const now = c.preferredLayers;
      if (now?.spatialLayer !== want.spatialLayer || now?.temporalLayer !== want.temporalLayer) await c.setPreferredLayers(want);
    }
    const wasOff = this.#offScreen.delete(c);
    this.#tellDemand(c.producerId);
    if (wasOff && this.#wanted.has(c) && !this.#heldForAdmit.has(c)) await this.#startConsumer(c);
    return {};
  }

  /**
   * Tell a simulcast/SVC producer's owner the highest spatial layer its viewers want now, when it changed
   * (PROTOCOL.md `layerDemand`): the page stops encoding the layers above it. In a call of eight in a grid, every
   * tile takes the lowest layer (layers.ts), so each camera is encoded once, small, instead of three times.
   */
  #tellDemand(producerId: string, owner = this.#ownerOf(producerId)): void {
    const producer = owner?.producers.get(producerId);
    if (!owner || owner.closed || !producer || producer.closed || producer.kind !== "video" || producer.type === "simple") return;
    const viewers: Array<number | null> = [];
    for (const p of [...this.peers.values(), ...this.lobby]) {
      for (const c of p.consumers.values()) {
        if (c.producerId === producerId && !c.closed) viewers.push(this.#offScreen.has(c) ? null : (c.preferredLayers?.spatialLayer ?? 0));
      }
    }
    const layer = demandedLayer(viewers);
    if (this.#demand.get(producerId) === layer) return;
    this.#demand.set(producerId, layer);
    owner.notify({ method: "layerDemand", data: { producerId, spatialLayer: layer } });
  }

  /** Resume a consumer its viewer asked for (video: through the first-key-frame gate), unless it is off screen. */
  async #startConsumer(c: types.Consumer): Promise<void> {
    if (this.#offScreen.has(c)) return;
    if (c.kind !== "video" || this.#firstKeyFrame.request(c.producerId, c, () => this.#waitingViewer(c.producerId, c)) === "now") {
      await this.#resume(c);
    }
  }

  async #resume(c: types.Consumer): Promise<void> {
    if (c.closed) return;
    await c.resume();
    if (this.traceKeyFrames) this.log.debug("consumer.resumed", { kind: c.kind });
  }

  /**
   * For the first-key-frame gate: is some peer in the room (not the producer's owner, not the one consuming through
   * `except`) expected to view producer `pid` and not yet asking to resume its consumer of it? Every peer in the room
   * is expected to: clients consume everything announced (PROTOCOL.md).
   */
  #waitingViewer(pid: string, except?: types.Consumer): boolean {
    for (const p of this.peers.values()) {
      if (p.closed || p.producers.has(pid) || (except && p.consumers.has(except.id))) continue;
      // A viewer with the video off screen is not waited for either.
      const asked = [...p.consumers.values()].some(
        (x) => x.producerId === pid && (!x.paused || this.#firstKeyFrame.isHeld(x) || this.#offScreen.has(x)),
      );
      if (!asked) return true;
    }
    return false;
  }

  async setProducerPaused(peer: Peer, producerId: string, paused: boolean) {
    const p = peer.producers.get(producerId);
    if (!p) throw notFound("producer");
    if (paused) await p.pause();
    else await p.resume();
    return {};
  }

  closeProducer(peer: Peer, producerId: string) {
    const p = peer.producers.get(producerId);
    if (!p) throw notFound("producer");
    p.close();
    peer.producers.delete(producerId);
    return {};
  }

  async getStats(peer: Peer, d: RequestData<"getStats">): Promise<unknown> {
    if ("transportId" in d) return transportOf(peer, d.transportId).getStats();
    if ("producerId" in d) {
      const p = peer.producers.get(d.producerId);
      if (!p) throw notFound("producer");
      return p.getStats();
    }
    const c = peer.consumers.get(d.consumerId);
    if (!c) throw notFound("consumer");
    // A consumer's stats include its producer's (mediasoup: the producer's inbound stream, e.g. bytes, packets,
    // score): across the lobby that would tell who is speaking or sending video before anyone was admitted.
    if (!this.#inRoom(peer)) throw new BridgeError(ErrorCode.Forbidden, "a lobby connection gets no stats of others' media");
    return c.getStats();
  }

  /** Debug only (names nicks): key frames and key frame requests, to see where a first video frame waits. */
  #trace(o: types.Producer | types.Consumer, who: string): void {
    void o.enableTraceEvent(["keyframe", "pli", "fir"]).catch(() => undefined);
    // Producer and Consumer both emit "trace" with {type, direction}; their event maps differ only in other events.
    // The SSRC tells a simulcast producer's layers apart (key frames: the packet's; PLI/FIR: the one asked).
    (o as types.Producer).on("trace", (t) => {
      const info = t.info as { ssrc?: number; rtpPacket?: { ssrc?: number } } | undefined;
      const ssrc = info?.rtpPacket?.ssrc ?? info?.ssrc ?? 0;
      this.log.debug("media.trace", { who, type: t.type, direction: t.direction, ssrc });
    });
  }

  counts(): { peers: number; transports: number; producers: number; consumers: number } {
    let transports = 0;
    let producers = 0;
    let consumers = 0;
    for (const p of [...this.peers.values(), ...this.lobby]) {
      transports += p.transports.size;
      producers += p.producers.size;
      consumers += p.consumers.size;
    }
    return { peers: this.peers.size, transports, producers, consumers };
  }
}

function transportOf(peer: Peer, id: string) {
  const t = peer.transports.get(id);
  if (!t) throw notFound("transport");
  return t;
}

/** A producer offered across the lobby: no nick, no appData. */
function lobbyProducer(producer: types.Producer): Notification {
  return { method: "lobbyProducer", data: { producerId: producer.id, kind: producer.kind } };
}

function producerInfo(owner: Peer, producer: types.Producer): ProducerInfo {
  const { nick: _n, ...appData } = producer.appData as Record<string, unknown>;
  return { producerId: producer.id, nick: owner.nick, kind: producer.kind, paused: producer.paused, appData };
}
