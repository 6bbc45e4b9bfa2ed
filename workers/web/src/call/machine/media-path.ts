/**
 * The media path (part of the call machine, types.ts): direct sessions, the standby and lobby links, and the
 * make-before-break moves between direct and bridge as the room announces them (`urn:parley:media:0`,
 * contract/media.ts). Pure: it changes the state it is given and returns effects.
 */
import type { MediaAnnouncement } from "../../../../../contract/media";
import type { CallEffect, CallState, LinkId } from "./types";

/** How long a room of three or more waits for the bridge announcement before connecting everyone directly. */
const MESH_FALLBACK_MS = 2500;
/**
 * Standby (bridge.ts): connect to the bridge room this long after the announcement, and not before this long after
 * our own join, so it does not compete with setting up the direct call.
 */
const STANDBY_AFTER_MS = 500;
const STANDBY_NOT_BEFORE_JOIN_MS = 2000;
/** Back on the direct path, the bridge closes at the latest this long after the announcement (a peer may never connect). */
const P2P_FINISH_MS = 10_000;
/** After a bridge failure, how long the call stays direct before asking the room again (grants are short-lived). */
const BRIDGE_RETRY_MS = 3000;
/**
 * A stalled bridge link is reported to the room once, and again at most this often while it stays stalled: the room
 * checks the bridge itself before it moves the call (it must not move a healthy bridge because our own network
 * failed), and bounds the reports it takes from each session.
 */
const REPORT_AGAIN_MS = 5000;
/** While moving to the bridge, how often the direct peers are trimmed to the sessions that exist. */
export const BRIDGE_TRIM_MS = 200;

type Out = CallEffect[];

function jids(s: CallState): string[] {
  return [...s.participants.values()].map((p) => p.jid);
}

/** Bring the direct sessions in line with the room's mode and occupants. */
export function reconcile(s: CallState, out: Out): void {
  if (!s.joined || s.left) return;
  const peers = jids(s);
  out.push({ kind: "clear-timer", timer: "mesh-fallback" });
  if (s.mode === "p2p" && peers.length >= 2 && !s.bridge) {
    // Three or more people: the room usually announces the bridge right away. Keep the sessions we have and
    // only fall back to a direct mesh if no announcement comes (a server without bridges).
    out.push({ kind: "p2p-peers", peers, keep: "existing" }, { kind: "set-timer", timer: "mesh-fallback", ms: MESH_FALLBACK_MS });
  } else if (s.mode === "p2p") out.push({ kind: "p2p-peers", peers, keep: "all" });
  // In bridge mode, keep the existing direct sessions until the bridge is up (make-before-break), start none.
  else if (!s.bridge) out.push({ kind: "p2p-peers", peers, keep: "connected" });
  if (s.mode === "p2p") out.push({ kind: "p2p-switching", on: false });
  out.push({ kind: "view-mode", mode: s.bridge?.carrying ? "bridge" : "p2p", alone: s.participants.size === 0 });
}

export function onMedia(s: CallState, ann: MediaAnnouncement, now: number, out: Out): void {
  switch (ann.mode) {
    case "bridge":
      // The join's announcement and our own query can both answer: one move per bridge URL. A new URL (the room
      // moved to another bridge, e.g. the old one is draining) is a new make-before-break move; so is the same URL
      // after a network change (our link is dead: a new one replaces it, with the grant the rejoin brought).
      if (s.mode === "bridge" && (s.bridge || s.switching) && ann.url === s.bridgeUrl && !s.pathsStale) return;
      s.pathsStale = false;
      s.bridgeUrl = ann.url;
      s.mode = "bridge";
      if (stalledBridge(s, now)) dropBridge(s, now, out);
      switchToBridge(s, ann.url, ann.grant, out);
      return;
    case "lobby":
      return; // for those on the hair check (warm.ts); we are in the room
    case "p2p":
      s.pathsStale = false;
      dropLobby(s, out);
      setStandby(s, ann.standby, now, out);
      if (s.mode === "p2p") return;
      s.mode = "p2p";
      s.attempt++;
      s.switching = undefined;
      out.push({ kind: "clear-timer", timer: "bridge-trim" });
      reconcile(s, out); // starts direct sessions; the bridge closes once they carry media
      out.push({ kind: "check-direct" }, { kind: "set-timer", timer: "p2p-finish", ms: P2P_FINISH_MS });
      return;
    default:
      throw new Error(`unhandled media mode ${(ann satisfies never) as string}`);
  }
}

/**
 * Is the bridge link we are on one we reported stalled just now? The room moves us off it because that bridge does
 * not answer it either, so no make-before-break with it: its senders would go on encoding (each simulcast layer,
 * each frame encrypted) for nobody while the next link is set up, and on a busy machine that made the move seconds
 * slower (docs/benchmarks.md). A move for another reason (a bridge draining) keeps the old link until the new carries.
 */
