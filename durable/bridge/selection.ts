/**
 * When a room needs the media bridge, and which bridge host serves it. Pure decisions, no I/O.
 *
 * Policy (docs/architecture.md): a room with three or more occupants goes through the bridge so that no browser encodes
 * its video once per peer; with two or fewer it goes (back) to peer-to-peer, end-to-end encrypted DTLS-SRTP.
 */
import type { MediaMode } from "../../contract/media";
export type { MediaMode };

const BRIDGE_THRESHOLD = 3;

export function mediaModeFor(occupantCount: number): MediaMode {
  return occupantCount >= BRIDGE_THRESHOLD ? "bridge" : "p2p";
}

/**
 * What a room keeps ready: `standby` is a room still peer-to-peer (media goes directly, end-to-end encrypted) that is
 * one person short of the bridge while someone waits on its hair check (a bound XMPP session that has not joined).
 * Its occupants connect to a bridge room ahead with their senders inactive, so that when that person joins, the move
 * to the bridge does not start from nothing (docs/architecture.md: standby). No media goes to the bridge before
 * the room announces `bridge`.
 * `waiting` counts live sessions only: one that stays silent without joining is ended (durable/features/idle.ts;
 * the web app's hair check pings), so standby lasts only while someone really waits.
 */
export type MediaReadiness = "p2p" | "standby" | "bridge";

export function readinessFor(occupantCount: number, waiting: number): MediaReadiness {
  if (mediaModeFor(occupantCount) === "bridge") return "bridge";
  return occupantCount === BRIDGE_THRESHOLD - 1 && waiting > 0 ? "standby" : "p2p";
}

export interface BridgeHealth {
  /** control base URL, as configured in BRIDGES */
  base: string;
  healthy: boolean;
  /** 0..1, lower is better */
  load: number;
}

/**
 * The least-loaded healthy bridge not in `exclude`; ties broken by configuration order (stable), so a deployment with
 * equal loads fills its first bridge first. `undefined` when none is usable.
 */
export function pickBridge(candidates: readonly BridgeHealth[], exclude: ReadonlySet<string> = new Set()): string | undefined {
  let best: BridgeHealth | undefined;
  for (const c of candidates) {
    if (!c.healthy || exclude.has(c.base)) continue;
    if (!best || c.load < best.load) best = c;
  }
  return best?.base;
}
