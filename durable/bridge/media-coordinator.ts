/**
 * MediaCoordinator: decides and carries out a room's media path (peer-to-peer or the media bridge).
 *
 * - On every occupant change `reconcile()` compares the wanted mode (selection.ts) with the current one. Going to the
 *   bridge: pick the least-loaded healthy bridge host, create the room there (signed control API), then tell every
 *   occupant, each with its own grant (`urn:parley:media:0`, README "Media bridge"). Going back to P2P: tell every
 *   occupant first (clients switch make-before-break), then close the bridge room.
 * - `checkBridge()` (the room's alarm, every HEALTH_INTERVAL_MS while on the bridge) replaces a bridge that stopped
 *   answering by another one and re-announces; `bridgeDraining()` does the same when a bridge says it is shutting down.
 * - Operations are serialised (one at a time): a `fetch` to a bridge opens the Durable Object's input gate, so joins and
 *   leaves can arrive meanwhile; each operation re-reads the occupant list when it starts.
 * The DO shell supplies I/O through MediaHost; the current mode and bridge are persisted through MediaStore so they
 * survive hibernation.
 */
import { mintGrant } from "../crypto/bridge-grant";
import { NS } from "../xmpp/ns";
import { serialize, x, type XmlElement } from "../xmpp/xml";
import { type BridgeControl } from "./control-client";
import { mediaModeFor, pickBridge, type MediaMode } from "./selection";

export const HEALTH_INTERVAL_MS = 5_000;

export interface MediaOccupant {
  nick: string;
  /** the occupant's full JID */
  jid: string;
}

export interface MediaRecord {
  mode: MediaMode;
  /** set in bridge mode */
  bridge?: { base: string; wsUrl: string };
}

export interface MediaHost {
  /** bare room name (as on the bridge) and the room's JID */
  readonly room: string;
  readonly roomJid: string;
  occupants(): MediaOccupant[];
  send(jid: string, xml: string): void;
  load(): MediaRecord;
  save(r: MediaRecord): void;
  /** ask for `checkBridge()` to be called at this time (ms since epoch), or cancel with undefined */
  scheduleCheck(at: number | undefined): void;
}

export interface MediaConfig {
  bridges: readonly string[];
  secret: string;
  control: BridgeControl;
}

export class MediaCoordinator {
  #chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: MediaHost,
    private readonly cfg: MediaConfig,
  ) {}

  get mode(): MediaMode {
    return this.host.load().mode;
  }

  /** Run `op` after every earlier operation; errors are contained (the room keeps working in its current mode). */
  #serial<T>(op: () => Promise<T>): Promise<T | undefined> {
    const next = this.#chain.then(op, op).catch((e: unknown) => {
      console.error("media coordinator:", (e as Error).message);
      return undefined;
    });
    this.#chain = next;
    return next;
  }

  reconcile(): Promise<void> {
    return this.#serial(async () => {
      const want = mediaModeFor(this.host.occupants().length);
      const cur = this.host.load();
      if (want === cur.mode) return;
      if (want === "bridge") await this.#moveToBridge(new Set());
      else await this.#moveToP2p(cur);
    }).then(() => undefined);
  }

  /** A bridge said it is shutting down (signed /bridge-events call): move off it. */
  bridgeDraining(base: string): Promise<void> {
    return this.#serial(async () => {
      const cur = this.host.load();
      if (cur.mode === "bridge" && cur.bridge?.base === base) await this.#moveToBridge(new Set([base]));
    }).then(() => undefined);
  }

  /** Alarm: is our bridge still answering? If not, move to another one. */
  checkBridge(): Promise<void> {
    return this.#serial(async () => {
      const cur = this.host.load();
      if (cur.mode !== "bridge" || !cur.bridge) {
        if (mediaModeFor(this.host.occupants().length) === "bridge") await this.#moveToBridge(new Set());
        else this.host.scheduleCheck(undefined);
        return;
      }
      const h = await this.cfg.control.health(cur.bridge.base);
      if (h.healthy) {
        this.host.scheduleCheck(Date.now() + HEALTH_INTERVAL_MS);
        return;
      }
      await this.#moveToBridge(new Set([cur.bridge.base]));
    }).then(() => undefined);
  }

  /** The `<media/>` element for one occupant (for a joiner, or an IQ asking for a fresh grant). */
  async mediaElementFor(nick: string): Promise<XmlElement> {
    const cur = this.host.load();
    if (cur.mode !== "bridge" || !cur.bridge) return x("media", { xmlns: NS.PARLEY_MEDIA, mode: "p2p" });
    const grant = await mintGrant(this.cfg.secret, this.host.room, nick);
    return x("media", { xmlns: NS.PARLEY_MEDIA, mode: "bridge", url: cur.bridge.wsUrl, grant });
  }

  /** Tell one occupant the current mode (used after a join into a room already on the bridge). */
  async announceTo(o: MediaOccupant): Promise<void> {
    this.#sendMedia(o, await this.mediaElementFor(o.nick));
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
        if (old.mode === "bridge") this.#announceAll({ mode: "p2p" });
        this.host.save({ mode: "p2p" });
        this.host.scheduleCheck(bridges.length > 0 ? Date.now() + HEALTH_INTERVAL_MS : undefined);
        return;
      }
      tried.add(base);
      try {
        const created = await control.createRoom(base, this.host.room);
        // Re-check: people may have left while we were talking to the bridge.
        if (mediaModeFor(this.host.occupants().length) !== "bridge") {
          await control.closeRoom(base, this.host.room).catch(() => undefined);
          if (old.mode === "bridge") await this.#moveToP2p(old);
          return;
        }
        const rec: MediaRecord = { mode: "bridge", bridge: { base, wsUrl: created.wsUrl } };
        this.host.save(rec);
        await this.#announceAllBridge();
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
    this.#announceAll({ mode: "p2p" });
    this.host.scheduleCheck(undefined);
    if (cur.bridge) await this.cfg.control.closeRoom(cur.bridge.base, this.host.room).catch(() => undefined);
  }

  async #announceAllBridge(): Promise<void> {
    for (const o of this.host.occupants()) this.#sendMedia(o, await this.mediaElementFor(o.nick));
  }

  #announceAll(attrs: { mode: "p2p" }): void {
    const el = x("media", { xmlns: NS.PARLEY_MEDIA, mode: attrs.mode });
    for (const o of this.host.occupants()) this.#sendMedia(o, el);
  }

  #sendMedia(o: MediaOccupant, media: XmlElement): void {
    const msg = x(
      "message",
      { xmlns: NS.CLIENT, type: "headline", from: this.host.roomJid, to: o.jid, id: crypto.randomUUID() },
      media,
    );
    this.host.send(o.jid, serialize(msg));
  }
}
