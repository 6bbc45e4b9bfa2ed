/**
 * What the call shell asks the machine's state while it runs effects (direct sessions, bridge links, the active
 * speaker): pure answers from CallState (types.ts), so that these decisions are the machine's and unit-tested.
 */
import type { CallState, LinkId } from "./types";

/** Do we start the direct session with this occupant? The later of the two to join the room does (p2p.ts). */
export function initiatesDirect(s: CallState, jid: string): boolean {
  return [...s.participants.values()].some((p) => p.jid === jid && p.weInitiate);
}

/** Is a direct session this occupant offers accepted? Only from someone in the room, and only on the direct path. */
export function acceptsDirect(s: CallState, jid: string): boolean {
  return s.mode === "p2p" && [...s.participants.values()].some((p) => p.jid === jid);
}

/** Who sends video (camera or screen): a new bridge link produces our audio once it receives theirs (bridge.ts). */
export function sendingVideo(s: CallState): string[] {
  return [...s.participants.values()].filter((p) => p.av.video || p.av.screen).map((p) => p.nick);
}

/** Is this link the bridge the call moves to or is on (a link still connecting may have been given up meanwhile)? */
export function isCurrentLink(s: CallState, link: LinkId): boolean {
  return s.bridge?.link === link && !s.left;
}

/** Is this link the standby link the call still wants? */
export function isStandbyLink(s: CallState, link: LinkId): boolean {
  return s.standby?.link === link && !s.left;
}

/** Does the bridge's word on who speaks count? Only on the bridge path (off it, the bridge hears only some of us). */
export function bridgeNamesSpeaker(s: CallState): boolean {
  return s.mode === "bridge";
}
