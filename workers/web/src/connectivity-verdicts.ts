/** Pure verdicts of the hair check's connectivity check (connectivity.ts), unit-tested in test/unit/web-connectivity.test.ts. */

export interface Gathered {
  /** Candidate types seen (host/srflx/relay/prflx). */
  types: Set<string>;
  /** Gathering finished before the timeout (every server answered or failed). */
  complete: boolean;
  /** icecandidateerror events: a STUN/TURN server could not be resolved, reached or used. */
  errors: number;
}

/**
 * STUN verdict. A server-reflexive candidate proves it. Without one, the server may still have answered: when the
 * address it reports is one this device already has (no NAT in between: a public address, or a server on the same
 * network), the browser drops the duplicate candidate. Gathering then still finishes early and without an error,
 * whereas an unanswered STUN server keeps it going for tens of seconds (past our timeout) or ends in an error.
 */
export function stunVerdict(g: Gathered): { verdict: "ok" | "warn"; text: string } {
  if (g.types.has("srflx")) return { verdict: "ok", text: "Works: your public address was discovered." };
  if (g.complete && g.errors === 0 && g.types.has("host")) {
    return { verdict: "ok", text: "Works: the STUN server answered (this device's address needs no translation)." };
  }
  return { verdict: "warn", text: "No public address discovered (UDP may be blocked); calls can still use TURN." };
}
