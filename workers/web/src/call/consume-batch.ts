/** The producers a bridge link consumes together in one batch (bridge-receive.ts). Pure. */

export interface Wanted {
  producerId: string;
  nick: string | undefined;
  kind: string | undefined;
}

/**
 * Add a producer to a batch still to be consumed. One producer may be announced twice before its batch runs: across
 * the lobby (no name) and, its owner admitted, by name (notifications that arrived while the link was being set up
 * are handled in one go). It is consumed once, under its name: two consumers of one producer would receive the same
 * frames, and the second copy of each is refused as a replay by the frame decryption (one key and counter per sender).
 */
export function addWanted(batch: Wanted[], w: Wanted): void {
  const queued = batch.find((b) => b.producerId === w.producerId);
  if (!queued) return void batch.push(w);
  queued.nick ??= w.nick;
  queued.kind ??= w.kind;
}
