/**
 * Frames that wait a moment for their keys (RFC 9605 §4.4.4: a receiver MAY buffer a frame whose key it does not
 * have yet). Around every membership change each page gets the new epoch at its own moment: a sender that has it
 * encrypts with it at once, while a receiver still on the previous epoch (or a newcomer whose Welcome is being
 * processed) cannot read those frames for a few hundred ms. Dropped, they would break the video decoder's chain of
 * references until a key frame is asked for and arrives; held until the keys come, they decode as if nothing had
 * happened. A sender without keys holds its first frames the same way (dropped, the encoder's key frame would be
 * lost). Nothing leaves or is decoded without its key: holding only delays.
 *
 * `KeyWait` wakes the waiting frames when keys change; each stream has a `HoldWindow`, so that a stream whose keys
 * never come (a member just removed, a stale epoch) holds one frame for at most `holdMs` and drops the rest at once,
 * until a frame gets through again.
 */
export class KeyWait {
  readonly #waiters = new Set<() => void>();

  /** New keys: every waiting frame tries again. */
  keysChanged(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Resolves when the keys change or after `ms`, whichever comes first. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#waiters.add(wake);
    });
  }
}

/** One stream's budget for waiting: `holdMs` from the first frame that waits, renewed once a frame gets through. */
export class HoldWindow {
  #until: number | undefined;

  constructor(readonly holdMs: number) {}

  /** How long a frame that cannot be processed now may still wait (0: drop it). */
  remaining(now: number): number {
    this.#until ??= now + this.holdMs;
    return Math.max(0, this.#until - now);
  }

  /** A frame got through: the next wait has the whole budget again. */
  passed(): void {
    this.#until = undefined;
  }
}

/**
 * Run `attempt`; while it fails with an error `mayWait` accepts and the stream's window allows, wait for new keys
 * and try again. Throws the last error otherwise.
 */
export async function withKeys<T>(
  attempt: () => Promise<T>,
  mayWait: (e: unknown) => boolean,
  hold: HoldWindow,
  wait: KeyWait,
  now: () => number = Date.now,
): Promise<T> {
  for (;;) {
    try {
      const out = await attempt();
      hold.passed();
      return out;
    } catch (e) {
      const left = mayWait(e) ? hold.remaining(now()) : 0;
      if (left <= 0) throw e;
      await wait.next(left);
    }
  }
}