function stalledBridge(s: CallState, now: number): boolean {
  return s.bridge !== undefined && s.reported?.link === s.bridge.link && now - s.reported.at < REPORT_AGAIN_MS;
}

/** Make-before-break (direct -> bridge): connect to the bridge, send and receive there, then end direct sessions. */
function switchToBridge(s: CallState, url: string, grant: string, out: Out): void {
  const attempt = ++s.attempt;
  out.push(
    { kind: "notify", text: "Moving the call to the media bridge…" },
    // direct video goes small meanwhile: the CPU is needed for the bridge's
    { kind: "p2p-switching", on: true },
  );
  trimDirect(s, out);
  // The standby link (already connected, senders inactive) or the hair check's lobby link to this bridge room is
  // used if there is one; any other is closed.
  let via: "standby" | "lobby" | "fresh" = "fresh";
  let link: LinkId;
  if (s.standby?.state === "linked" && s.standby.url === url) {
    link = s.standby.link;
    s.standby = undefined;
    via = "standby";
  } else {
    closeStandby(s, out);
    link = s.nextLink++;
    if (s.lobbyUrl === url) {
      s.lobbyUrl = undefined;
      via = "lobby";
    } else dropLobby(s, out);
  }
  s.switching = { attempt, link, url };
  out.push({ kind: "bridge-connect", attempt, link, url, grant, via });
}

/**
 * While moving to the bridge, keep the direct sessions we have but let none be re-created: the others end theirs as
 * soon as their own bridge is up, and a session ended while still wanted is re-initiated (p2p.ts), which only costs
 * CPU and signaling in the middle of the move.
 */
function trimDirect(s: CallState, out: Out): void {
  out.push({ kind: "p2p-peers", peers: jids(s), keep: "existing" }, { kind: "set-timer", timer: "bridge-trim", ms: BRIDGE_TRIM_MS });
}

export function onBridgeLinked(s: CallState, attempt: number, link: LinkId, out: Out): void {
  if (attempt !== s.attempt || s.mode !== "bridge" || s.left || s.switching?.link !== link) {
    out.push({ kind: "link-close", link });
    return;
  }
  if (s.bridge) s.previousBridge = s.bridge.link;
  s.bridge = { link, url: s.switching.url, carrying: false };
  // Tracks that came while it connected (a camera that started late) go on it too.
  out.push({ kind: "send-tracks", links: [link] });
}

export function onBridgeCarrying(s: CallState, attempt: number, link: LinkId, out: Out): void {
  if (attempt === s.attempt) {
    s.switching = undefined;
    out.push({ kind: "clear-timer", timer: "bridge-trim" });
  }
  if (s.mode !== "bridge" || s.bridge?.link !== link) return;
  // moved from one bridge to another: the old one goes once the new one carries media
  if (s.previousBridge !== undefined) out.push({ kind: "link-close", link: s.previousBridge });
  s.previousBridge = undefined;
  s.bridge.carrying = true;
  out.push({ kind: "p2p-peers", peers: [], keep: "all" }, { kind: "show-streams" }, { kind: "notify", text: "" });
  reconcile(s, out);
}

export function onBridgeFailed(s: CallState, attempt: number, reason: string, now: number, out: Out): void {
  if (attempt !== s.attempt) return;
  s.switching = undefined;
  out.push({ kind: "clear-timer", timer: "bridge-trim" });
  bridgeLost(s, reason, now, out);
}

export function onLinkFailed(s: CallState, link: LinkId, reason: string, restarted: boolean, now: number, out: Out): void {
  if (s.bridge?.link === link) {
    const url = s.bridge.url;
    // The bridge recreated the room (bridge-host/PROTOCOL.md "Media worker restarts"): a fresh grant from the room
    // and we connect again, at once. Otherwise the bridge itself may be gone: the room checks and moves the call.
    // Asked first: closing the dead link and showing what is left takes the page a while.
    if (s.mode === "bridge") out.push(...(restarted ? [{ kind: "fetch-media" } as const] : report(url)));
    bridgeLost(s, reason, now, out);
  } else if (s.standby?.link === link) closeStandby(s, out);
  else if (s.previousBridge === link) s.previousBridge = undefined;
}

/** The bridge we are on stopped answering on an open socket: tell the room (bounded), which checks and moves. */
export function onLinkStalled(s: CallState, link: LinkId, now: number, out: Out): void {
  if (s.bridge?.link !== link || s.mode !== "bridge") return;
  if (s.reported?.link === link && now - s.reported.at < REPORT_AGAIN_MS) return;
  s.reported = { link, at: now };
  out.push(...report(s.bridge.url));
}

function report(url: string): CallEffect[] {
  return [{ kind: "mark", name: "parley:bridge:reported" }, { kind: "report-bridge", url }];
}

