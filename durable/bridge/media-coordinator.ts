/**
 * MediaCoordinator: decides and carries out a room's media path (peer-to-peer or the media bridge).
 *
 * - On every occupant change, and whenever someone starts or stops waiting on the hair check, `reconcile()` compares
 *   what the room should keep ready (selection.ts: `p2p`, `standby` or `bridge`) with what it has. Going to the
 *   bridge or to standby: pick the least-loaded healthy bridge host, create the room there (signed control API; asked
 *   early of the expected pick, in parallel with the health checks), then have every occupant told, each with its
 *   own grant (`urn:parley:media:0`, docs/architecture.md). Standby is announced as `mode='p2p'` with the bridge's
 *   URL and a grant: media stays direct, clients connect to the bridge with inactive senders. From standby, the move
 *   to the bridge is one announcement (the room is already there). Going back to P2P: tell every occupant first
 *   (clients switch make-before-break), then close the bridge room (kept when going back to standby).
 * - `checkBridge()` (the room's alarm, every HEALTH_INTERVAL_MS while a bridge room is kept) replaces a bridge that
 *   stopped answering by another one and re-announces; `bridgeDraining()` does the same when a bridge says it is
 *   shutting down, and `bridgeUnreachable()` when an occupant reports that the bridge does not answer it (its socket
 *   closed, or stalls) and a quick health check of our own confirms it, or most of the room reports it while that
 *   check waits: one report alone moves nothing, since one person's own network failing looks the same to their
 *   page. Reports are bounded per session, and reports that come together (every page notices at once) share one
 *   check.
 * - `removed()` and `lobbyLocked()` have the bridge room close what a person no longer may have there: a kicked
 *   occupant's connection (by nick), the lobby connections of a session that went or was kicked (by lobby id,
 *   contract/grants.ts lobbyIdFor), every lobby connection once the room is locked (bridge-host/PROTOCOL.md
 *   "Lobby"). They go to the bridge room the room has now, without waiting for other operations.
 * - Operations are serialised (one at a time): a `fetch` to a bridge opens the Durable Object's input gate, so joins and
 *   leaves can arrive meanwhile; each operation re-reads the occupant list when it starts.
 * The DO shell supplies I/O through MediaHost (announcements themselves, with per-occupant grants, are
 * features/media.ts); the current mode and bridge are persisted through MediaHost.save so they survive hibernation.
 */
import { type BridgeControl, type CreatedRoom } from "./control-client";
import { pickBridge, readinessFor, type BridgeHealth, type MediaMode, type MediaReadiness } from "./selection";

const HEALTH_INTERVAL_MS = 5_000;
/**
 * The check of a reported bridge waits this long for its health answer: a live bridge answers within milliseconds
 * (its control listener, next to the room's), a frozen host or one off the network never does.
 */
export const PROBE_TIMEOUT_MS = 500;
/** Reports of the same bridge from this many sessions at least (and most of the room) move it at once (#quorum). */
const QUORUM_MIN = 2;
/** A reported bridge found healthy is not checked again within this long (a page whose own network failed reports on). */
export const PROBE_AGAIN_MS = 2_000;
/** Each session may have the room check its bridge at most REPORTS_PER_WINDOW times per REPORT_WINDOW_MS. */
export const REPORTS_PER_WINDOW = 3;
export const REPORT_WINDOW_MS = 60_000;

export interface MediaRecord {
  mode: MediaMode;
  /**
   * The bridge's control base URL and the browser-facing WebSocket URL for this room: set in bridge mode, and in
   * p2p mode while on standby.
   */
  bridge?: { base: string; wsUrl: string };
}

/** What a persisted record keeps ready. */
function readinessOf(r: MediaRecord): MediaReadiness {
  return r.mode === "bridge" ? "bridge" : r.bridge ? "standby" : "p2p";
}

