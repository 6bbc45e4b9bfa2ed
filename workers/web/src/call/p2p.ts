/**
 * Direct (peer-to-peer) media with Jingle (XEP-0166 sessions, XEP-0167 RTP, XEP-0176 ICE-UDP, XEP-0320 DTLS) via
 * StanzaJS' SessionManager, which converts between SDP and Jingle. One session per other occupant while the room
 * is in P2P mode (a 1:1 call is one session; a small room without a bridge becomes a mesh).
 *
 * Who initiates: the later of the two to join the room (`P2PEvents.initiates`; both sides agree because the room
 * orders joins). The newcomer sends the offer it prepared during the hair check (prepared.ts) as soon as it has
 * joined, and the occupant who was waiting answers with its spare peer connection. (The other way round, the
 * offer reaches the newcomer while its page is busy drawing the call screen: slower in `npm run bench:call`.)
 * XEP-0166 §7.2.16 tie-breaking remains StanzaJS' job if both ever initiate. ICE restart on failure is StanzaJS' ICESession behaviour (transport-info with new ICE credentials, XEP-0176 §2.6 / RFC 8445 §9).
 */
import type { Agent } from "stanza";
import { callPeerConnection } from "../e2ee/call-encryption";
import { MediaSession } from "stanza/jingle";
import type { Session } from "stanza/jingle";
import {
  acceptQuickly,
  createSpareAnswerer,
  preferCodecs,
  prepareOffer,
  sendPreparedOffer,
  sessionConfig,
  setSenderTracks,
  tunePeerConnection,
  usablePrepared,
  type PreparedOffer,
} from "./prepared";
import { RAMP_UP_MS, START_HEIGHT, SWITCHING_HEIGHT } from "./sdp-tuning";
import { limitSendHeight } from "./send-size";

export interface P2PEvents {
  /** Whether to accept a session the peer initiated (e.g. only in P2P mode, only from occupants). */
  acceptIncoming(peer: string): boolean;
  /** Whether we send the session-initiate to this peer (we joined the room after it). */
  initiates(peer: string): boolean;
  remoteStream(peer: string, stream: MediaStream): void;
  sessionEnded(peer: string): void;
  stateChanged(peer: string, state: RTCPeerConnectionState): void;
}

export class P2PMesh {
  readonly #client: Agent;
  readonly #self: () => string | undefined;
  readonly #sendStream: () => MediaStream;
  readonly #events: P2PEvents;
  readonly #sessions = new Map<string, MediaSession>();
  readonly #streams = new Map<string, MediaStream>();
  #wanted = new Set<string>();
  #closed = false;
  /** An offer with candidates gathered, for the next occupant who joins after us (prepared.ts). */
  #prepared: PreparedOffer | undefined;
  /** An offer being prepared (settles to undefined if preparing failed). */
  #preparing: Promise<void> | undefined;
  /** A peer connection ready to answer the next incoming session. */
  #spare: RTCPeerConnection | undefined;
  /** Set just while StanzaJS constructs an outgoing session that should use this peer connection. */
  #nextPc: RTCPeerConnection | undefined;
  readonly #fromSpare = new WeakSet<RTCPeerConnection>();
  #iceServers: RTCIceServer[] | undefined;
  /** Sessions whose camera went to full size (RAMP_UP_MS after connecting; they start small, sdp-tuning.ts §3). */
  readonly #rampedUp = new WeakSet<MediaSession>();
  /** The room is moving to the bridge: direct cameras go small to leave CPU for it (setSwitching). */
  #switching = false;
  #refreshTimer: ReturnType<typeof setInterval> | undefined;

