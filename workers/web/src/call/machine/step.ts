/**
 * The call machine's step: one event in, effects out (types.ts). Joining and rejoining, the roster (XEP-0045
 * presence), local devices and toggles here; the media path in media-path.ts.
 */
import type { AvState } from "../../../../../contract/media";
import {
  BRIDGE_TRIM_MS,
  closeAll,
  dropLobby,
  finishSwitchToP2P,
  onBridgeCarrying,
  onBridgeFailed,
  onBridgeLinked,
  onBridgeRetry,
  onLinkFailed,
  onLinkStalled,
  onMedia,
  onStandbyLinked,
  onStandbyTimer,
  reconcile,
} from "./media-path";
import type { CallEffect, CallEvent, CallState, LinkId, TimerId } from "./types";

/** When the lock-state and media-mode queries go out after joining (the first second is the direct call's set-up). */
const AFTER_JOIN_QUERIES_MS = 1000;
/** A lobby link (warm.ts) is used by the move to the bridge our join causes, or closed this long after joining. */
const LOBBY_UNUSED_MS = 10_000;

/**
 * A socket whose network went away (the device moved to another network) is not closed by the browser for minutes:
 * every KEEPALIVE_MS we ping the server (XEP-0199 §4) and take no answer within PING_TIMEOUT_MS as a dead stream.
 * Generous (StanzaJS' own keepalive also waits 15 s): a busy server answering late must not cost a rejoin.
 */
const KEEPALIVE_MS = 15_000;
const PING_TIMEOUT_MS = 15_000;
/**
 * A network change shows in the page as a media path that stops ("disconnected" ICE) or as the browser's own network
 * events. Media stopping alone may be the other side's network: then a quick ping tells whether our stream still
 * carries (an answer within PROBE_TIMEOUT_MS: it does). The browser saying the network changed drops the stream at
 * once: the socket's address may be gone, and a rejoin costs less than waiting to find out.
 */
const PROBE_TIMEOUT_MS = 2000;
/**
 * While the stream is down after a network change, connect again this often (StanzaJS backs off 2-3 s, then 4-5 s,
 * … between attempts; the network may be back any moment) and at once when the browser reports a change.
 */
const RECONNECT_EVERY_MS = 1000;
/**
 * Right after the browser reports a network change, every QUICK_RECONNECT_MS for QUICK_RECONNECT_FOR_MS: the
 * "online" event comes as the interface is up, often a moment before its address and route are, so the attempt made
 * at once fails at once, and the network is usable well before the next second's attempt.
 */
const QUICK_RECONNECT_MS = 200;
const QUICK_RECONNECT_FOR_MS = 3000;

/**
 * At most one rejoin per this many ms because our MLS member lost the group: a member that keeps failing (or someone
 * in the call who keeps sending commits nobody can process, SECURITY.md) must not keep the call reconnecting.
 */
const KEYS_LOST_GAP_MS = 30_000;

/** When the next connection attempt goes out while the stream is down. */
function reconnectDelay(s: CallState, now: number): number {
  return s.networkChangedAt !== undefined && now - s.networkChangedAt < QUICK_RECONNECT_FOR_MS ? QUICK_RECONNECT_MS : RECONNECT_EVERY_MS;
}

/** What the machine needs from its host: the clock (injected so tests control it). */
export interface MachineDeps {
  now(): number;
}

