/**
 * The page's one group key source for call encryption (call-encryption.ts needs it before the call prepares any
 * connection, on the hair check), fed by whichever MLS member is current: the call's (mls-xmpp.ts), replaced when a
 * new XMPP session makes a new member. Epochs pass through unchanged; a new member's first epoch may be lower than
 * the last one relayed, which the consumer treats as a new group (keys.ts).
 */
import type { EpochKeys } from "./frame-keys";
import type { GroupKeySource, GroupMember } from "./keys";

class KeyRelay implements GroupKeySource {
  #source: GroupKeySource | undefined;
  #unfollow: () => void = () => undefined;
  readonly #listeners = new Set<(k: EpochKeys) => void>();

  /** Relay `source` from now on (its current epoch at once, if it has one). */
  use(source: GroupKeySource): void {
    if (source === this.#source) return;
    this.#unfollow();
    this.#source = source;
    this.#unfollow = source.onEpoch((k) => this.#emit(k));
    const now = source.current();
    if (now) this.#emit(now);
  }

  onEpoch(cb: (k: EpochKeys) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  current(): EpochKeys | undefined {
    return this.#source?.current();
  }

  members(): GroupMember[] {
    return this.#source?.members() ?? [];
  }

  safetyCode(): string | undefined {
    return this.#source?.safetyCode();
  }

  #emit(k: EpochKeys): void {
    for (const l of this.#listeners) l(k);
  }
}

/** This page's relay: the hair check provides it to call encryption, the call points it at its MLS member. */
export const pageKeys = new KeyRelay();
