/**
 * TURN REST credentials, coturn `use-auth-secret` scheme
 * (draft-uberti-behave-turn-rest-00 §2.2, as implemented by coturn's `static-auth-secret`):
 *   username = "<expiry unix time>:<session part>"   (or just "<expiry>" when no session part is given)
 *   password = base64(HMAC-SHA1(secret, username))
 * The session part makes each signaling session's credentials its own coturn "user", so coturn's per-user quota
 * (`user-quota`, bridge-host/coturn/turnserver.conf.template) caps the relay allocations one session can hold;
 * without it every credential minted in the same second was one user and any one credential could open
 * allocations up to the quota. The part is an opaque hash of the room object's random connection id
 * (`turnSessionPart`): it names no person, address or room, and links nothing outside coturn.
 * Used by XEP-0215 (durable/) and by the coturn tests (bridge-host/).
 */
import { hmac, toBase64 } from "./hmac";

export interface TurnCredentials {
  username: string;
  password: string;
  /** expiry as a JS Date */
  expires: Date;
}

/** What a session part may contain: never the REST API separator ':' (coturn `rest-api-separator`). */
const SESSION_PART = /^[A-Za-z0-9_-]{1,64}$/;

export async function mintTurnCredentials(
  secret: string,
  ttlSeconds: number,
  nowMs: number = Date.now(),
  sessionPart?: string,
): Promise<TurnCredentials> {
  if (sessionPart !== undefined && !SESSION_PART.test(sessionPart)) throw new Error("TURN session part must match [A-Za-z0-9_-]{1,64}");
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = sessionPart === undefined ? String(expiry) : `${expiry}:${sessionPart}`;
  const password = toBase64(await hmac("SHA-1", secret, username));
  return { username, password, expires: new Date(expiry * 1000) };
}

/** The session part for one connection: 16 hex digits of SHA-256 over its random id (stable for the connection). */
export async function turnSessionPart(connectionId: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`turn-session|${connectionId}`)));
  return [...d.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
