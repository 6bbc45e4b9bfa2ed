/**
 * A room's own limit on NEW sessions (WebSocket upgrades) per minute, counted by the room object itself
 * (SECURITY.md "Abuse limits"). The edge's per-network limit cannot see a flood spread over many networks into
 * one room; this can, and it does not care how many colleagues share one NAT address: an office joining many
 * rooms at once spends each room's budget only once per colleague.
 *
 * A token bucket (features/rate-limit.ts) of `perMinute` tokens refilled at perMinute/60 per second: a burst of a
 * full room (re)connecting at once fits, a sustained flood gets 429 with Retry-After. Memory only: an evicted object
 * starts with a full bucket, which is what a quiet room would have anyway.
 */
import { TokenBucket } from "./rate-limit";

export type Admission = { ok: true } | { ok: false; retryAfterSeconds: number };

export class SessionAdmission {
  readonly #bucket: TokenBucket;
  constructor(readonly perMinute: number, now: number) {
    this.#bucket = new TokenBucket(perMinute / 60, perMinute, now);
  }
  /** Admit one new session at `now` (ms), or say how long until the next one would be admitted. */
  admit(now: number): Admission {
    if (this.#bucket.take(now)) return { ok: true };
    const perSecond = this.perMinute / 60;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - this.#bucket.tokens) / perSecond)) };
  }
}