  constructor(client: Agent, self: () => string | undefined, sendStream: () => MediaStream, events: P2PEvents) {
    this.#client = client;
    this.#self = self;
    this.#sendStream = sendStream;
    this.#events = events;
    client.on("jingle:incoming", this.#onIncoming);
    client.on("jingle:terminated", this.#onTerminated);
    client.jingle.on("peerTrackAdded", this.#onTrack);
    client.on("iq:set:jingle", this.#onJingleIq);
    client.jingle.createPeerConnection = (session, opts) => {
      let pc: RTCPeerConnection | undefined;
      if (session.role === "initiator") {
        pc = this.#nextPc;
        this.#nextPc = undefined;
      } else if (this.#spare) {
        pc = this.#spare;
        this.#spare = undefined;
        this.#fromSpare.add(pc);
        this.#later(() => this.#ensureSpare());
      }
      return pc ?? tunePeerConnection(callPeerConnection(opts));
    };
  }

  /**
   * Keep connections ready so that a direct session needs one signaling round trip: an offer with its candidates
   * gathered (we initiate towards whoever joins after us) and a spare answerer (for whoever offers to us). Call
   * when joining (`first`: what the hair check prepared with the same ICE servers) and whenever the ICE servers
   * change. Both are replaced in the background after use, and the offer before it goes stale.
   */
  keepReady(iceServers: RTCIceServer[], first?: { offer: Promise<PreparedOffer | undefined>; spare?: RTCPeerConnection }): void {
    if (this.#closed) return;
    const changed = this.#iceServers !== undefined && this.#iceServers !== iceServers;
    this.#iceServers = iceServers;
    if (changed) {
      this.#spare?.close();
      this.#spare = undefined;
      this.#prepared?.pc.close();
      this.#prepared = undefined;
    }
    if (first?.spare) {
      if (this.#spare) first.spare.close();
      else this.#spare = tunePeerConnection(first.spare);
    }
    this.#ensureSpare();
    if (first && !this.#prepared && !this.#preparing) this.#adopt(first.offer);
    else {
      void first?.offer.then((o) => o?.pc.close());
      this.#ensureOffer();
    }
    this.#refreshTimer ??= setInterval(() => this.#ensureOffer(), 60_000);
  }

  #config(): RTCConfiguration {
    return sessionConfig(this.#client, this.#iceServers ?? []);
  }

  #later(fn: () => void): void {
    // Off the critical path of the session that just started.
    setTimeout(() => {
      if (!this.#closed) fn();
    }, 2000);
  }

  /**
   * No new spare or prepared offer while the room is on (or moving to) the bridge: each is a peer connection that
   * gathers candidates, CPU taken from the switch itself, and no direct session starts until the room is back to
   * two. setSwitching(false) makes them again.
   */
  #ensureSpare(): void {
    if (this.#closed || this.#switching || this.#spare || !this.#iceServers) return;
    this.#spare = tunePeerConnection(createSpareAnswerer(this.#config(), this.#sendStream()));
  }

  #ensureOffer(): void {
    if (this.#closed || this.#switching || this.#preparing || !this.#iceServers) return;
    if (this.#prepared && usablePrepared(this.#prepared)) return;
    this.#prepared = undefined; // usablePrepared closed a stale one
    this.#adopt(prepareOffer(this.#config()));
  }

  #adopt(offer: Promise<PreparedOffer | undefined>): void {
    const preparing = offer.then((o) => {
      if (this.#preparing === preparing) this.#preparing = undefined;
      if (!o) return;
      if (this.#closed || this.#prepared) o.pc.close();
      else this.#prepared = { ...o, pc: tunePeerConnection(o.pc) };
    });
    this.#preparing = preparing;
  }

  #takePrepared(): RTCPeerConnection | undefined {
    const pc = usablePrepared(this.#prepared);
    this.#prepared = undefined;
    this.#later(() => this.#ensureOffer());
    return pc;
  }

  readonly #onJingleIq = (iq: { jingle: { action?: string } }): void => {
    performance.mark(`parley:jingle-rx:${iq.jingle.action ?? "?"}`);
  };

  /** The occupants (room full JIDs) we want a direct session with; [] ends them all. */
  setPeers(peers: string[]): void {
    if (this.#closed) return;
    this.#wanted = new Set(peers);
    for (const [peer, s] of this.#sessions) if (!this.#wanted.has(peer)) this.#end(peer, s);
    if (!this.#self()) return;
    for (const peer of this.#wanted) {
      if (this.#sessions.has(peer) || !this.#events.initiates(peer)) continue;
      this.#initiate(peer);
    }
  }

  hasSession(peer: string): boolean {
    return this.#sessions.has(peer);
  }

  /** Peers whose session has connected media (ICE+DTLS up). */
  connectedPeers(): string[] {
    return [...this.#sessions].filter(([, s]) => s.pc.connectionState === "connected").map(([p]) => p);
  }

  /**
   * After a network change every session is dead (its candidates and the peer's view of our address are the old
   * network's), and so are the prepared offer and the spare answerer: drop them all without a session-terminate (the
   * peer replaces its session when our new one arrives, #onIncoming), so that setPeers initiates new ones. The
   * remote streams stay on screen until the new sessions' streams replace them.
   */
  restart(): void {
    for (const [peer, s] of this.#sessions) {
      this.#sessions.delete(peer);
      if (s.state !== "ended") s.end("success", true);
    }
    this.#prepared?.pc.close();
    this.#prepared = undefined;
    this.#spare?.close();
    this.#spare = undefined;
    this.#later(() => {
      this.#ensureSpare();
      this.#ensureOffer();
    });
  }

  /** Screen share / camera switch: swap the outgoing video (or audio) track in every session without renegotiation. */
  async replaceTrack(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void> {
    await Promise.all(
      [...this.#sessions.values()].map(async (s) => {
        const tr = s.pc.getTransceivers().find((t) => (t.sender.track?.kind ?? t.receiver.track.kind) === kind);
        if (tr) await tr.sender.replaceTrack(track).catch(() => undefined);
        await this.#applySize(s);
      }),
    );
  }

  /** While the room moves to the bridge, send direct video small (until the sessions end), or back to normal. */
  setSwitching(on: boolean): void {
    if (this.#switching === on) return;
    this.#switching = on;
    for (const s of this.#sessions.values()) void this.#applySize(s);
    if (!on) {
      this.#later(() => {
        this.#ensureSpare();
        this.#ensureOffer();
      });
    }
  }

  /** Camera size for a session's senders: small at first and while switching, full size otherwise. */
  #applySize(session: MediaSession): Promise<void> {
    const max = this.#switching ? SWITCHING_HEIGHT : this.#rampedUp.has(session) ? null : START_HEIGHT;
    return Promise.all(session.pc.getSenders().map((sender) => limitSendHeight(sender, max))).then(() => undefined);
  }

  close(): void {
    this.#closed = true;
    this.#wanted = new Set();
    for (const [peer, s] of this.#sessions) this.#end(peer, s);
    this.#client.off("jingle:incoming", this.#onIncoming);
    this.#client.off("jingle:terminated", this.#onTerminated);
    this.#client.jingle.off("peerTrackAdded", this.#onTrack);
    this.#client.off("iq:set:jingle", this.#onJingleIq);
    clearInterval(this.#refreshTimer);
    this.#prepared?.pc.close();
    this.#prepared = undefined;
    this.#spare?.close();
    this.#spare = undefined;
  }

  #initiate(peer: string): void {
    const stream = this.#sendStream();
    const prepared = this.#takePrepared();
    if (prepared) {
      this.#nextPc = prepared;
      const session = this.#client.jingle.createMediaSession(peer);
      this.#nextPc = undefined;
      this.#track(peer, session);
      performance.mark("parley:jingle-initiate-prepared");
      sendPreparedOffer(session);
      performance.mark("parley:jingle-offer-sent");
      void setSenderTracks(prepared, stream).then(() => this.#applySize(session));
      // The receivers' tracks exist from the start (JSEP §5.10; the answer only unmutes them): put them on screen
      // while the offer is out, so the page is ready to show the first frame when media starts, instead of setting
      // up its video player then. One task later: the offer goes to the socket first, and the tile exists then.
      setTimeout(() => this.#showReceivers(session), 0);
      return;
    }
    const session = this.#client.jingle.createMediaSession(peer, undefined, stream);
    void this.#applySize(session);
    // A kind we have no track for yet is negotiated to send too: a device that becomes ready later (a camera takes a
    // moment to start) is then a replaceTrack away, with no renegotiation (replaceTrack below).
    for (const kind of ["audio", "video"] as const) {
      if (stream.getTracks().every((t) => t.kind !== kind)) session.pc.addTransceiver(kind, { direction: "sendrecv", streams: [stream] });
    }
    preferCodecs(session.pc);
    this.#track(peer, session);
    performance.mark("parley:jingle-initiate");
    void session.start().then(() => performance.mark("parley:jingle-offer-sent"));
  }

  #track(peer: string, session: MediaSession, emit = true): void {
    this.#sessions.set(peer, session);
    if (emit) this.#emitStream(session);
    session.pc.addEventListener("connectionstatechange", () => {
      if (session.pc.connectionState === "connected") {
        performance.mark("parley:p2p-connected");
        if (!this.#rampedUp.has(session)) {
          setTimeout(() => {
            this.#rampedUp.add(session);
            if (this.#sessions.get(peer) === session) void this.#applySize(session);
          }, RAMP_UP_MS);
        }
      }
      if (this.#sessions.get(peer) === session) this.#events.stateChanged(peer, session.pc.connectionState);
    });
  }

  #end(peer: string, session: MediaSession): void {
    this.#sessions.delete(peer);
    this.#streams.delete(peer);
    if (session.state !== "ended") session.end("success");
    this.#events.sessionEnded(peer);
  }

  readonly #onIncoming = (session: Session): void => {
    if (!(session instanceof MediaSession)) {
      session.end("unsupported-applications");
      return;
    }
    const peer = session.peerID;
    if (this.#closed || !(this.#wanted.has(peer) || this.#events.acceptIncoming(peer))) {
      // Not in P2P mode with this occupant (e.g. the room uses the bridge): XEP-0166 §6.7 decline.
      session.end("decline");
      return;
    }
    this.#wanted.add(peer);
    const old = this.#sessions.get(peer);
    if (old) this.#end(peer, old); // the peer restarted (reload, reconnect): the new session replaces the old one
    // The peer's stream goes on screen once our session-accept is on its way, not before: putting a video on screen
    // costs the page tens of ms that the answer would wait for.
    this.#track(peer, session, false);
    const stream = this.#sendStream();
    performance.mark("parley:jingle-incoming");
    const fromSpare = this.#fromSpare.has(session.pc);
    void (async () => {
      // A spare's addTrack transceivers took the offer's m-lines: just make sure they carry the current tracks.
      if (fromSpare) await setSenderTracks(session.pc, stream);
      else for (const t of stream.getTracks()) await session.addTrack(t, stream);
      // Answer every m-line as sending, with or without a track yet: a device that becomes ready later is then a
      // replaceTrack away (JSEP §5.3.1: the answer's direction is the transceiver's, intersected with the offer's).
      for (const tr of session.pc.getTransceivers()) if (tr.direction === "recvonly") tr.direction = "sendrecv";
      void this.#applySize(session); // a spare is small already (prepared.ts): then this does nothing
      await acceptQuickly(session, () => setTimeout(() => this.#emitStream(session), 0));
      performance.mark("parley:jingle-accept-sent");
    })();
  };

  readonly #onTerminated = (session: Session): void => {
    const peer = session.peerID;
    if (this.#sessions.get(peer) !== session) return;
    this.#sessions.delete(peer);
    this.#streams.delete(peer);
    this.#events.sessionEnded(peer);
    // The initiator re-creates a session that ended while still wanted (e.g. ICE failed twice).
    if (!this.#closed && this.#self() && this.#wanted.has(peer) && this.#events.initiates(peer)) {
      setTimeout(() => {
        if (!this.#closed && this.#wanted.has(peer) && !this.#sessions.has(peer)) this.#initiate(peer);
      }, 1000);
    }
  };

  /** Remote tracks per session. A responder's tracks arrive while the offer is applied, before 'incoming'. */
  readonly #sessionStreams = new WeakMap<Session, MediaStream>();

  readonly #onTrack = (session: Session, track: MediaStreamTrack): void => {
    let stream = this.#sessionStreams.get(session);
    if (!stream) {
      stream = new MediaStream();
      this.#sessionStreams.set(session, stream);
    }
    if (stream.getTrackById(track.id)) return; // on screen already (#showReceivers)
    for (const t of stream.getTracks()) if (t.kind === track.kind) stream.removeTrack(t);
    stream.addTrack(track);
    this.#emitStream(session);
  };

  /** A session's remote stream from its receivers' tracks, before the remote description has announced them. */
  #showReceivers(session: MediaSession): void {
    if (this.#sessions.get(session.peerID) !== session || this.#sessionStreams.has(session)) return;
    const tracks = session.pc.getTransceivers().filter((t) => t.direction !== "stopped").map((t) => t.receiver.track);
    this.#sessionStreams.set(session, new MediaStream(tracks));
    performance.mark("parley:receivers-shown");
    this.#emitStream(session);
  }

  #emitStream(session: Session): void {
    const peer = session.peerID;
    const stream = this.#sessionStreams.get(session);
    if (!stream || this.#sessions.get(peer) !== session) return;
    this.#streams.set(peer, stream);
    this.#events.remoteStream(peer, stream);
  }
}
