/**
 * A warm XMPP session opened during the hair check (for the connectivity check) and handed to the call on Join,
 * so joining costs no WebSocket/SASL/bind/XEP-0215 round trips, plus a direct-call offer prepared with its ICE
 * servers (prepared.ts). If the session dropped in the meantime, the call simply connects afresh.
 */
import type { Agent } from "stanza";
import { connectSession, createRoomClient, fetchIceServers } from "./xmpp";
import { prepareOffer, sessionConfig, tunePeerConnection, warmJingleCode, type PreparedOffer } from "./prepared";

export interface WarmSession {
  client: Agent;
  iceServers: RTCIceServer[];
  /** Settles once ICE gathering for the prepared offer is done (or gave up). */
  offer: Promise<PreparedOffer | undefined>;
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
        if (o) tunePeerConnection(o.pc);
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
  } catch {
    /* connect afresh */
  }
  return undefined;
}
