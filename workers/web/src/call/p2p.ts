/**
 * Direct (peer-to-peer) media with Jingle (XEP-0166 sessions, XEP-0167 RTP, XEP-0176 ICE-UDP, XEP-0320 DTLS) via
 * StanzaJS' SessionManager, which converts between SDP and Jingle. One session per other occupant while the room
 * is in P2P mode (a 1:1 call is one session; a small room without a bridge becomes a mesh).
 *
 * Who initiates: the later of the two to join the room (`P2PEvents.initiates`; both sides agree because the room
 * orders joins), so a newcomer sends the offer it prepared during the hair check (prepared.ts) as soon as it sees
 * the other occupant. XEP-0166 §7.2.16 tie-breaking remains StanzaJS' job if both ever initiate. ICE restart on
 * failure is StanzaJS' ICESession behaviour (transport-info with new ICE credentials, XEP-0176 §2.6 / RFC 8445 §9).
 */
import type { Agent } from "stanza";
import { MediaSession } from "stanza/jingle";
import type { Session } from "stanza/jingle";
import {
  acceptQuickly,
  createSpareAnswerer,
  preferCodecs,
  sendPreparedOffer,
  sessionConfig,
  setSenderTracks,
  tunePeerConnection,
  usablePrepared,
  type PreparedOffer,
} from "./prepared";

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
  /** The offer prepared during the hair check, used for our first session-initiate. */
  #prepared: PreparedOffer | undefined;
  #preparedSlot: { taken: boolean } | undefined;
  /** A peer connection ready to answer the next incoming session. */
  #spare: RTCPeerConnection | undefined;
  /** Set just while StanzaJS constructs an outgoing session that should use this peer connection. */
  #nextPc: RTCPeerConnection | undefined;
  readonly #fromSpare = new WeakSet<RTCPeerConnection>();

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
      }
      return pc ?? tunePeerConnection(new RTCPeerConnection(opts));
    };
  }

  /**
   * Use this offer (prepared during the hair check) for our next session-initiate, if it is ready by then; one
   * that is late, or not needed, is closed.
   */
  usePreparedOffer(offer: Promise<PreparedOffer | undefined>): void {
    this.dropPrepared();
    const slot = { taken: false };
    this.#preparedSlot = slot;
    void offer.then((o) => {
      if (!o) return;
      if (slot.taken || this.#closed || this.#preparedSlot !== slot) o.pc.close();
      else this.#prepared = o;
    });
  }

  #takePrepared(): RTCPeerConnection | undefined {
    if (this.#preparedSlot) this.#preparedSlot.taken = true;
    const pc = usablePrepared(this.#prepared);
    this.#prepared = undefined;
    return pc;
  }

  /** The prepared offer is for the first session right after joining: not needed then, it is closed. */
  dropPrepared(): void {
    if (this.#preparedSlot) this.#preparedSlot.taken = true;
    this.#prepared?.pc.close();
    this.#prepared = undefined;
  }

  /** Keep a peer connection ready for the next incoming session (call after joining and whenever ICE servers change). */
  prepareSpare(iceServers: RTCIceServer[]): void {
    this.#spare?.close();
    this.#spare = this.#closed ? undefined : tunePeerConnection(createSpareAnswerer(sessionConfig(this.#client, iceServers), this.#sendStream()));
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

  peerConnections(): RTCPeerConnection[] {
    return [...this.#sessions.values()].map((s) => s.pc);
  }

  /** Screen share / camera switch: swap the outgoing video (or audio) track in every session without renegotiation. */
  async replaceTrack(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void> {
    await Promise.all(
      [...this.#sessions.values()].map(async (s) => {
        const tr = s.pc.getTransceivers().find((t) => (t.sender.track?.kind ?? t.receiver.track.kind) === kind);
        if (tr) await tr.sender.replaceTrack(track).catch(() => undefined);
      }),
    );
  }

  close(): void {
    this.#closed = true;
    this.#wanted = new Set();
    for (const [peer, s] of this.#sessions) this.#end(peer, s);
    this.#client.off("jingle:incoming", this.#onIncoming);
    this.#client.off("jingle:terminated", this.#onTerminated);
    this.#client.jingle.off("peerTrackAdded", this.#onTrack);
    this.#client.off("iq:set:jingle", this.#onJingleIq);
    this.dropPrepared();
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
      void setSenderTracks(prepared, stream);
      return;
    }
    const session = this.#client.jingle.createMediaSession(peer, undefined, stream);
    for (const kind of ["audio", "video"] as const) {
      if (stream.getTracks().every((t) => t.kind !== kind)) session.pc.addTransceiver(kind, { direction: "recvonly" });
    }
    preferCodecs(session.pc);
    this.#track(peer, session);
    performance.mark("parley:jingle-initiate");
    void session.start().then(() => performance.mark("parley:jingle-offer-sent"));
  }

  #track(peer: string, session: MediaSession): void {
    this.#sessions.set(peer, session);
    this.#emitStream(session);
    session.pc.addEventListener("connectionstatechange", () => {
      if (session.pc.connectionState === "connected") performance.mark("parley:p2p-connected");
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
    if (this.#fromSpare.has(session.pc)) {
      // Replace the spare we used, off the critical path of this call's set-up.
      setTimeout(() => {
        if (!this.#closed && !this.#spare) this.prepareSpare(this.#client.jingle.iceServers);
      }, 2000);
    }
    if (this.#closed || !(this.#wanted.has(peer) || this.#events.acceptIncoming(peer))) {
      // Not in P2P mode with this occupant (e.g. the room uses the bridge): XEP-0166 §6.7 decline.
      session.end("decline");
      return;
    }
    this.#wanted.add(peer);
    const old = this.#sessions.get(peer);
    if (old) this.#end(peer, old); // the peer restarted (reload, reconnect): the new session replaces the old one
    this.#track(peer, session);
    const stream = this.#sendStream();
    performance.mark("parley:jingle-incoming");
    const fromSpare = this.#fromSpare.has(session.pc);
    void (async () => {
      // A spare's addTrack transceivers took the offer's m-lines: just make sure they carry the current tracks.
      if (fromSpare) await setSenderTracks(session.pc, stream);
      else for (const t of stream.getTracks()) await session.addTrack(t, stream);
      await acceptQuickly(session);
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
    for (const t of stream.getTracks()) if (t.kind === track.kind) stream.removeTrack(t);
    stream.addTrack(track);
    this.#emitStream(session);
  };

  #emitStream(session: Session): void {
    const peer = session.peerID;
    const stream = this.#sessionStreams.get(session);
    if (!stream || this.#sessions.get(peer) !== session) return;
    this.#streams.set(peer, stream);
    this.#events.remoteStream(peer, stream);
  }
}