export interface MediaHost {
  /** bare room name (as on the bridge) */
  readonly room: string;
  occupantCount(): number;
  /** bound XMPP sessions that are not occupants: people on the room's hair check */
  waitingCount(): number;
  /**
   * Switch the room's announced mode and tell every occupant, each with its own grant (features/media.ts); `p2p`
   * with a URL is standby.
   */
  announce(mode: MediaMode, wsUrl: string | null): Promise<void>;
  load(): MediaRecord;
  save(r: MediaRecord): void;
  /** ask for `checkBridge()` to be called at this time (ms since epoch), or cancel with undefined */
  scheduleCheck(at: number | undefined): void;
}

export interface MediaConfig {
  bridges: readonly string[];
  control: BridgeControl;
  /** the lobby id of a session (as in its lobby grants) */
  lobbyId(session: string): Promise<string>;
  /** the clock (ms since epoch; injectable for tests) */
  now?: () => number;
}

/** A promise's value, or its error as a value (so that one nobody awaits yet is not an unhandled rejection). */
function settle<T>(p: Promise<T>): Promise<T | Error> {
  return p.catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
}

/** A move's first steps, begun before it is decided (MediaCoordinator #headStart). */
interface HeadStart {
  /** the room asked of the bridge expected to be picked; taken by the move that uses it */
  early: { base: string; created: Promise<CreatedRoom | Error> } | undefined;
  readonly health: Promise<BridgeHealth[]>;
}

export class MediaCoordinator {
  #chain: Promise<unknown> = Promise.resolve();
  /** The bridge the last move to the bridge picked: the next move asks it for the room early (#moveToBridge). */
  #lastPick: string | undefined;
  /** The check of a reported bridge in progress: reports meanwhile share it, and their sessions count (#quorum). */
  #probe: { done: Promise<void>; reporters: Set<string>; confirm(): void } | undefined;
  /** The last reported bridge found healthy, and when. */
  #healthy: { base: string; at: number } | undefined;
  /** per session: when its recent reports were taken (REPORTS_PER_WINDOW) */
  readonly #reports = new Map<string, number[]>();

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

