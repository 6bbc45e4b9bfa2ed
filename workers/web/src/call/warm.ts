/**
 * A warm XMPP session opened during the hair check (for the connectivity check) and handed to the call on Join,
 * so joining costs no WebSocket/SASL/bind/XEP-0215 round trips; plus, made with its ICE servers while the person
 * checks their camera, a direct-call offer and a spare answerer (prepared.ts). If the session dropped in the
 * meantime, the call simply connects afresh.
 */
import type { Agent } from "stanza";
import { connectSession, createRoomClient, fetchIceServers } from "./xmpp";
import { createSpareAnswerer, prepareOffer, sessionConfig, warmJingleCode, type PreparedOffer } from "./prepared";

export interface WarmSession {
  client: Agent;
  iceServers: RTCIceServer[];
  /** Settles once ICE gathering for the prepared offer is done (or gave up). */
  offer: Promise<PreparedOffer | undefined>;
  /** A peer connection with the hair check's tracks, ready to answer (see spareFor). */
  spare?: RTCPeerConnection;
}

let pending: { room: string; session: Promise<WarmSession>; alive: boolean } | undefined;

export function warmUp(room: string): Promise<WarmSession> {
  if (pending?.room === room) return pending.session;
  const client = createRoomClient(room, { autoReconnect: false });
  const entry = {
    room,
    alive: true,
    session: (async () => {
      await connectSession(client, 10_000);
      const iceServers = await fetchIceServers(client);
      const offer = prepareOffer(sessionConfig(client, iceServers)).then((o) => {
        if (o?.pc.localDescription) warmJingleCode(client, o.pc.localDescription.sdp);
        return o;
      });
      return { client, iceServers, offer };
    })(),
  };
  client.on("disconnected", () => (entry.alive = false));
  entry.session.catch(() => (entry.alive = false));
  pending = entry;
  return entry.session;
}

/** (Re)make the warm session's spare answerer with these tracks (the hair check calls it whenever its media changes). */
export function spareFor(room: string, stream: MediaStream): void {
  if (stream.getTracks().length === 0) return;
  void warmUp(room)
    .then((s) => {
      if (pending?.room !== room || !pending.alive) return;
      s.spare?.close();
      s.spare = createSpareAnswerer(sessionConfig(s.client, s.iceServers), stream);
    })
    .catch(() => undefined);
}

/** Take the warm session for `room` if it is (still) connected; it is handed over only once. */
export async function takeWarm(room: string): Promise<WarmSession | undefined> {
  const entry = pending;
  if (!entry || entry.room !== room) return undefined;
  pending = undefined;
  try {
    const s = await entry.session;
    if (entry.alive) return s;
    void s.client.disconnect();
    void s.offer.then((o) => o?.pc.close());
    s.spare?.close();
  } catch {
    /* connect afresh */
  }
  return undefined;
}
