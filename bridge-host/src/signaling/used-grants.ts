/**
 * Single use of grants (PROTOCOL.md "Connecting"): a grant opens one connection, or admits one lobby connection,
 * once. The bridge remembers each grant it took (by its `jti`, random per grant: contract/grants.ts)
 * until the grant expires; a grant shown again is refused. Without this, one grant (a lobby grant in particular, which
 * names no one) opened any number of sockets for its 60 s.
 */
export class UsedGrants {
  /** jti -> expiry (unix s) */
  readonly #seen = new Map<string, number>();

  /** Takes the grant: true the first time, false if it was taken before (and has not expired). */
  take(jti: string, exp: number, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
    if (this.#seen.size >= 1024) for (const [j, e] of this.#seen) if (e < nowSeconds) this.#seen.delete(j);
    if (this.#seen.has(jti)) return false;
    this.#seen.set(jti, exp);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}
