/**
 * One participant's media state in a room (mediasoup-demo's `peer.data`, typed): its WebRTC transports and the
 * producers/consumers on them. Closing a transport closes its producers and consumers (mediasoup cascades), so
 * `close()` only closes transports and then the signaling link.
 */
import type { types } from "mediasoup";
import type { CloseCode, Notification } from "../signaling/messages";

/** The signaling connection a peer talks through (a WebSocket in production). */
export interface PeerLink {
  notify(n: Notification): void;
  close(code: CloseCode, reason: string): void;
}

export type Direction = "send" | "recv";
export type TransportAppData = { direction: Direction };

export const PEER_LIMITS = { transports: 4, producers: 4, consumers: 400 } as const;

export class Peer {
  readonly transports = new Map<string, types.WebRtcTransport<TransportAppData>>();
  readonly producers = new Map<string, types.Producer>();
  readonly consumers = new Map<string, types.Consumer>();
  #closed = false;

  /**
   * @param nick the grant's nick; a lobby connection (PROTOCOL.md "Lobby") has a placeholder until `admit` names it.
   * @param lobbyId a lobby connection's session (its grant's `lid`), by which the room can have it closed
   */
  constructor(
    public nick: string,
    readonly link: PeerLink,
    readonly lobbyId?: string,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  notify(n: Notification): void {
    if (!this.#closed) this.link.notify(n);
  }

  /** Idempotent. Closes media (cascade) and, with a code, the signaling link. */
  close(link?: { code: CloseCode; reason: string }): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
    this.producers.clear();
    this.consumers.clear();
    if (link) this.link.close(link.code, link.reason);
  }
}
