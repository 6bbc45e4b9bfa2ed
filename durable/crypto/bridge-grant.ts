/**
 * Bridge grants: a short-lived token minted by a room's Durable Object that lets one occupant
 * connect to the media bridge for that room.
 *   grant = base64url(JSON payload) + "." + base64url(HMAC-SHA256(BRIDGE_SECRET, base64url(JSON payload)))
 *   payload = { v: 1, room, nick, exp (unix seconds) }
 * Verification (bridge side) checks signature (constant time), expiry and the room it is presented for.
 */
import { fromBase64Url, hmac, timingSafeEqualBytes, toBase64Url } from "./hmac";

export interface GrantPayload {
  v: 1;
  room: string;
  nick: string;
  /** expiry, unix seconds */
  exp: number;
}

export const MAX_GRANT_TTL_SECONDS = 60;

const enc = new TextEncoder();
const dec = new TextDecoder();

export async function mintGrant(
  secret: string,
  room: string,
  nick: string,
  ttlSeconds: number = MAX_GRANT_TTL_SECONDS,
  nowMs: number = Date.now(),
): Promise<string> {
  const ttl = Math.min(Math.max(1, Math.floor(ttlSeconds)), MAX_GRANT_TTL_SECONDS);
  const payload: GrantPayload = { v: 1, room, nick, exp: Math.floor(nowMs / 1000) + ttl };
  const body = toBase64Url(enc.encode(JSON.stringify(payload)));
  const sig = toBase64Url(await hmac("SHA-256", secret, body));
  return `${body}.${sig}`;
}

export type GrantCheck =
  | { ok: true; payload: GrantPayload }
  | { ok: false; reason: "malformed" | "bad-signature" | "expired" | "wrong-room" };

export async function verifyGrant(
  secret: string,
  grant: string,
  expectedRoom: string | undefined,
  nowMs: number = Date.now(),
): Promise<GrantCheck> {
  const parts = grant.split(".");
  if (parts.length !== 2 || !parts[0] || !parts[1] || grant.length > 2048) return { ok: false, reason: "malformed" };
  const [body, sig] = parts as [string, string];
  let sigBytes: Uint8Array;
  try {
    sigBytes = fromBase64Url(sig);
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const expected = await hmac("SHA-256", secret, body);
  if (!timingSafeEqualBytes(sigBytes, expected)) return { ok: false, reason: "bad-signature" };
  let payload: unknown;
  try {
    payload = JSON.parse(dec.decode(fromBase64Url(body)));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const p = payload as Partial<GrantPayload>;
  if (p?.v !== 1 || typeof p.room !== "string" || typeof p.nick !== "string" || typeof p.exp !== "number") {
    return { ok: false, reason: "malformed" };
  }
  const now = Math.floor(nowMs / 1000);
  if (p.exp < now || p.exp > now + MAX_GRANT_TTL_SECONDS + 5) return { ok: false, reason: "expired" };
  if (expectedRoom !== undefined && p.room !== expectedRoom) return { ok: false, reason: "wrong-room" };
  return { ok: true, payload: p as GrantPayload };
}
