/**
 * The call's state machine: what it knows (CallState), what happens to it (CallEvent: room stanzas, connection
 * changes, media-path progress reported by the shell, timers, the person's actions) and what it asks the shell to do
 * (CallEffect, data only). No DOM, WebRTC or StanzaJS here: the shell (call.ts) turns events into calls of step()
 * and runs the effects; unit tests drive step() directly with an injected clock (test/unit/call-machine.test.ts).
 */
import type { AvState, MediaAnnouncement, MediaMode } from "../../../../../contract/media";

interface Participant {
  nick: string;
  /** occupant JID (room@service/nick) */
  jid: string;
  av: AvState;
  /** They were in the room when we joined: we are the later one and start the direct session (p2p.ts). */
  weInitiate: boolean;
}

/** A connection to a bridge room (bridge.ts), named by a number the machine hands out; the shell keeps the objects. */
export type LinkId = number;

export interface CallState {
  nick: string;
  role: string;
  affiliation: string;
  /** In the room (since the first self-presence, until we leave). */
  joined: boolean;
  /** Between sending a join presence and receiving our own (XEP-0045 §7.2.3: the roster comes first). */
  joining: boolean;
  /** The a/v state our last join presence announced (the shell builds it from `av` right after join-sent). */
  joinAv: AvState | undefined;
  /** The XMPP stream dropped and we wait for it to come back (then rejoin with the same nick). */
  reconnecting: boolean;
  /**
   * The device's network changed (or the stream died unnoticed, which is how a change shows): the direct sessions and
   * the bridge link made before it are dead too, and are made again once we are back in the room (step.ts).
   */
  pathsStale: boolean;
  /** When the browser last reported a network change (connection attempts come quicker for a moment after it). */
  networkChangedAt: number | undefined;
  /**
   * When we last joined again because our MLS member lost the group (`keys-lost`), and whether another such loss
   * waits for its turn (`keys-lost` timer): at most one such rejoin per KEYS_LOST_GAP_MS (step.ts).
   */
  keysLost: { at: number | undefined; pending: boolean };
  /** While rejoining: those we knew before whom the room has not named again yet (gone meanwhile if it never does). */
  unconfirmed: Set<string> | undefined;
  left: boolean;
  joinedAt: number;
  /** Occupants the room had right before our join (its disco#info, asked together with the join), if known. */
  occupantsBeforeJoin: number | undefined;
  participants: Map<string, Participant>;
  /** The media path the room announced last. */
  mode: MediaMode;
  /** Which local devices have a track (they may come after Join: a camera takes a moment to start). */
  devices: { audio: boolean; video: boolean };
  /** What the person wants on (hair-check toggles, then the call's buttons). */
  want: { audio: boolean; video: boolean };
  /** What we send and announce: wanted and available (and the screen share). */
  av: AvState;
  /** The bridge link carrying (or about to carry) our media; `carrying` once it does (the media-path indicator). */
  bridge: { link: LinkId; url: string; carrying: boolean } | undefined;
  /** The link the current bridge replaces (a move from one bridge room to another), closed once the new one carries. */
  previousBridge: LinkId | undefined;
  /** A move to the bridge in progress (from its announcement until it carries or fails). */
  switching: { attempt: number; link: LinkId; url: string } | undefined;
  /** Counts moves between paths: a late report from an abandoned move is ignored. */
  attempt: number;
  /** The bridge URL of the current or last bridge announcement. */
  bridgeUrl: string | undefined;
  /** The bridge room the room keeps ready while someone waits on its hair check, as last announced. */
  standbyWanted: { url: string; grant: string } | undefined;
  /** Our standby connection to it: scheduled (timer), connecting, or linked (usable by a move to the bridge). */
  standby: { link: LinkId; url: string; grant: string; state: "scheduled" | "connecting" | "linked" } | undefined;
  /** The hair check's lobby connection (warm.ts), until a move to its bridge room uses it or it is dropped. */
  lobbyUrl: string | undefined;
  /** The attempt a scheduled bridge retry belongs to. */
  retryAttempt: number | undefined;
  /** The last bridge link we reported to the room as stalled, and when (one report per link per REPORT_AGAIN_MS). */
  reported: { link: LinkId; at: number } | undefined;
  nextLink: LinkId;
}

