/**
 * Parley media-mode announcements (our namespace urn:parley:media:0, docs/architecture.md):
 *   <media xmlns='urn:parley:media:0' mode='bridge' url='BRIDGE_WS_URL' grant='GRANT'/>  or  mode='p2p'
 * sent as a headline message from the room to each occupant, after the subject for a joiner of a bridged room, and
 * as the result of `<iq type='get' to='room@conference.domain'><media xmlns='urn:parley:media:0'/></iq>`.
 * Standby (media-coordinator.ts): `mode='p2p'` with `url` and `grant`: media stays direct; a client may connect to
 * that bridge room now with its senders inactive, and must send no media there before `mode='bridge'`.
 * Lobby: while the room has a bridge room (standby or bridge) and no password, each session that waits on its hair
 * check (bound, not joined) is sent `mode='lobby'` with the URL and a lobby grant (no nick: it may prepare its
 * connection there, unseen, and is admitted with its occupant grant once it joins; bridge-host/PROTOCOL.md "Lobby"),
 * and `mode='p2p'` when that room goes. The grant names the session by its lobby id (contract/grants.ts lobbyIdFor), so
 * that the room can have the bridge close that session's lobby connections when it goes or is kicked.
 * Reports: an occupant whose bridge link closed or stalls says so with `<iq type='set'><media unreachable='WS_URL'/></iq>`;
 * the room answers at once and has the media coordinator check that bridge (media-coordinator.ts `bridgeUnreachable`).
 * Grants are minted per occupant nick with contract/grants.ts (<= 60 s).
 */
import { roomJid } from "../../contract/jid";
import { lobbyIdFor, mintGrant, mintLobbyGrant } from "../../contract/grants";
import { mediaXml } from "../../contract/media";
import type { Deps } from "../core/deps";
import type { Out } from "../core/effects";
import { errorReply, iqResult } from "../core/reply";
import { fullJid, occupants, type ConnState, type MediaMode, type RoomState } from "../core/state";
import { NS } from "../xmpp/ns";
import { childElements, escapeAttr, type XmlElement } from "../xmpp/xml";

export function mediaPayload(room: RoomState, grant: string | undefined): string {
  const url = room.meta.bridgeUrl;
  if (!url || !grant) return mediaXml({ mode: "p2p" });
  return mediaXml(room.meta.mediaMode === "bridge" ? { mode: "bridge", url, grant } : { mode: "p2p", standby: { url, grant } });
}

async function payloadFor(room: RoomState, c: ConnState, deps: Deps): Promise<string> {
  const grant = room.meta.bridgeUrl ? await mintGrant(deps.cfg.bridgeSecret, room.name, c.occ!.nick, undefined, deps.now()) : undefined;
  return mediaPayload(room, grant);
}

/**
 * `<iq type='get'><media/></iq>` to the room: only occupants get a grant (it names their nick).
 * `<iq type='set'><media unreachable='WS_URL'/></iq>`: an occupant's report that the room's bridge does not answer it
 * (the shell's media coordinator checks the bridge and moves the call if it is down).
 */
export async function handleMediaIq(room: RoomState, c: ConnState, el: XmlElement, out: Out, deps: Deps): Promise<void> {
  if (!c.occ) {
    const e = errorReply(c, el, { type: "cancel", condition: "not-acceptable", text: "join the room first" });
    if (e) out.send(c.id, e);
    return;
  }
  const unreachable = el.attrs["type"] === "set" ? childElements(el)[0]?.attrs["unreachable"] : undefined;
  if (unreachable !== undefined) {
    // The occupant's bridge does not answer it. Only a report about the room's bridge now counts (a late one about a
    // bridge the room already left is answered and dropped); the room checks the bridge before it acts on it.
    if (unreachable === room.meta.bridgeUrl) out.bridgeUnreachable(c.id);
    out.send(c.id, iqResult(c, el));
    return;
  }
  if (el.attrs["type"] !== "get") {
    const e = errorReply(c, el, { type: "cancel", condition: "not-allowed", text: "the media mode is chosen by the room" });
    if (e) out.send(c.id, e);
    return;
  }
  out.send(c.id, iqResult(c, el, await payloadFor(room, c, deps)));
}

/** `payload` as a headline message from the room to one session (how every media-mode announcement travels). */
export function mediaHeadline(room: RoomState, c: ConnState, payload: string): string {
  return `<message xmlns="${NS.CLIENT}" type="headline" to="${escapeAttr(fullJid(c))}" from="${escapeAttr(roomJid(room.name, c.domain))}">${payload}</message>`;
}

/** What a session waiting on the hair check is told: the bridge room to prepare on (lobby), or none. */
async function lobbyPayload(room: RoomState, c: ConnState, deps: Deps): Promise<string> {
  if (!room.meta.bridgeUrl || room.meta.pwHash) return mediaXml({ mode: "p2p" });
  const lid = await lobbyIdFor(deps.cfg.bridgeSecret, room.name, c.id);
  const grant = await mintLobbyGrant(deps.cfg.bridgeSecret, room.name, lid, deps.now());
  return mediaXml({ mode: "lobby", url: room.meta.bridgeUrl, grant });
}

/** Tell one session waiting on the hair check (bound, not an occupant) about the room's bridge room (lobby). */
export async function tellWaiting(room: RoomState, c: ConnState, out: Out, deps: Deps): Promise<void> {
  if (c.phase !== "ready" || c.occ) return;
  out.send(c.id, mediaHeadline(room, c, await lobbyPayload(room, c, deps)));
}

/** Change the room's media mode and tell every occupant (each gets its own grant); `p2p` with a URL is standby. */
export async function setMediaMode(room: RoomState, mode: MediaMode, bridgeUrl: string | null, out: Out, deps: Deps): Promise<void> {
  room.meta.mediaMode = mode;
  room.meta.bridgeUrl = bridgeUrl;
  if (!bridgeUrl) room.meta.bridgeBase = null;
  out.saveRoom();
  for (const o of occupants(room)) {
    out.send(o.id, mediaHeadline(room, o, await payloadFor(room, o, deps)));
  }
  for (const c of room.conns.values()) await tellWaiting(room, c, out, deps);
}