export function step(s: CallState, ev: CallEvent, deps: MachineDeps): CallEffect[] {
  const out: CallEffect[] = [];
  // Once left, only links that still arrive need an answer (they are closed: see onBridgeLinked, onStandbyLinked).
  if (s.left && ev.type !== "leave" && ev.type !== "bridge-linked" && ev.type !== "standby-linked") return out;
  const now = deps.now();
  switch (ev.type) {
    case "join-sent":
      s.nick = ev.nick;
      s.joining = true;
      s.joinAv = s.av;
      s.occupantsBeforeJoin = undefined;
      break;
    case "occupants-before-join":
      s.occupantsBeforeJoin = ev.count;
      break;
    case "joined": {
      const rejoin = s.joined;
      s.nick = ev.nick;
      s.role = ev.role;
      s.affiliation = ev.affiliation;
      s.joined = true;
      s.joining = false;
      s.joinedAt = now;
      out.push({ kind: "set-timer", timer: "keepalive", ms: KEEPALIVE_MS });
      // Devices that came (or a toggle) while the join was on its way changed nothing the room knows: say so now.
      if (s.joinAv && !sameAv(s.joinAv, s.av)) out.push({ kind: "av", av: s.av, presence: true });
      s.joinAv = undefined;
      if (rejoin) {
        s.reconnecting = false;
        out.push({ kind: "view-connection", state: "connected" }, { kind: "clear-timer", timer: "reconnect" });
        selfView(s, out);
        rejoined(s, out);
        reconcile(s, out);
        out.push({ kind: "fetch-media" });
      } else {
        selfView(s, out);
        reconcile(s, out);
        out.push(
          { kind: "set-timer", timer: "after-join", ms: AFTER_JOIN_QUERIES_MS },
          { kind: "set-timer", timer: "lobby-unused", ms: LOBBY_UNUSED_MS },
        );
      }
      break;
    }
    case "rejoin-failed":
      s.joining = false;
      out.push({ kind: "view-connection", state: "failed", condition: ev.condition });
      break;
    case "xmpp-disconnected":
      if (!s.joined || s.reconnecting) break;
      s.reconnecting = true;
      out.push({ kind: "view-connection", state: "reconnecting" }, { kind: "clear-timer", timer: "keepalive" });
      break;
    case "xmpp-ping":
      if (ev.ok || !s.joined || s.reconnecting) break;
      // No answer: the stream is dead though its socket is not closed. Drop it; the client reconnects, we rejoin.
      // The media paths are kept (repaired by ICE restarts if they failed): a ping also goes unanswered on a
      // server or machine too busy to answer in time, and remaking every session then would only add to it.
      streamDead(s, false, now, out);
      break;
    case "network-change":
      if (!s.joined) break;
      s.networkChangedAt = now;
      if (s.reconnecting) {
        s.pathsStale = true;
        out.push({ kind: "xmpp-connect" });
        if (!s.joining) out.push({ kind: "set-timer", timer: "reconnect", ms: reconnectDelay(s, now) });
      } else streamDead(s, true, now, out);
      break;
    case "keys-lost":
      onKeysLost(s, now, out);
      break;
    case "media-stalled":
      if (!s.joined || s.reconnecting) break;
      out.push({ kind: "xmpp-ping", timeoutMs: PROBE_TIMEOUT_MS });
      break;
    case "xmpp-reconnected":
      if (!s.joined) break;
      // We rejoin as the same nick (with our resume token the room gives us our place back: room-stanzas.ts). Those we
      // knew stay on screen; whoever the room does not name again before our self-presence left meanwhile (rejoined).
      s.unconfirmed = new Set(s.participants.keys());
      s.joining = true;
      out.push({ kind: "clear-timer", timer: "reconnect" }, { kind: "rejoin", nick: s.nick });
      break;
    case "self-presence":
      s.joining = false;
      s.role = ev.role ?? s.role;
      s.affiliation = ev.affiliation ?? s.affiliation;
      if (s.joined) selfView(s, out);
      break;
    case "occupant-available":
      onAvailable(s, ev.nick, ev.jid, ev.av, out);
      break;
    case "occupant-unavailable":
      if (!s.participants.has(ev.nick)) break;
      removeParticipant(s, ev.nick, out);
      out.push({ kind: "system", text: ev.kicked ? `${ev.nick} was removed.` : `${ev.nick} left.` });
      reconcile(s, out);
      break;
    case "self-unavailable":
      // XEP-0045 §9.1.1: status 307 = kicked; §10.9: the room was destroyed.
      if (ev.kicked) leave(s, "You were removed from the call by a moderator.", out);
      else if (ev.destroyed) leave(s, "The room was closed.", out);
      break;
    case "media":
      onMedia(s, ev.ann, now, out);
      break;
    case "bridge-linked":
      onBridgeLinked(s, ev.attempt, ev.link, out);
      break;
    case "bridge-carrying":
      onBridgeCarrying(s, ev.attempt, ev.link, out);
      break;
    case "bridge-failed":
      onBridgeFailed(s, ev.attempt, ev.reason, now, out);
      break;
    case "link-failed":
      onLinkFailed(s, ev.link, ev.reason, ev.restarted === true, now, out);
      break;
    case "link-stalled":
      onLinkStalled(s, ev.link, now, out);
      break;
    case "standby-linked":
      onStandbyLinked(s, ev.link, out);
      break;
    case "direct-carrying":
      finishSwitchToP2P(s, now, out);
      break;
    case "timer":
      onTimer(s, ev.timer, now, out);
      break;
    case "devices":
      onDevices(s, ev.audio, ev.video, out);
      break;
    case "toggle":
      if (!s.devices[ev.kind]) {
        out.push({ kind: "notify", text: ev.kind === "audio" ? "No microphone is available." : "No camera is available." });
        break;
      }
      s.want = { ...s.want, [ev.kind]: !s.want[ev.kind] };
      setAv(s, { ...s.av, [ev.kind]: s.want[ev.kind] }, out);
      break;
    case "screen":
      out.push({ kind: "send-tracks", links: linksCarrying(s) });
      setAv(s, { ...s.av, screen: ev.on }, out);
      break;
    case "leave":
      leave(s, ev.reason, out);
      break;
    default:
      throw new Error(`unhandled call event ${(ev satisfies never as { type: string }).type}`);
  }
  return out;
}

