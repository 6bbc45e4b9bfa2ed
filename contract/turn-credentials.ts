/**
 * TURN REST credentials, coturn `use-auth-secret` scheme
 * (draft-uberti-behave-turn-rest-00 §2.2, as implemented by coturn's `static-auth-secret`):
 *   username = "<expiry unix time>"   (optionally "<expiry>:<user>", we never add a user part: no identifiers)
 *   password = base64(HMAC-SHA1(secret, username))
 * Used by XEP-0215 (durable/) and by the coturn tests (bridge-host/).
 */
import { hmac, toBase64 } from "./hmac";

export interface TurnCredentials {
  username: string;
  password: string;
  /** expiry as a JS Date */
  expires: Date;
}

export async function mintTurnCredentials(
  secret: string,
  ttlSeconds: number,
  nowMs: number = Date.now(),
): Promise<TurnCredentials> {
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = String(expiry);
  const password = toBase64(await hmac("SHA-1", secret, username));
  return { username, password, expires: new Date(expiry * 1000) };
}
