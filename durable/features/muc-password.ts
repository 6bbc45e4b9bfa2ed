/**
 * XEP-0045 §7.2.6 (password-protected rooms) and §10.2 `muc#roomconfig_roomsecret`.
 * The room secret is stored only as PBKDF2-SHA256 (random 16-byte salt, PBKDF2_ITERATIONS) in SQLite.
 *
 * Guessing is limited per client IP (keyed by a salted hash, never the address itself), with exponential back-off:
 *   - the first FREE_ATTEMPTS wrong passwords are answered with `not-authorized` only;
 *   - the n-th wrong password beyond them blocks that client for BASE_DELAY_MS * 2^(n-1) (2 s, 4 s, 8 s, ...),
 *     capped at MAX_DELAY_MS (5 min); attempts while blocked are refused *without checking the password* with
 *     `<policy-violation/>` (type wait) and a "retry in N s" text;
 *   - a correct password clears the record; records are forgotten FORGET_AFTER_MS (1 h) after the last failure.
 */
import type { StanzaError } from "../xmpp/errors";
import { timingSafeEqualBytes, toBase64 } from "../../contract/hmac";
import type { PwFailure, RoomMeta, RoomState } from "../core/state";

export const PBKDF2_ITERATIONS = 20_000;
export const FREE_ATTEMPTS = 3;
export const BASE_DELAY_MS = 2_000;
export const MAX_DELAY_MS = 5 * 60_000;
export const FORGET_AFTER_MS = 60 * 60_000;
export const MAX_PASSWORD_CHARS = 256;

const enc = new TextEncoder();

export async function hashPassword(password: string, saltB64: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(password.normalize("NFC")), "PBKDF2", false, ["deriveBits"]);
  const salt = Uint8Array.from(atob(saltB64), (ch) => ch.charCodeAt(0));
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS }, key, 256);
  return toBase64(new Uint8Array(bits));
}

export function newSalt(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(16)));
}

/** Set (or clear with null) the room secret. */
export async function setPassword(meta: RoomMeta, password: string | null): Promise<void> {
  if (password === null || password === "") {
    meta.pwHash = null;
    meta.pwSalt = null;
    return;
  }
  const salt = newSalt();
  meta.pwHash = await hashPassword(password, salt);
  meta.pwSalt = salt;
}

export async function checkPassword(meta: RoomMeta, given: string): Promise<boolean> {
  if (!meta.pwHash || !meta.pwSalt) return true;
  const h = await hashPassword(given, meta.pwSalt);
  return timingSafeEqualBytes(enc.encode(h), enc.encode(meta.pwHash));
}

export const isPasswordProtected = (meta: RoomMeta) => meta.pwHash !== null;

/** The back-off veto: an error if this client must wait, else undefined. */
export function backoffCheck(room: RoomState, ipKey: string, now: number): StanzaError | undefined {
  const rec = room.pwFailures.get(ipKey);
  if (!rec) return undefined;
  if (now < rec.blockedUntil) {
    const secs = Math.ceil((rec.blockedUntil - now) / 1000);
    return {
      type: "wait",
      condition: "policy-violation",
      text: `too many wrong room passwords; retry in ${secs} s`,
    };
  }
  return undefined;
}

/** Record a wrong password. */
export function recordFailure(room: RoomState, ipKey: string, now: number): PwFailure {
  const prev = room.pwFailures.get(ipKey);
  const failures = prev && now - prev.lastAt < FORGET_AFTER_MS ? prev.failures + 1 : 1;
  const blockedUntil =
    failures > FREE_ATTEMPTS ? now + Math.min(BASE_DELAY_MS * 2 ** (failures - FREE_ATTEMPTS - 1), MAX_DELAY_MS) : 0;
  const rec = { failures, blockedUntil, lastAt: now };
  room.pwFailures.set(ipKey, rec);
  return rec;
}

/** Forget records older than FORGET_AFTER_MS; returns the keys removed. */
export function expireFailures(room: RoomState, now: number): string[] {
  const gone: string[] = [];
  for (const [k, r] of room.pwFailures) {
    if (now - r.lastAt >= FORGET_AFTER_MS && now >= r.blockedUntil) {
      room.pwFailures.delete(k);
      gone.push(k);
    }
  }
  return gone;
}
