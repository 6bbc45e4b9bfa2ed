/**
 * The active speaker as the bridge sees it (its ActiveSpeakerObserver over everyone's audio, bridge-host/PROTOCOL.md
 * `activeSpeaker`), for the view: `onActiveSpeaker(cb)` is told the participant's nick each time it changes, and
 * `undefined` when the bridge link that announced it is gone (back to direct sessions: no bridge to tell). bridge.ts
 * feeds it. In the main call code (small), so the view can subscribe before the bridge code loads.
 */

type Listener = (nick: string | undefined) => void;

const listeners = new Set<Listener>();
let current: string | undefined;
/** The link that announced `current` (a link closing clears only its own announcement, not a newer link's). */
let currentFrom: object | undefined;

/** Be told the bridge's active speaker now (if any) and at each change; returns the unsubscribe function. */
export function onActiveSpeaker(cb: Listener): () => void {
  listeners.add(cb);
  if (current !== undefined) cb(current);
  return () => void listeners.delete(cb);
}

/** The bridge link `from` named `nick` (undefined: nobody). */
export function announceActiveSpeaker(from: object, nick: string | undefined): void {
  currentFrom = from;
  if (nick === current) return;
  current = nick;
  performance.mark(`parley:bridge:speaker:${nick ?? "-"}`);
  for (const cb of listeners) cb(nick);
}

/** The link `from` closed: its announcement no longer holds (a newer link's does). */
export function clearActiveSpeaker(from: object): void {
  if (currentFrom === from) announceActiveSpeaker(from, undefined);
}
