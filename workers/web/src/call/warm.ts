/**
 * A warm XMPP session opened during the hair check (for the connectivity check) and handed to the call on Join,
 * so joining costs no WebSocket/SASL/bind/XEP-0215 round trips. If it dropped in the meantime, the call simply
 * connects afresh.
 */
import type { Agent } from "stanza";
import { connectSession, createRoomClient, fetchIceServers } from "./xmpp";

export interface WarmSession {
  client: Agent;
  iceServers: RTCIceServer[];
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
      return { client, iceServers: await fetchIceServers(client) };
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
  } catch {
    /* connect afresh */
  }
  return undefined;
}
