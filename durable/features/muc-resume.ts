/**
 * Taking one's place back after a network change (`urn:parley:resume:0`).
 *
 * A device that moves to another network (a laptop changing Wi-Fi) loses its WebSocket without either side seeing it
 * close: the room keeps the old connection as the occupant for minutes, and a rejoin with the same nick would be
 * refused as a conflict (XEP-0045 §7.2.8). So a client may send a secret of its own choosing in its join presence:
 *
 *   <presence to='room@conference.example/nick'><x xmlns='http://jabber.org/protocol/muc'/>
 *     <resume xmlns='urn:parley:resume:0' token='RANDOM'/></presence>
 *
 * The room keeps only its SHA-256 (never the token, never shown to anyone: the element is not part of the kept
 * presence payload). A later join to the same nick with the same token, from a new connection, takes the occupancy
 * over: role, affiliation and join time are kept, the others see a presence update of the same occupant (no
 * unavailable, no new join: their tiles and direct sessions to room/nick stay), and the old connection gets the
 * stream error `<conflict/>` (RFC 6120 §4.9.3.3: "a new stream has been initiated that conflicts with the existing
 * stream") and is closed. Any other join to a nick in use is still a conflict.
 */
import { NS_RESUME } from "../../contract/resume";
import type { ConnState, RoomState } from "../core/state";
import { child, type XmlElement } from "../xmpp/xml";

;

/** 128 bits or more of randomness in base64url (the web app sends 22 characters); bounded. */
const TOKEN_RE = /^[A-Za-z0-9_-]{22,64}$/;

/** The resume token of a join presence, if it carries a well-formed one. */
export function resumeToken(el: XmlElement): string | undefined {
  const r = child(el, "resume", NS_RESUME);
  const token = r?.attrs["token"];
  return token !== undefined && TOKEN_RE.test(token) ? token : undefined;
}

export async function hashToken(token: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The occupant connection holding `key` that this join may take over (same token), if any. Not the joining
 * connection itself (a second join from the same stream is a presence update, handled elsewhere).
 */
export function resumable(room: RoomState, key: string, tokenHash: string | undefined): ConnState | undefined {
  if (tokenHash === undefined) return undefined;
  const id = room.nicks.get(key);
  const holder = id === undefined ? undefined : room.conns.get(id);
  return holder?.occ?.resume !== undefined && holder.occ.resume === tokenHash ? holder : undefined;
}
