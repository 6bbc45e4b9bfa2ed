/**
 * Per-connection stanza rate limit (SECURITY.md "Abuse limits"): a token bucket with `burst` tokens refilled at `ratePerSecond`.
 * Exceeding it is a `policy-violation` stream error (RFC 6120 §4.9.3.14). Buckets live in memory only: an object
 * hibernates only when idle, by which time a bucket has refilled (a woken connection starts with a full bucket).
 */
export class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }
  /** Take `n` tokens at time `now` (ms); false if not enough are left (nothing is taken then). */
  take(now: number, n = 1): boolean {
    if (now > this.#at) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.ratePerSecond);
      this.#at = now;
    }
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }
  get tokens(): number {
    return this.#tokens;
  }
}
