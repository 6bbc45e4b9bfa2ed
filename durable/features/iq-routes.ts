/**
 * IQs routed between occupants (XEP-0045 §7.5, e.g. Jingle) get a fresh id from the room, as Prosody's mod_muc does:
 * the room remembers which occupant asked which one under which id, and a result or error comes back only to the
 * occupant that asked, with its own id restored. A result or error that matches no pending request (RFC 6120 §8.2.3:
 * it must answer a get/set) is dropped, so nobody can slip an unsolicited "answer" to another occupant's request.
 *
 * Pure bookkeeping, in memory: a Durable Object hibernates only after being idle, so an answer in flight is not lost
 * that way; a request unanswered after IQ_ROUTE_TTL_MS is forgotten (the requester's client times out by then).
 */

/** How long the room waits for the answer to a routed IQ. */
export const IQ_ROUTE_TTL_MS = 60_000;
/** Requests one connection may have unanswered at once (bounds the table; Jingle needs a handful). */
export const MAX_PENDING_IQS = 128;

interface Pending {
  /** requester's and responder's connection ids, the requester's own id, when it was routed */
  from: string;
  to: string;
  id: string;
  at: number;
}

export class IqRoutes {
  /** by the id the room gave; insertion order is routing order (expiry walks from the front) */
  readonly #byId = new Map<string, Pending>();
  readonly #count = new Map<string, number>();

  /**
   * A get/set from connection `from` to connection `to` with the requester's `id`: returns the id to send instead
   * (`fresh`), or undefined when `from` has MAX_PENDING_IQS requests unanswered.
   */
  open(from: string, to: string, id: string, now: number, fresh: string): string | undefined {
    this.#expire(now);
    const n = this.#count.get(from) ?? 0;
    if (n >= MAX_PENDING_IQS) return undefined;
    this.#byId.set(fresh, { from, to, id, at: now });
    this.#count.set(from, n + 1);
    return fresh;
  }

  /**
   * A result/error from connection `responder` to connection `requester` carrying `id`: the requester's original id
   * if it answers a pending request `requester` sent to `responder` (which is then closed), else undefined (drop it).
   */
  close(responder: string, requester: string, id: string, now: number): string | undefined {
    this.#expire(now);
    const p = this.#byId.get(id);
    if (!p || p.to !== responder || p.from !== requester) return undefined;
    this.#delete(id, p);
    return p.id;
  }

  /** A connection went: forget what it asked and what it was asked. */
  forget(conn: string): void {
    for (const [k, p] of this.#byId) if (p.from === conn || p.to === conn) this.#delete(k, p);
  }

  get size(): number {
    return this.#byId.size;
  }

  #expire(now: number): void {
    for (const [k, p] of this.#byId) {
      if (now - p.at < IQ_ROUTE_TTL_MS) return;
      this.#delete(k, p);
    }
  }

  #delete(k: string, p: Pending): void {
    this.#byId.delete(k);
    const n = (this.#count.get(p.from) ?? 1) - 1;
    if (n > 0) this.#count.set(p.from, n);
    else this.#count.delete(p.from);
  }
}
