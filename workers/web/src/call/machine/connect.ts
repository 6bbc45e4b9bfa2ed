/**
 * Connecting the XMPP stream again at once (the machine's `xmpp-restart` and `xmpp-connect` effects, types.ts), decided
 * against the client's stream as the shell sees it (connection.ts): after a network change the client's own
 * back-off is too slow, but an attempt that may still succeed must not be dropped for a new one.
 */

/** How long a connection attempt may take before an xmpp-connect replaces it (a busy server takes a second or so). */
const CONNECT_PATIENCE_MS = 3000;

/** The client's stream now. */
export interface StreamNow {
  /** a transport exists (connecting or connected) */
  open: boolean;
  /** the XMPP session on it has started */
  inSession: boolean;
  /** when our own last connection attempt started */
  connectingSince: number;
}

/**
 * `xmpp-restart` (`drop`): drop the stream and connect again once it is down. `xmpp-connect`: connect if there is no
 * stream; leave one in session, or one we started less than CONNECT_PATIENCE_MS ago, alone; drop any other (its first
 * packets may have gone out on the network we left) and connect once it is down.
 */
export function connectAction(drop: boolean, stream: StreamNow, now: number): "connect" | "drop" | "none" {
  if (!stream.open) return "connect";
  if (!drop && (stream.inSession || now - stream.connectingSince < CONNECT_PATIENCE_MS)) return "none";
  return "drop";
}
