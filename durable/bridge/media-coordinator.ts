/**
 * MediaCoordinator: decides and carries out a room's media path (peer-to-peer or the media bridge).
 *
 * - On every occupant change `reconcile()` compares the wanted mode (selection.ts) with the current one. Going to the
 *   bridge: pick the least-loaded healthy bridge host, create the room there (signed control API), then have every
 *   occupant told, each with its own grant (`urn:parley:media:0`, README "Media bridge"). Going back to P2P: tell every
 *   occupant first (clients switch make-before-break), then close the bridge room.
 * - `checkBridge()` (the room's alarm, every HEALTH_INTERVAL_MS while on the bridge) replaces a bridge that stopped
 *   answering by another one and re-announces; `bridgeDraining()` does the same when a bridge says it is shutting down.
 * - Operations are serialised (one at a time): a `fetch` to a bridge opens the Durable Object's input gate, so joins and
 *   leaves can arrive meanwhile; each operation re-reads the occupant list when it starts.
 * The DO shell supplies I/O through MediaHost (announcements themselves, with per-occupant grants, are
 * features/media.ts); the current mode and bridge are persisted through MediaHost.save so they survive hibernation.
 */
import { type BridgeControl } from "./control-client";
import { mediaModeFor, pickBridge, type MediaMode } from "./selection";

export const HEALTH_INTERVAL_MS = 5_000;

export interface MediaRecord {
  mode: MediaMode;
  /** set in bridge mode: the bridge's control base URL and the browser-facing WebSocket URL for this room */
  bridge?: { base: string; wsUrl: string };
}

export interface MediaHost {
  /** bare room name (as on the bridge) */
  readonly room: string;
  occupantCount(): number;
  /** switch the room's announced mode and tell every occupant, each with its own grant (features/media.ts) */
  announce(mode: MediaMode, wsUrl: string | null): Promise<void>;
  load(): MediaRecord;
  save(r: MediaRecord): void;
  /** ask for `checkBridge()` to be called at this time (ms since epoch), or cancel with undefined */
  scheduleCheck(at: number | undefined): void;
}

export interface MediaConfig {
  bridges: readonly string[];
  control: BridgeControl;
}

export class MediaCoordinator {
  #chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: MediaHost,
    private readonly cfg: MediaConfig,
  ) {}

  /** Run `op` after every earlier operation; errors are contained (the room keeps working in its current mode). */
  #serial(op: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(op, op).catch((e: unknown) => {
      console.error("media coordinator:", (e as Error).message);
    });
    this.#chain = next;
    return next;
  }

  reconcile(): Promise<void> {
    return this.#serial(async () => {
      const want = mediaModeFor(this.host.occupantCount());
      const cur = this.host.load();
      if (want === cur.mode) return;
      if (want === "bridge") await this.#moveToBridge(new Set());
      else await this.#moveToP2p(cur);
    });
  }

  /** A bridge said it is shutting down (signed /bridge-events call): move off it. */
  bridgeDraining(base: string): Promise<void> {
    return this.#serial(async () => {
      const cur = this.host.load();
      if (cur.mode === "bridge" && cur.bridge?.base === base) await this.#moveToBridge(new Set([base]));
    });
  }

  /** Alarm: is our bridge still answering? If not, move to another one. */
  checkBridge(): Promise<void> {
    return this.#serial(async () => {
      const cur = this.host.load();
      if (cur.mode !== "bridge" || !cur.bridge) {
        if (mediaModeFor(this.host.occupantCount()) === "bridge") await this.#moveToBridge(new Set());
        else this.host.scheduleCheck(undefined);
        return;
      }
      const h = await this.cfg.control.health(cur.bridge.base);
      if (h.healthy) {
        this.host.scheduleCheck(Date.now() + HEALTH_INTERVAL_MS);
        return;
      }
      await this.#moveToBridge(new Set([cur.bridge.base]));
    });
  }

  async #moveToBridge(exclude: Set<string>): Promise<void> {
    const { control, bridges } = this.cfg;
    const old = this.host.load();
    const health = await Promise.all(bridges.filter((b) => !exclude.has(b)).map((b) => control.health(b)));
    const tried = new Set(exclude);
    for (;;) {
      const base = pickBridge(health, tried);
      if (!base) {
        // No usable bridge: stay peer-to-peer and try again at the next check (README "Media bridge").
        this.host.save({ mode: "p2p" });
        if (old.mode === "bridge") await this.host.announce("p2p", null);
        this.host.scheduleCheck(bridges.length > 0 ? Date.now() + HEALTH_INTERVAL_MS : undefined);
        return;
      }
      tried.add(base);
      try {
        const created = await control.createRoom(base, this.host.room);
        // Re-check: people may have left while we were talking to the bridge.
        if (mediaModeFor(this.host.occupantCount()) !== "bridge") {
          await control.closeRoom(base, this.host.room).catch(() => undefined);
          if (old.mode === "bridge") await this.#moveToP2p(old);
          return;
        }
        this.host.save({ mode: "bridge", bridge: { base, wsUrl: created.wsUrl } });
        await this.host.announce("bridge", created.wsUrl);
        this.host.scheduleCheck(Date.now() + HEALTH_INTERVAL_MS);
        if (old.bridge && old.bridge.base !== base) await control.closeRoom(old.bridge.base, this.host.room).catch(() => undefined);
        return;
      } catch (e) {
        console.error("media coordinator: bridge refused room:", (e as Error).message);
      }
    }
  }

  async #moveToP2p(cur: MediaRecord): Promise<void> {
    this.host.save({ mode: "p2p" });
    // Occupants are told first, then the bridge room closes: clients switch make-before-break.
    await this.host.announce("p2p", null);
    this.host.scheduleCheck(undefined);
    if (cur.bridge) await this.cfg.control.closeRoom(cur.bridge.base, this.host.room).catch(() => undefined);
  }
}
