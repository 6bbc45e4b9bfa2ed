/**
 * Sessions that never join. A connection that is not an occupant keeps the room busy (and, bound, can keep a bridge
 * room on standby for the person it stands for, bridge/selection.ts), so it must show it is alive:
 *   - one still negotiating (not bound) gets NEGOTIATION_TIMEOUT_MS from its last frame;
 *   - a bound one that has not joined (someone on the hair check) gets UNJOINED_IDLE_MS from its last frame; any
 *     frame counts, so the web app's XEP-0199 ping to the server keeps an open hair check alive;
 *   then the stream ends with `connection-timeout` (RFC 6120 §4.9.3.4). Occupants are not timed out here.
 *   - at most maxUnjoined(cfg) such sessions per room: one more is refused at its first `<open/>` with
 *     `resource-constraint` (RFC 6120 §4.9.3.17).
 * The time of the last frame (`seen`) is stored in the connection's attachment, written at most every
 * SEEN_GRANULARITY_MS, so that it survives hibernation; the shell wakes the room for the next deadline (its alarm).
 */
import type { CoreConfig } from "../core/deps";
import type { Out } from "../core/effects";
import type { ConnState, RoomState } from "../core/state";

export const NEGOTIATION_TIMEOUT_MS = 30_000;
export const UNJOINED_IDLE_MS = 120_000;
export const SEEN_GRANULARITY_MS = 10_000;

/** Sessions not in the room that one room keeps: twice its occupant limit (people waiting, reloads). */
export const maxUnjoined = (cfg: CoreConfig) => 2 * cfg.maxOccupants;

/** Record a frame from `c` (after it was handled: a leaver starts its idle time then). */
export function touch(c: ConnState, now: number, out: Out): void {
  if (c.occ) return;
  if (c.seen !== undefined && now - c.seen < SEEN_GRANULARITY_MS) return;
  c.seen = now;
  out.saveConn(c.id);
}

/** When `c` times out, or undefined for an occupant. */
function deadlineOf(c: ConnState, now: number): number | undefined {
  if (c.occ) return undefined;
  // a connection recorded without `seen` (an attachment from before this rule) counts from now
  const seen = c.seen ?? (c.seen = now);
  return seen + (c.phase === "ready" ? UNJOINED_IDLE_MS : NEGOTIATION_TIMEOUT_MS) + SEEN_GRANULARITY_MS;
}

/** The earliest deadline in the room, for the shell's alarm. */
export function nextDeadline(room: RoomState, now: number): number | undefined {
  let at: number | undefined;
  for (const c of room.conns.values()) {
    const d = deadlineOf(c, now);
    if (d !== undefined && (at === undefined || d < at)) at = d;
  }
  return at;
}

/** Connections past their deadline. */
export function expired(room: RoomState, now: number): ConnState[] {
  return [...room.conns.values()].filter((c) => {
    const d = deadlineOf(c, now);
    return d !== undefined && d <= now;
  });
}

/** Sessions in the room other than `c` that are not occupants. */
export function unjoinedOthers(room: RoomState, c: ConnState): number {
  let n = 0;
  for (const o of room.conns.values()) if (!o.occ && o.id !== c.id) n++;
  return n;
}