/**
 * The stream is dead or may be (see PROBE_TIMEOUT_MS): drop it and connect again; after a network change (`moved`)
 * remake the media paths once back in the room.
 */
function streamDead(s: CallState, moved: boolean, now: number, out: CallEffect[]): void {
  s.reconnecting = true;
  s.pathsStale ||= moved;
  out.push(
    { kind: "view-connection", state: "reconnecting" },
    { kind: "clear-timer", timer: "keepalive" },
    { kind: "xmpp-restart" },
    { kind: "set-timer", timer: "reconnect", ms: reconnectDelay(s, now) },
  );
}

/**
 * Our MLS member lost the group: it cannot decrypt what comes next, nor will anyone decrypt what it sends once the
 * others move on. Join the room again, as after a dropped stream (the media paths stay): a new session is a new
 * member, which whoever holds the group adds with a fresh Welcome. While the stream is down anyway, that rejoin is
 * coming.
 */
function onKeysLost(s: CallState, now: number, out: CallEffect[]): void {
  if (!s.joined || s.left || s.reconnecting) return;
  const wait = s.keysLost.at === undefined ? 0 : s.keysLost.at + KEYS_LOST_GAP_MS - now;
  if (wait <= 0) return rejoinForKeys(s, now, out);
  if (s.keysLost.pending) return;
  s.keysLost.pending = true;
  out.push({ kind: "set-timer", timer: "keys-lost", ms: wait });
}

function rejoinForKeys(s: CallState, now: number, out: CallEffect[]): void {
  s.keysLost = { at: now, pending: false };
  out.push({ kind: "mark", name: "parley:keys-lost" });
  streamDead(s, false, now, out);
}

/**
 * Back in the room after the stream dropped: forget those the room no longer has; we are now the later one to have
 * joined (XEP-0045 orders joins), so we start the direct sessions. After a network change ours are dead: new ones
 * replace them (the others accept a new session from the same occupant in place of the old, p2p.ts); the bridge link
 * is replaced by the move the room's announcement to the rejoin starts (media-path.ts onMedia).
 */
function rejoined(s: CallState, out: CallEffect[]): void {
  for (const nick of s.unconfirmed ?? []) {
    if (!s.participants.has(nick)) continue;
    removeParticipant(s, nick, out);
    out.push({ kind: "system", text: `${nick} left.` });
  }
  s.unconfirmed = undefined;
  s.keysLost.pending = false; // this session is a new member: a loss before it is mended
  for (const p of s.participants.values()) p.weInitiate = true;
  if (!s.pathsStale) return;
  out.push({ kind: "p2p-restart" });
  if (s.mode !== "bridge") s.pathsStale = false;
}

function selfView(s: CallState, out: CallEffect[]): void {
  out.push({ kind: "view-self", nick: s.nick, moderator: s.role === "moderator", owner: s.affiliation === "owner" });
}

function onAvailable(s: CallState, nick: string, jid: string, av: AvState, out: CallEffect[]): void {
  const existing = s.participants.get(nick);
  s.unconfirmed?.delete(nick);
  if (existing) existing.av = av;
  else s.participants.set(nick, { nick, jid, av, weInitiate: s.joining });
  out.push({ kind: "view-participant", nick, av });
  if (!existing && s.joining) startEarly(s, jid, out);
  if (!existing && s.joined && !s.joining) out.push({ kind: "system", text: `${nick} joined.` });
  reconcile(s, out);
}