export type TimerId =
  /** our MLS member lost the group again soon after the last rejoin for it: join again once the gap is over */
  | "keys-lost"
  /** three or more without a bridge announcement: connect everyone directly */
  | "mesh-fallback"
  /** while moving to the bridge, keep only the direct sessions we have (none re-created) */
  | "bridge-trim"
  /** back on the direct path: close the bridge even if some peer never connects directly */
  | "p2p-finish"
  /** the bridge failed: ask the room again for a fresh grant */
  | "bridge-retry"
  /** connect the standby link */
  | "standby"
  /** the hair check's lobby link was not used by the join: drop it */
  | "lobby-unused"
  /** the lock-state and media-mode queries after joining */
  | "after-join"
  /** time to check that the XMPP stream still carries (XEP-0199 ping) */
  | "keepalive"
  /** the stream is down after a network change: try to connect again (instead of the client's slower back-off) */
  | "reconnect";

export type CallEvent =
  // ---- joining and the XMPP connection
  | { type: "join-sent"; nick: string }
  | { type: "occupants-before-join"; count: number }
  | { type: "joined"; nick: string; role: string; affiliation: string }
  | { type: "rejoin-failed"; condition: string }
  | { type: "xmpp-disconnected" }
  | { type: "xmpp-reconnected" }
  /** the answer to our XEP-0199 ping, or none in time (`ok: false`) */
  | { type: "xmpp-ping"; ok: boolean }
  /** the browser says the network changed (`online`/`offline`, a Network Information `change`) */
  | { type: "network-change" }
  /** our MLS member can no longer follow the group (a commit it cannot process or missed, e2ee/member.ts) */
  | { type: "keys-lost" }
  /** a direct session's or bridge transport's ICE went "disconnected": media stopped arriving */
  | { type: "media-stalled" }
  // ---- the room (XEP-0045 presence, urn:parley:media:0)
  | { type: "self-presence"; role: string | undefined; affiliation: string | undefined }
  | { type: "occupant-available"; nick: string; jid: string; av: AvState }
  | { type: "occupant-unavailable"; nick: string; kicked: boolean }
  | { type: "self-unavailable"; kicked: boolean; destroyed: boolean }
  | { type: "media"; ann: MediaAnnouncement }
  // ---- media-path progress (the shell's reports)
  /** a bridge link for this move exists (connected, or taken from standby or the lobby) */
  | { type: "bridge-linked"; attempt: number; link: LinkId }
  /** the move's link carries everyone's media (or waited long enough) */
  | { type: "bridge-carrying"; attempt: number; link: LinkId }
  /** the move failed before carrying */
  | { type: "bridge-failed"; attempt: number; reason: string }
  /**
   * a link failed later (its WebSocket closed, the bridge closes the room, ICE could not be restarted); `restarted`:
   * the bridge recreates the room at once (its media worker died: 4503, bridge-host/PROTOCOL.md), connect again
   */
  | { type: "link-failed"; link: LinkId; reason: string; restarted?: boolean }
  /** a link's bridge stopped answering (its socket stays open: a host frozen or off the network) */
  | { type: "link-stalled"; link: LinkId }
  | { type: "standby-linked"; link: LinkId }
  /** every participant is connected and shown directly (make-before-break back to direct) */
  | { type: "direct-carrying" }
  | { type: "timer"; timer: TimerId }
  // ---- the person and their devices
  | { type: "devices"; audio: boolean; video: boolean }
  | { type: "toggle"; kind: "audio" | "video" }
  | { type: "screen"; on: boolean }
  | { type: "leave"; reason: string };

/** Which existing direct sessions to keep when setting the peers (the shell knows which exist and which connected). */
type PeerFilter = "all" | "existing" | "connected";

