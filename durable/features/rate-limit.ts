/**
 * Per-connection rate limits, each a token bucket: stanzas (`burst` tokens refilled at `ratePerSecond`), and bytes
 * (like Prosody's mod_limits: BYTE_RATE_PER_SECOND, with a burst of BYTE_BURST_STANZAS frames of the largest size,
 * so that a burst of large stanzas, each fanned out to every occupant, is cut off early). Exceeding either is a
 * `policy-violation` stream error (RFC 6120 §4.9.3.14). Buckets live in memory only: an object hibernates only when
 * idle, by which time a bucket has refilled (a woken connection starts with a full bucket).
 */

/** Sustained bytes per second one connection may send (UTF-8, as received). */
export const BYTE_RATE_PER_SECOND = 16 * 1024;
/** The byte burst, in frames of the largest allowed size (MAX_STANZA_BYTES). */
export const BYTE_BURST_STANZAS = 4;

/** UTF-8 length of a string, without allocating. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) i++, (n += 2); // a surrogate pair: 4 bytes for 2 units
    else n += 2;
  }
  return n;
}
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