  #wanted(): MediaReadiness {
    return readinessFor(this.host.occupantCount(), this.host.waitingCount());
  }

  reconcile(): Promise<void> {
    return this.#serial(async () => {
      const want = this.#wanted();
      const cur = this.host.load();
      if (want === readinessOf(cur)) return;
      if (want === "p2p") await this.#moveToP2p(cur);
      else if (cur.bridge) await this.#useRoom(want, cur.bridge); // standby <-> bridge: the bridge room stays
      else await this.#moveToBridge(new Set());
    });
  }

  /** A bridge said it is shutting down (signed /bridge-events call): move off it. */
  bridgeDraining(base: string): Promise<void> {
    return this.#serial(async () => {
      const cur = this.host.load();
      if (cur.bridge?.base === base) await this.#moveToBridge(new Set([base]));
    });
  }

  /**
   * An occupant (session `session`) reports that the room's bridge does not answer it. Check the bridge with a
   * short timeout; if it does not answer us either, or most of the room reports it meanwhile, move the room to
   * another bridge now (instead of at the next alarm). Returns once handled (or dropped: over the session's bound, checked healthy just now, or a check is
   * already under way).
   */
  bridgeUnreachable(session: string): Promise<void> {
    const now = this.#now();
    const base = this.host.load().bridge?.base;
    if (!base || !this.#takeReport(session, now)) return Promise.resolve();
    const current = this.#probe;
    if (current) {
      current.reporters.add(session);
      if (this.#quorum(current.reporters)) current.confirm();
      return current.done;
    }
    if (this.#healthy?.base === base && now - this.#healthy.at < PROBE_AGAIN_MS) return Promise.resolve();
    let confirm!: () => void;
    const confirmed = new Promise<"quorum">((r) => (confirm = () => r("quorum")));
    // While the reported bridge is checked, the move off it is prepared (the other bridges' health, the room asked of
    // the likely one): a bridge that fails the check is left one round trip sooner. Closed again if it passes.
    const headStart = this.#headStart(new Set([base]));
    const done = (async () => {
      const verdict = await Promise.race([this.cfg.control.health(base, PROBE_TIMEOUT_MS), confirmed]);
      if (verdict !== "quorum" && verdict.healthy) {
        this.#healthy = { base, at: this.#now() };
        this.#dropHeadStart(headStart);
        return;
      }
      const why = verdict === "quorum" ? "most occupants report it" : "it does not answer our check";
      console.error(`media coordinator: bridge ${base} reported and ${why}: moving the room`);
      await this.#serial(async () => {
        // Only to another bridge that answers: with none, the room keeps this one and its regular check (with the
        // usual, longer timeout) decides, so that a quick check missed on a busy host cannot drop the call to P2P.
        if (this.host.load().bridge?.base === base) await this.#moveToBridge(new Set([base]), { keepIfNone: true, headStart });
        else this.#dropHeadStart(headStart);
      });
    })().finally(() => (this.#probe = undefined));
    this.#probe = { done, reporters: new Set([session]), confirm };
    return done;
  }

  /**
   * Reports from most of the room (QUORUM_MIN sessions at least, and more than half the occupants) while our own
   * check waits: the bridge fails them all, and each of them still reaches us, so it is not one person's network.
   * The room moves then, without waiting for the check's timeout (a frozen bridge never answers it).
   */
  #quorum(reporters: Set<string>): boolean {
    return reporters.size >= QUORUM_MIN && reporters.size * 2 > this.host.occupantCount();
  }

  #now(): number {
    return this.cfg.now ? this.cfg.now() : Date.now();
  }

  /** Count a session's report, unless it has used up its REPORTS_PER_WINDOW. */
  #takeReport(session: string, now: number): boolean {
    const recent = (this.#reports.get(session) ?? []).filter((t) => now - t < REPORT_WINDOW_MS);
    if (recent.length >= REPORTS_PER_WINDOW) return false;
    recent.push(now);
    this.#reports.set(session, recent);
    return true;
  }

  /**
   * Make `bridge` the room's bridge room for `want` and say so: after creating it, or to go standby -> bridge (the
   * person waiting joined) or bridge -> standby (back to two, someone still waiting) with the room it has.
   */
  async #useRoom(want: "standby" | "bridge", bridge: { base: string; wsUrl: string }): Promise<void> {
    const mode = want === "bridge" ? "bridge" : "p2p";
    this.host.save({ mode, bridge });
    await this.host.announce(mode, bridge.wsUrl);
    this.host.scheduleCheck(Date.now() + HEALTH_INTERVAL_MS);
  }

  /**
   * Someone's bridge access goes: `session` went (or was kicked) and so do its lobby connections; with `kickedNick`,
   * a moderator kicked that occupant and its connection goes too.
   */
  async removed(session: string, kickedNick?: string): Promise<void> {
    this.#reports.delete(session);
    const base = this.host.load().bridge?.base; // bridge mode or standby
    if (!base) return;
    const room = this.host.room;
    const { control } = this.cfg;
    const jobs = [control.evictLobby(base, room, { lids: [await this.cfg.lobbyId(session)] })];
    if (kickedNick !== undefined) jobs.push(control.kick(base, room, kickedNick));
    for (const r of await Promise.allSettled(jobs)) {
      if (r.status === "rejected") console.error("media coordinator: bridge removal failed:", (r.reason as Error).message);
    }
  }

  /** The room was locked (a password set): nobody may wait in its lobby any more (lobby grants are no longer given). */
  async lobbyLocked(): Promise<void> {
    const base = this.host.load().bridge?.base;
    if (!base) return;
    await this.cfg.control.evictLobby(base, this.host.room, { all: true }).catch((e: unknown) => {
      console.error("media coordinator: lobby eviction failed:", (e as Error).message);
    });
  }

  /**
   * Alarm: is our bridge still answering? If not, move to another one. The health check itself runs outside the
   * serialised operations: a frozen bridge takes the check's whole timeout to fail, and a report of that bridge by
   * the pages (bridgeUnreachable, with its quick check) must not wait behind it to move the call.
   */
  checkBridge(): Promise<void> {
    const bridge = this.host.load().bridge;
    const health = bridge ? this.cfg.control.health(bridge.base) : Promise.resolve(undefined);
    return health.then((h) =>
      this.#serial(async () => {
        const cur = this.host.load();
        if (!cur.bridge) {
          if (this.#wanted() !== "p2p") await this.#moveToBridge(new Set());
          else this.host.scheduleCheck(undefined);
          return;
        }
        if (cur.bridge.base !== bridge?.base) return; // moved meanwhile (which scheduled its own check)
        if (h?.healthy) {
          this.host.scheduleCheck(Date.now() + HEALTH_INTERVAL_MS);
          return;
        }
        await this.#moveToBridge(new Set([cur.bridge.base]));
      }),
    );
  }

  /**
   * The first steps of a move to a bridge other than `exclude`: every candidate's health checked and, from the bridge
   * we expect to pick (the only candidate, or the one picked last time), the room asked for, both at once. A move
   * takes them over (#moveToBridge); `#dropHeadStart` closes an early room nobody took.
   */
  #headStart(exclude: Set<string>): HeadStart {
    const { control, bridges } = this.cfg;
    const candidates = bridges.filter((b) => !exclude.has(b));
    const guess = candidates.length === 1 ? candidates[0] : candidates.find((b) => b === this.#lastPick);
    return {
      early: guess === undefined ? undefined : { base: guess, created: settle(control.createRoom(guess, this.host.room)) },
      health: Promise.all(candidates.map((b) => control.health(b))),
    };
  }

  /**
   * Close the early room of a head start nobody took, as an operation of its own: a move that another operation
   * made meanwhile (the regular check, a draining bridge) may have taken the call to that very bridge, where
   * asking for the room found the one we asked for; that room is the call's now and stays.
   */
  #dropHeadStart(h: HeadStart): void {
    if (!h.early) return;
    const { base, created } = h.early;
    h.early = undefined;
    void created.then((r) => {
      if (r instanceof Error) return;
      void this.#serial(async () => {
        if (this.host.load().bridge?.base === base) return;
        await this.cfg.control.closeRoom(base, this.host.room).catch(() => undefined);
      });
    });
  }

  /**
   * To a (new) bridge room, for the bridge or for standby (whichever the room wants once the room exists). One round
   * trip instead of two before the announcement (#headStart): if the health checks pick another bridge than the one
   * asked early (or none), that early room is closed again.
   */
  async #moveToBridge(exclude: Set<string>, opts: { keepIfNone?: boolean; headStart?: HeadStart } = {}): Promise<void> {
    const { control, bridges } = this.cfg;
    const room = this.host.room;
    const old = this.host.load();
    const start = opts.headStart ?? this.#headStart(exclude);
    /** The early room if it is on `base` (taken: it is used once), else undefined. */
    const takeEarly = (base: string) => {
      const e = start.early?.base === base ? start.early : undefined;
      if (e) start.early = undefined;
      return e?.created;
    };
    const dropEarly = () => this.#dropHeadStart(start);
    const health = await start.health;
    const tried = new Set(exclude);
    for (;;) {
      const base = pickBridge(health, tried);
      if (!base) {
        dropEarly();
        if (opts.keepIfNone && old.bridge) return;
        // No usable bridge: stay peer-to-peer and try again at the next check (docs/architecture.md).
        this.host.save({ mode: "p2p" });
        if (old.bridge) await this.host.announce("p2p", null);
        this.host.scheduleCheck(bridges.length > 0 ? Date.now() + HEALTH_INTERVAL_MS : undefined);
        return;
      }
      tried.add(base);
      try {
        const created = await (takeEarly(base) ?? control.createRoom(base, room));
        if (created instanceof Error) throw created;
        dropEarly();
        // Re-check: people may have left (or joined) while we were talking to the bridge.
        const want = this.#wanted();
        if (want === "p2p") {
          await control.closeRoom(base, room).catch(() => undefined);
          if (old.bridge) await this.#moveToP2p(old);
          return;
        }
        this.#lastPick = base;
        await this.#useRoom(want, { base, wsUrl: created.wsUrl });
        if (old.bridge && old.bridge.base !== base) await control.closeRoom(old.bridge.base, room).catch(() => undefined);
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
