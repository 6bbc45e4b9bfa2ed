/**
 * The group key source's bookkeeping (keys.ts GroupKeySource), shared by the MLS member (member.ts, in the MLS
 * worker) and its mirror on the page (mls-remote.ts): the current epoch's keys, members and safety code, and the
 * listeners told of each change.
 */
import type { EpochKeys, GroupKeySource, GroupMember } from "./keys";

/** One epoch of the group as its key source reports it. */
export interface EpochView {
  keys: EpochKeys;
  members: GroupMember[];
  code: string;
}

export class EpochSource implements GroupKeySource {
  readonly #subs = new Set<(k: EpochKeys) => void>();
  readonly #changeSubs = new Set<() => void>();
  readonly #lostSubs = new Set<(reason: string) => void>();
  #epoch: EpochView | undefined;

  constructor(protected readonly log: (msg: string) => void) {}

  onEpoch(cb: (k: EpochKeys) => void): () => void {
    this.#subs.add(cb);
    return () => this.#subs.delete(cb);
  }
  current(): EpochKeys | undefined {
    return this.#epoch?.keys;
  }
  members(): GroupMember[] {
    return this.#epoch?.members ?? [];
  }
  safetyCode(): string | undefined {
    return this.#epoch?.code;
  }

  /** Called whenever the epoch changes, including leaving the group (the safety code's view). */
  onChange(cb: () => void): () => void {
    this.#changeSubs.add(cb);
    return () => this.#changeSubs.delete(cb);
  }

  /** `cb` hears when the member can no longer follow the group (member.ts); returns the unsubscribe. */
  onLost(cb: (reason: string) => void): () => void {
    this.#lostSubs.add(cb);
    return () => this.#lostSubs.delete(cb);
  }

  protected groupLost(reason: string): void {
    for (const cb of [...this.#lostSubs]) cb(reason);
  }

  /** A new epoch (or none: not, or no longer, in a group): change listeners first, then the new keys' listeners. */
  protected setEpoch(e: EpochView | undefined): void {
    const had = this.#epoch;
    this.#epoch = e;
    if (had || e) for (const cb of [...this.#changeSubs]) cb();
    if (!e) return;
    // diagnostics (performance timeline): when each epoch's keys were ready
    const perf = (globalThis as { performance?: { mark?: (name: string, o: { detail: unknown }) => unknown } }).performance;
    perf?.mark?.("parley:mls-epoch", { detail: { epoch: String(e.keys.epoch) } });
    for (const cb of [...this.#subs]) {
      try {
        cb(e.keys);
      } catch (err) {
        this.log(`epoch listener failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