/**
 * Joining a room that had one occupant: its presence is the whole roster (ours comes last, XEP-0045 §7.2.3), and the
 * join has been accepted (the room sends the roster only then). Start the direct session now instead of after our
 * own presence: the offer goes out one message earlier. reconcile later finds the session there.
 */
function startEarly(s: CallState, jid: string, out: CallEffect[]): void {
  if (s.occupantsBeforeJoin !== 1 || s.participants.size !== 1 || s.mode !== "p2p") return;
  out.push({ kind: "mark", name: "parley:early-initiate" }, { kind: "p2p-peers", peers: [jid], keep: "all" });
}

function removeParticipant(s: CallState, nick: string, out: CallEffect[]): void {
  const p = s.participants.get(nick);
  if (!p) return;
  s.participants.delete(nick);
  out.push({ kind: "participant-gone", nick, jid: p.jid });
}

function onTimer(s: CallState, timer: TimerId, now: number, out: CallEffect[]): void {
  switch (timer) {
    case "mesh-fallback":
      if (s.mode === "p2p" && s.joined) out.push({ kind: "p2p-peers", peers: [...s.participants.values()].map((p) => p.jid), keep: "all" });
      return;
    case "bridge-trim":
      if (s.switching && s.mode === "bridge") {
        out.push(
          { kind: "p2p-peers", peers: [...s.participants.values()].map((p) => p.jid), keep: "existing" },
          { kind: "set-timer", timer: "bridge-trim", ms: BRIDGE_TRIM_MS },
        );
      }
      return;
    case "p2p-finish":
      finishSwitchToP2P(s, now, out);
      return;
    case "bridge-retry":
      onBridgeRetry(s, out);
      return;
    case "standby":
      onStandbyTimer(s, out);
      return;
    case "lobby-unused":
      dropLobby(s, out);
      return;
    case "after-join":
      out.push({ kind: "refresh-lock" }, { kind: "fetch-media" });
      return;
    case "keepalive":
      if (!s.joined || s.reconnecting) return;
      out.push({ kind: "xmpp-ping", timeoutMs: PING_TIMEOUT_MS }, { kind: "set-timer", timer: "keepalive", ms: KEEPALIVE_MS });
      return;
    case "keys-lost":
      if (!s.keysLost.pending) return;
      if (!s.joined || s.left || s.reconnecting) s.keysLost.pending = false; // a rejoin is coming: a new member
      else rejoinForKeys(s, now, out);
      return;
    case "reconnect":
      if (!s.reconnecting || s.joining) return;
      out.push({ kind: "xmpp-connect" }, { kind: "set-timer", timer: "reconnect", ms: reconnectDelay(s, now) });
      return;
    default:
      throw new Error(`unhandled timer ${(timer satisfies never) as string}`);
  }
}

/**
 * Local devices became ready (or changed, or were refused): a device that comes is sent at once if the person wants
 * it on, on whichever path carries the call (the shell adds or replaces the track on every direct session and bridge
 * link); one that goes is announced off.
 */
function onDevices(s: CallState, audio: boolean, video: boolean, out: CallEffect[]): void {
  s.devices = { audio, video };
  out.push({ kind: "send-tracks", links: linksCarrying(s) });
  setAv(s, { audio: s.want.audio && audio, video: s.want.video && video, screen: s.av.screen }, out);
}

/** Every bridge link that sends our media or may soon (the standby link sends once activated). */
function linksCarrying(s: CallState): LinkId[] {
  const links = [s.bridge?.link, s.previousBridge, s.standby?.state === "linked" ? s.standby.link : undefined];
  return links.filter((l): l is LinkId => l !== undefined);
}

const sameAv = (a: AvState, b: AvState): boolean => a.audio === b.audio && a.video === b.video && a.screen === b.screen;

function setAv(s: CallState, av: AvState, out: CallEffect[]): void {
  const changed = !sameAv(av, s.av);
  s.av = av;
  if (changed) out.push({ kind: "av", av, presence: s.joined });
}

function leave(s: CallState, reason: string, out: CallEffect[]): void {
  if (s.left) return;
  closeAll(s, out);
  s.left = true;
  out.push({ kind: "leave", reason });
}
