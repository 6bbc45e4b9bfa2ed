/**
 * XEP-0045 §7.2.6 (password-protected rooms) and §10.2 `muc#roomconfig_roomsecret`.
 * The room secret is stored only as PBKDF2-SHA256 (random 16-byte salt, PBKDF2_ITERATIONS) in SQLite.
 *
 * Guessing is limited per client network (keyed by a salted hash of the IPv4 address or IPv6 /64, never the address
 * itself; contract/client-address.ts), with exponential back-off:
 *   - the first FREE_ATTEMPTS wrong passwords are answered with `not-authorized` only;
 *   - the n-th wrong password beyond them blocks that client for BASE_DELAY_MS * 2^(n-1) (2 s, 4 s, 8 s, ...),
 *     capped at MAX_DELAY_MS (5 min); attempts while blocked are refused *without checking the password* with
 *     `<policy-violation/>` (type wait) and a "retry in N s" text;
 *   - a correct password clears the record; records are forgotten FORGET_AFTER_MS (1 h) after the last failure.
 * And per room, whoever guesses (many networks, e.g. rotating IPv6 prefixes or a botnet): the room keeps one more
 * record under ROOM_KEY. After ROOM_FREE_FAILURES wrong passwords within FORGET_AFTER_MS, each further one closes
 * the room's password checks for ROOM_SPACING_MS, for everyone (refused unchecked, "retry in N s"). That bounds
 * the guesses per hour for the room and the PBKDF2 work, which runs on the object's only thread and so delays the
 * occupants' own traffic; the price is that a joiner with the right password may be told to wait a few seconds
 * while a room is under attack (SECURITY.md "Abuse limits").
 */
import type { StanzaError } from "../xmpp/errors";
import { timingSafeEqualBytes, toBase64 } from "../../contract/hmac";
import type { PwFailure, RoomMeta, RoomState } from "../core/state";

const PBKDF2_ITERATIONS = 20_000;
export const FREE_ATTEMPTS = 3;
export const BASE_DELAY_MS = 2_000;
export const MAX_DELAY_MS = 5 * 60_000;
export const FORGET_AFTER_MS = 60 * 60_000;
export const MAX_PASSWORD_CHARS = 256;
/** The room-wide record's key (client keys are hex hashes, so it cannot collide with one). */
export const ROOM_KEY = "room";
export const ROOM_FREE_FAILURES = 20;
export const ROOM_SPACING_MS = 5_000;

const enc = new TextEncoder();

export async function hashPassword(password: string, saltB64: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(password.normalize("NFC")), "PBKDF2", false, ["deriveBits"]);
  const salt = Uint8Array.from(atob(saltB64), (ch) => ch.charCodeAt(0));
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS }, key, 256);
  return toBase64(new Uint8Array(bits));
}

function newSalt(): string {
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

/** The back-off veto: an error if this client, or the room as a whole, must wait; else undefined. */
export function backoffCheck(room: RoomState, ipKey: string, now: number): StanzaError | undefined {
  const wait = (until: number, why: string): StanzaError => ({
    type: "wait",
    condition: "policy-violation",
    text: `${why}; retry in ${Math.ceil((until - now) / 1000)} s`,
  });
  const rec = room.pwFailures.get(ipKey);
  if (rec && now < rec.blockedUntil) return wait(rec.blockedUntil, "too many wrong room passwords");
  const all = room.pwFailures.get(ROOM_KEY);
  if (all && now < all.blockedUntil) return wait(all.blockedUntil, "this room is receiving many wrong passwords");
  return undefined;
}

function bump(prev: PwFailure | undefined, now: number, free: number, delay: (beyond: number) => number): PwFailure {
  const failures = prev && now - prev.lastAt < FORGET_AFTER_MS ? prev.failures + 1 : 1;
  return { failures, blockedUntil: failures > free ? now + delay(failures - free) : 0, lastAt: now };
}

/** Record a wrong password, for the client and for the room (the caller saves both keys). */
export function recordFailure(room: RoomState, ipKey: string, now: number): PwFailure {
  const rec = bump(room.pwFailures.get(ipKey), now, FREE_ATTEMPTS, (n) => Math.min(BASE_DELAY_MS * 2 ** (n - 1), MAX_DELAY_MS));
  room.pwFailures.set(ipKey, rec);
  room.pwFailures.set(ROOM_KEY, bump(room.pwFailures.get(ROOM_KEY), now, ROOM_FREE_FAILURES, () => ROOM_SPACING_MS));
  return rec;
}

/** When a record can be forgotten: FORGET_AFTER_MS after its last failure, and not before its block ends. */
const expiresAt = (r: PwFailure) => Math.max(r.lastAt + FORGET_AFTER_MS, r.blockedUntil);

/** Forget records that have expired; returns the keys removed. */
export function expireFailures(room: RoomState, now: number): string[] {
  const gone: string[] = [];
  for (const [k, r] of room.pwFailures) {
    if (now >= expiresAt(r)) {
      room.pwFailures.delete(k);
      gone.push(k);
    }
  }
  return gone;
}

/** The earliest time a record expires (for the object's alarm), or undefined when there are none. */
export function nextExpiry(room: RoomState): number | undefined {
  let at: number | undefined;
  for (const r of room.pwFailures.values()) at = Math.min(at ?? Infinity, expiresAt(r));
  return at;
}
