/**
 * Bridge grants: a short-lived token minted by a room's Durable Object that lets one occupant
 * connect to the media bridge for that room.
 *   grant = base64url(JSON payload) + "." + base64url(HMAC-SHA256(BRIDGE_SECRET, base64url(JSON payload)))
 *   payload = { v: 1, room, nick, exp (unix seconds), jti }
 * `jti` is random: every grant differs, so the bridge can take each one once (single use, PROTOCOL.md "Connecting").
 * Lobby grants (someone on the room's hair check, bridge-host/PROTOCOL.md "Lobby"): { v: 2, room, nick: "", exp, jti,
 * lobby: true, lid }. The version differs so that a bridge that predates lobbies refuses them (malformed) instead of
 * taking one for an occupant's. `lid` names the waiting session (lobbyIdFor) without revealing anything about it, so
 * that the room can have that session's lobby connections closed when it goes or is kicked.
 * Verification (bridge side) checks signature (constant time), expiry and the room it is presented for.
 */
import { fromBase64Url, hmac, timingSafeEqualBytes, toBase64Url } from "./hmac";

export interface GrantPayload {
  v: 1 | 2;
  room: string;
  nick: string;
  /** expiry, unix seconds */
  exp: number;
  /** random, unique per grant (single use) */
  jti: string;
  /** a lobby grant (v 2): no nick, lets its holder prepare but not take part (PROTOCOL.md "Lobby") */
  lobby?: true;
  /** lobby grants: the waiting session's lobby id (lobbyIdFor) */
  lid?: string;
}

const MAX_GRANT_TTL_SECONDS = 60;

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
  return sign(secret, { v: 1, room, nick, exp: Math.floor(nowMs / 1000) + ttl, jti: randomJti() });
}

/** A lobby grant for someone on the room's hair check (not an occupant: no nick), naming its session's lobby id. */
export function mintLobbyGrant(secret: string, room: string, lid: string, nowMs: number = Date.now()): Promise<string> {
  return sign(secret, { v: 2, room, nick: "", exp: Math.floor(nowMs / 1000) + MAX_GRANT_TTL_SECONDS, jti: randomJti(), lobby: true, lid });
}

/**
 * The lobby id of one session of a room: HMAC(secret, "parley lobby id v1|" + room + "|" + session), 16 bytes,
 * base64url. Stable for the session (the room needs no storage to name it again when the session goes), and says
 * nothing about the session to whoever reads the grant.
 */
export async function lobbyIdFor(secret: string, room: string, session: string): Promise<string> {
  return toBase64Url((await hmac("SHA-256", secret, `parley lobby id v1|${room}|${session}`)).slice(0, 16));
}

function randomJti(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(12)));
}

async function sign(secret: string, payload: GrantPayload): Promise<string> {
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
  if (typeof p?.room !== "string" || typeof p.nick !== "string" || typeof p.exp !== "number") return { ok: false, reason: "malformed" };
  if (!isId(p.jti)) return { ok: false, reason: "malformed" };
  const occupant = p.v === 1 && p.lobby === undefined && p.lid === undefined && p.nick !== "";
  const lobby = p.v === 2 && p.lobby === true && p.nick === "" && isId(p.lid);
  if (!occupant && !lobby) return { ok: false, reason: "malformed" };
  const now = Math.floor(nowMs / 1000);
  if (p.exp < now || p.exp > now + MAX_GRANT_TTL_SECONDS + 5) return { ok: false, reason: "expired" };
  if (expectedRoom !== undefined && p.room !== expectedRoom) return { ok: false, reason: "wrong-room" };
  return { ok: true, payload: p as GrantPayload };
}

const isId = (x: unknown): x is string => typeof x === "string" && /^[A-Za-z0-9_-]{8,64}$/.test(x);
