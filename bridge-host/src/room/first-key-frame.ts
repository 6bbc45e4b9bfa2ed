/**
 * One key frame for all of a video producer's first viewers (pure: no mediasoup, timers injected).
 *
 * A consumer that resumes makes mediasoup ask the producer's sender for a key frame (PLI), and libwebrtc senders answer
 * at most one request per 300 ms (hence KEY_FRAME_REQUEST_DELAY_MS in bridge-room.ts: later requests wait 350 ms).
 * When a room moves to the bridge, every viewer of a new producer resumes its consumer within a few hundred ms of the
 * others, each from its own page: the first viewer's request is answered at once, and a viewer whose resume reaches
 * the bridge just after that key frame went through waits for the next request, 350 ms after the first, before it
 * can show anything.
 *
 * So the first viewers of a video producer are held: their consumers stay paused (their `resumeConsumer` is answered
 * at once) until every other peer expected to view the producer has asked to resume too, or `holdMs` after the first
 * one asked, whichever comes first. They are then resumed together, and one key frame starts them all. From then on
 * (the gate is open for that producer) viewers resume at once.
 *
 * With the gate, all three people of `npm run bench:call -- --bridge` see each other sooner (figures in
 * docs/benchmarks.md, "Design choices"). The price: a first viewer may see the new camera up to the hold time later
 * than it could have, never later than the last one does.
 */

export interface FirstKeyFrameDeps<C> {
  /** Resume the consumer on the bridge for real (asks the sender for a key frame). */
  resume(consumer: C): void;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

/** How long the first viewer of a video producer waits at most for the others (see above); the bridge's
 *  FIRST_KEY_FRAME_HOLD_MS setting. */
export const FIRST_KEY_FRAME_HOLD_MS = 300;

export class FirstKeyFrameGate<C> {
  /** producerId -> its first viewers, held, and the timer that releases them */
  readonly #held = new Map<string, { consumers: Set<C>; timer: unknown }>();
  /** producers whose first viewers were released: later viewers resume at once */
  readonly #open = new Set<string>();

  constructor(
    private readonly deps: FirstKeyFrameDeps<C>,
    private readonly holdMs = FIRST_KEY_FRAME_HOLD_MS,
  ) {}

  /**
   * A viewer asks to resume `consumer` of `producerId`. `othersPending()`: some other peer expected to view the
   * producer has not asked yet (the room knows; it counts held consumers through `isHeld`). Only called while the
   * producer's first viewers are being gathered.
   * Returns "now" when the caller should resume it itself, "held" when the gate will.
   */
  request(producerId: string, consumer: C, othersPending: () => boolean): "now" | "held" {
    if (this.holdMs <= 0 || this.#open.has(producerId)) return "now";
    if (!othersPending()) {
      this.#release(producerId);
      return "now";
    }
    let h = this.#held.get(producerId);
    if (!h) {
      h = { consumers: new Set(), timer: this.deps.setTimer(() => this.#release(producerId), this.holdMs) };
      this.#held.set(producerId, h);
    }
    h.consumers.add(consumer);
    return "held";
  }

  isHeld(consumer: C): boolean {
    for (const h of this.#held.values()) if (h.consumers.has(consumer)) return true;
    return false;
  }

  /** The consumer closed, or its viewer paused it again before it was released: it stays as it is. */
  forget(consumer: C): void {
    for (const h of this.#held.values()) h.consumers.delete(consumer);
  }

  /**
   * The room changed (a peer left): release the held viewers of every producer nobody else is expected for any more
   * (`othersPending(producerId)`), instead of letting them wait out the hold.
   */
  reconsider(othersPending: (producerId: string) => boolean): void {
    for (const producerId of [...this.#held.keys()]) if (!othersPending(producerId)) this.#release(producerId);
  }

  /** The producer closed: drop what was held for it (its consumers close with it). */
  producerClosed(producerId: string): void {
    const h = this.#held.get(producerId);
    if (h) this.deps.clearTimer(h.timer);
    this.#held.delete(producerId);
    this.#open.delete(producerId);
  }

  /** The room closed: cancel every timer. Idempotent. */
  close(): void {
    for (const id of [...this.#held.keys()]) this.producerClosed(id);
    this.#open.clear();
  }

  #release(producerId: string): void {
    this.#open.add(producerId);
    const h = this.#held.get(producerId);
    if (!h) return;
    this.#held.delete(producerId);
    this.deps.clearTimer(h.timer);
    for (const c of h.consumers) this.deps.resume(c);
  }
}