export type CallEffect =
  // ---- direct sessions (p2p.ts)
  | { kind: "p2p-peers"; peers: string[]; keep: PeerFilter }
  | { kind: "p2p-switching"; on: boolean }
  // ---- bridge links (bridge.ts)
  /**
   * Connect this move's link: take over the standby link (`via: standby`, `link` is its id) and turn its senders on,
   * admit the lobby link, or connect afresh; then report bridge-linked, and bridge-carrying or bridge-failed.
   */
  | { kind: "bridge-connect"; attempt: number; link: LinkId; url: string; grant: string; via: "standby" | "lobby" | "fresh" }
  | { kind: "standby-connect"; link: LinkId; url: string; grant: string }
  | { kind: "link-close"; link: LinkId }
  | { kind: "lobby-close" }
  /** forget every participant's bridge stream and show the best one left */
  | { kind: "bridge-streams-gone" }
  /** show every participant's best stream (the path changed) */
  | { kind: "show-streams" }
  /** see whether every participant is connected and shown directly (then report direct-carrying) */
  | { kind: "check-direct" }
  // ---- local media
  /**
   * Put our current tracks (devices that came, went or changed; a screen share) on the direct sessions and these
   * bridge links: a track of a kind not sent yet is added (a sending m-line's replaceTrack, a new producer), one of a
   * kind sent already replaces it.
   */
  | { kind: "send-tracks"; links: LinkId[] }
  /** what we send changed: enable the tracks, show it, tell the room (`presence`) */
  | { kind: "av"; av: AvState; presence: boolean }
  // ---- XMPP
  | { kind: "rejoin"; nick: string }
  /** XEP-0199: ping the server; report xmpp-ping, with ok false if no answer within `timeoutMs` */
  | { kind: "xmpp-ping"; timeoutMs: number }
  /** the stream is dead (a moved page's socket, never closed) or may be: drop it and connect again at once */
  | { kind: "xmpp-restart" }
  /** connect the stream now unless a connection is being made or up (skip the client's back-off) */
  | { kind: "xmpp-connect" }
  /** make new direct sessions to everyone we have one with (ours are dead after a network change) */
  | { kind: "p2p-restart" }
  | { kind: "fetch-media" }
  /** tell the room that its bridge at `url` does not answer us (it checks, and moves the call if so) */
  | { kind: "report-bridge"; url: string }
  | { kind: "refresh-lock" }
  | { kind: "leave"; reason: string }
  // ---- timers (clock injected: the shell runs them)
  | { kind: "set-timer"; timer: TimerId; ms: number }
  | { kind: "clear-timer"; timer: TimerId }
  // ---- the view
  | { kind: "view-mode"; mode: MediaMode; alone: boolean }
  | { kind: "view-connection"; state: "connected" | "reconnecting" | "failed"; condition?: string }
  | { kind: "view-self"; nick: string; moderator: boolean; owner: boolean }
  | { kind: "view-participant"; nick: string; av: AvState }
  | { kind: "participant-gone"; nick: string; jid: string }
  | { kind: "system"; text: string }
  | { kind: "notify"; text: string }
  /** a performance mark (`parley:…`): the timeline the tests and benches read */
  | { kind: "mark"; name: string };

export function initialState(init: { want: { audio: boolean; video: boolean }; devices: { audio: boolean; video: boolean }; lobbyUrl?: string }): CallState {
  return {
    nick: "",
    role: "participant",
    affiliation: "none",
    joined: false,
    joining: false,
    joinAv: undefined,
    reconnecting: false,
    pathsStale: false,
    networkChangedAt: undefined,
    keysLost: { at: undefined, pending: false },
    unconfirmed: undefined,
    left: false,
    joinedAt: 0,
    occupantsBeforeJoin: undefined,
    participants: new Map(),
    mode: "p2p",
    devices: { ...init.devices },
    want: { ...init.want },
    av: { audio: init.want.audio && init.devices.audio, video: init.want.video && init.devices.video, screen: false },
    bridge: undefined,
    previousBridge: undefined,
    switching: undefined,
    attempt: 0,
    bridgeUrl: undefined,
    standbyWanted: undefined,
    standby: undefined,
    lobbyUrl: init.lobbyUrl,
    retryAttempt: undefined,
    reported: undefined,
    nextLink: 1,
  };
}
