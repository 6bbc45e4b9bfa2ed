/** What the pure core needs from its host: configuration, clock and randomness (injected so tests control them). */
export interface CoreConfig {
  maxOccupants: number;
  /** TURN/STUN host announced by XEP-0215 (default: the connection's XMPP domain) */
  turnHost: string | undefined;
  turnPort: number;
  /** TURN-over-TLS port (XEP-0215 `turns`, RFC 7065); undefined = not offered */
  turnTlsPort?: number | undefined;
  turnTtlSeconds: number;
  turnSecret: string;
  bridgeSecret: string;
}

export interface Deps {
  cfg: CoreConfig;
  now(): number;
  /** a fresh random identifier, URL/XML safe */
  randomId(): string;
}

export function defaultRandomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(10));
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
