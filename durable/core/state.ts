/**
 * Room state, split the way it must survive hibernation (Prosody's room:freeze()/restore_room() idea):
 *   - per connection (`ConnState`): stream phase, bound JID, occupancy (nick, role, affiliation, last presence).
 *     Lives in the WebSocket attachment (serializeAttachment, <= 16 KiB: presence payload is capped, see
 *     MAX_PRESENCE_PAYLOAD), so an evicted object rebuilds every occupant from ctx.getWebSockets().
 *   - per room (`RoomMeta`): created time, password hash, media mode. Lives in SQLite (durable/room-store.ts).
 *   - password-failure back-off per client (keyed by a salted hash of the IP, never the IP): SQLite too.
 * Token buckets are in memory only: an object hibernates only after being idle, by which time a bucket has refilled.
 */
import { z } from "zod";
import { escapeAttr } from "../xmpp/xml";

type Phase =
  | "init" // waiting for the first <open/>
  | "sasl" // features sent, waiting for <auth/>
  | "restart" // SASL done, waiting for the restart <open/> (RFC 6120 §6.4.6)
  | "bind" // waiting for resource binding (RFC 6120 §7)
  | "ready"; // bound: stanzas flow

/** XEP-0045 §5.1 roles and §5.2 affiliations (the subset this server assigns). */
type Role = "moderator" | "participant" | "none";
type Affiliation = "owner" | "none";
import type { MediaMode } from "../../contract/media";
export type { MediaMode };

interface Occupancy {
  /** nickname as shown (RFC 8266 enforcement, features/precis-nickname.ts) */
  nick: string;
  /** comparison key (RFC 8266 §2.4, features/precis-nickname.ts) */
  key: string;
  role: Role;
  affiliation: Affiliation;
  /** serialized payload of the occupant's last available presence, minus the MUC <x/> (XEP-0045 §7.7) */
  pres: string;
  /** unix ms of the join: who has been in the room longest inherits ownership (features/muc-owner.ts) */
  joinedAt: number;
  /** SHA-256 (hex) of the occupant's resume token, if it sent one (features/muc-resume.ts) */
  resume?: string;
}

export interface ConnState {
  v: 1;
  /** connection id (random, also the WebSocket tag) */
  id: string;
  /** the XMPP domain this connection was opened for */
  domain: string;
  /** salted hash of the client IP, for password back-off */
  ipKey: string;
  phase: Phase;
  /** bound JID parts, set by resource binding */
  local?: string;
  resource?: string;
  occ?: Occupancy;
  /** unix ms of its last frame while not an occupant, coarse (features/idle.ts) */
  seen?: number;
}

export interface RoomMeta {
  /** unix ms when the current incarnation of the room was created (first join into an empty room) */
  createdAt: number | null;
  /** PBKDF2 hash (base64) and salt of the room secret, or null (features/muc-password.ts) */
  pwHash: string | null;
  pwSalt: string | null;
  mediaMode: MediaMode;
  /** browser-facing bridge ws URL base while in bridge mode */
  bridgeUrl: string | null;
  /** the bridge host's control base URL while in bridge mode (durable/bridge/media-coordinator.ts) */
  bridgeBase: string | null;
}

export interface PwFailure {
  failures: number;
  /** unix ms until which attempts are refused */
  blockedUntil: number;
  lastAt: number;
}

export interface RoomState {
  /** room localpart, [a-z0-9-]{1,64} */
  name: string;
  meta: RoomMeta;
  conns: Map<string, ConnState>;
  /** occupants by nick key -> connection id */
  nicks: Map<string, string>;
  pwFailures: Map<string, PwFailure>;
}

export const emptyMeta = (): RoomMeta => ({
  createdAt: null,
  pwHash: null,
  pwSalt: null,
  mediaMode: "p2p",
  bridgeUrl: null,
  bridgeBase: null,
});

export function newRoom(name: string, meta: RoomMeta = emptyMeta()): RoomState {
  return { name, meta, conns: new Map(), nicks: new Map(), pwFailures: new Map() };
}

/**
 * Cap on the stored presence payload, in UTF-16 code units, so an attachment stays well below the 16 KiB limit:
 * V8 serializes a string with any non-Latin-1 character at 2 bytes per unit, so 4096 units are at most 8 KiB.
 */
export const MAX_PRESENCE_PAYLOAD = 4096;

/** Attachments are external input on thaw (a previous code version may have written them): check them. */
export const ConnStateSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1).max(64),
  domain: z.string().min(1).max(253),
  ipKey: z.string().max(64),
  phase: z.enum(["init", "sasl", "restart", "bind", "ready"]),
  local: z.string().max(64).optional(),
  resource: z.string().max(1023).optional(),
  seen: z.number().int().nonnegative().optional(),
  occ: z
    .object({
      nick: z.string().min(1),
      key: z.string().min(1),
      role: z.enum(["moderator", "participant", "none"]),
      affiliation: z.enum(["owner", "none"]),
      pres: z.string().max(MAX_PRESENCE_PAYLOAD),
      // attachments written before this field existed thaw as "joined at the epoch" (i.e. the longest present)
      joinedAt: z.number().int().nonnegative().default(0),
      resume: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    })
    .optional(),
});



/** Add a connection (rebuild after wake uses the same path). */
export function addConn(room: RoomState, c: ConnState): void {
  room.conns.set(c.id, c);
  if (c.occ) room.nicks.set(c.occ.key, c.id);
}

export function occupants(room: RoomState): ConnState[] {
  const out: ConnState[] = [];
  for (const id of room.nicks.values()) {
    const c = room.conns.get(id);
    if (c?.occ) out.push(c);
  }
  return out;
}

/** Bound sessions that have not joined: people on the room's hair check (its connectivity check keeps one open). */
export function waitingCount(room: RoomState): number {
  let n = 0;
  for (const c of room.conns.values()) if (c.phase === "ready" && !c.occ) n++;
  return n;
}

export const fullJid = (c: ConnState) => `${c.local}@${c.domain}/${c.resource}`;

const escapedJids = new WeakMap<ConnState, string>();
/** The connection's full JID escaped for an attribute, cached (hot path: every fan-out delivery needs it). */
export function fullJidAttr(c: ConnState): string {
  let s = escapedJids.get(c);
  if (s === undefined) {
    if (c.phase !== "ready") return escapeAttr(fullJid(c));
    escapedJids.set(c, (s = escapeAttr(fullJid(c))));
  }
  return s;
}