/** The bridge we were on (or moving to) failed: connect directly meanwhile and ask the room again. */
function bridgeLost(s: CallState, reason: string, now: number, out: Out): void {
  dropBridge(s, now, out);
  if (s.mode !== "bridge" || s.left) {
    // Already going back to direct (the room closed its bridge room): nothing to retry.
    reconcile(s, out);
    return;
  }
  out.push({ kind: "notify", text: `The media bridge is not reachable (${reason}). Connecting directly meanwhile…` });
  s.retryAttempt = s.attempt;
  out.push({ kind: "set-timer", timer: "bridge-retry", ms: BRIDGE_RETRY_MS });
  reconcile(s, out);
}

export function onBridgeRetry(s: CallState, out: Out): void {
  if (s.retryAttempt !== s.attempt || s.mode !== "bridge" || s.bridge || s.left) return;
  s.mode = "p2p";
  reconcile(s, out);
  out.push({ kind: "fetch-media" });
}

/** Make-before-break (bridge -> direct): close the bridge once every peer's direct session carries media. */
export function finishSwitchToP2P(s: CallState, now: number, out: Out): void {
  if (s.mode !== "p2p" || !s.bridge) return;
  dropBridge(s, now, out);
  reconcile(s, out);
}

/** Close the bridge link (if any) and show each participant's direct stream again. */
function dropBridge(s: CallState, now: number, out: Out): void {
  if (s.bridge) out.push({ kind: "link-close", link: s.bridge.link });
  if (s.previousBridge !== undefined) out.push({ kind: "link-close", link: s.previousBridge });
  s.bridge = undefined;
  s.previousBridge = undefined;
  out.push({ kind: "bridge-streams-gone" });
  // Back to two with someone still waiting: be ready again (a fresh connection; the grant is from the announcement).
  if (s.mode === "p2p" && s.standbyWanted) startStandby(s, s.standbyWanted, now, out);
}

/** What the room keeps ready changed (a `p2p` announcement, with or without a standby bridge room). */
function setStandby(s: CallState, sb: { url: string; grant: string } | undefined, now: number, out: Out): void {
  s.standbyWanted = sb;
  if (sb && s.standby?.url === sb.url) return; // the same room again (an announcement and our own query)
  closeStandby(s, out);
  if (sb && !s.bridge) startStandby(s, sb, now, out); // else once the bridge we are on closes (dropBridge)
}

function startStandby(s: CallState, sb: { url: string; grant: string }, now: number, out: Out): void {
  if (s.standby || s.left) return;
  const ms = Math.max(STANDBY_AFTER_MS, s.joinedAt + STANDBY_NOT_BEFORE_JOIN_MS - now);
  s.standby = { link: s.nextLink++, url: sb.url, grant: sb.grant, state: "scheduled" };
  out.push({ kind: "set-timer", timer: "standby", ms });
}

export function onStandbyTimer(s: CallState, out: Out): void {
  const sb = s.standby;
  if (!sb || sb.state !== "scheduled" || s.left || s.mode !== "p2p") return;
  sb.state = "connecting";
  out.push({ kind: "standby-connect", link: sb.link, url: sb.url, grant: sb.grant });
}

export function onStandbyLinked(s: CallState, link: LinkId, out: Out): void {
  if (s.standby?.link === link && s.mode === "p2p" && !s.left) {
    s.standby.state = "linked";
    out.push({ kind: "send-tracks", links: [link] });
  } else out.push({ kind: "link-close", link });
}

function closeStandby(s: CallState, out: Out): void {
  const sb = s.standby;
  s.standby = undefined;
  if (!sb) return;
  out.push({ kind: "clear-timer", timer: "standby" });
  // A connecting link is closed when it reports (onStandbyLinked finds it is no longer ours).
  if (sb.state === "linked") out.push({ kind: "link-close", link: sb.link });
}

export function dropLobby(s: CallState, out: Out): void {
  if (s.lobbyUrl === undefined) return;
  s.lobbyUrl = undefined;
  out.push({ kind: "lobby-close" });
}

/** Every link and timer of the media path, closed (leaving). */
export function closeAll(s: CallState, out: Out): void {
  for (const timer of ["mesh-fallback", "bridge-trim", "p2p-finish", "bridge-retry", "after-join", "lobby-unused", "keepalive", "standby", "reconnect"] as const) {
    out.push({ kind: "clear-timer", timer });
  }
  out.push({ kind: "p2p-peers", peers: [], keep: "all" });
  if (s.bridge) out.push({ kind: "link-close", link: s.bridge.link });
  if (s.previousBridge !== undefined) out.push({ kind: "link-close", link: s.previousBridge });
  if (s.switching) out.push({ kind: "link-close", link: s.switching.link });
  s.bridge = undefined;
  s.previousBridge = undefined;
  s.switching = undefined;
  closeStandby(s, out);
  s.lobbyUrl = undefined;
  out.push({ kind: "lobby-close" });
}
