/**
 * The room's SQLite storage (Durable Object SQLite API): own schema-version table, migrations run inside
 * `blockConcurrencyWhile` by room-do.ts. Holds what must outlive a hibernation while the room is in use: room meta
 * (created time, password hash, media mode), the password back-off records, a random salt for hashing client
 * networks, and the MLS Delivery Service's public state (group id, epoch, GroupInfo, member identities, KeyPackages). Nothing is created before the first session is accepted, and room-do.ts deletes it all (`deleteAll`)
 * when the last session ends (PRIVACY.md "Rooms").
 */
import { z } from "zod";
import type { MediaMode, PwFailure, RoomMeta } from "./core/state";
import { emptyMeta } from "./core/state";

const MIGRATIONS: readonly string[] = [
  // v1
  `CREATE TABLE room (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     name TEXT,
     created_at INTEGER,
     pw_hash TEXT,
     pw_salt TEXT,
     media_mode TEXT NOT NULL DEFAULT 'p2p',
     bridge_url TEXT,
     ip_salt TEXT NOT NULL
   );
   CREATE TABLE pw_failures (
     ip_key TEXT PRIMARY KEY,
     failures INTEGER NOT NULL,
     blocked_until INTEGER NOT NULL,
     last_at INTEGER NOT NULL
   );`,
  // v2: the bridge host serving the room (media-coordinator)
  `ALTER TABLE room ADD COLUMN bridge_base TEXT;`,
  // v3: the MLS Delivery Service's public state (durable/features/mls-room.ts snapshot), null when it holds none
  `ALTER TABLE room ADD COLUMN mls TEXT;`,
];

const RoomRow = z.object({
  name: z.string().nullable(),
  created_at: z.number().nullable(),
  pw_hash: z.string().nullable(),
  pw_salt: z.string().nullable(),
  media_mode: z.enum(["p2p", "bridge"]).catch("p2p" as MediaMode),
  bridge_url: z.string().nullable(),
  bridge_base: z.string().nullable(),
  ip_salt: z.string(),
});

export class RoomStore {
  constructor(private readonly sql: SqlStorage) {}

  /** Whether this object has any storage yet (the schema is created with the first accepted session). */
  exists(): boolean {
    return this.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").toArray().length > 0;
  }

  /** Create/upgrade the schema. Call inside blockConcurrencyWhile. */
  migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = this.sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
    let version = row?.version ?? 0;
    if (!row) this.sql.exec("INSERT INTO schema_version (version) VALUES (0)");
    while (version < MIGRATIONS.length) {
      this.sql.exec(MIGRATIONS[version]!);
      version++;
      this.sql.exec("UPDATE schema_version SET version = ?", version);
    }
    const salt = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
    this.sql.exec("INSERT OR IGNORE INTO room (id, ip_salt) VALUES (1, ?)", salt);
  }

  load(): { name: string | null; meta: RoomMeta; ipSalt: string } {
    const r = RoomRow.parse(this.sql.exec("SELECT * FROM room WHERE id = 1").one());
    const meta = emptyMeta();
    meta.createdAt = r.created_at;
    meta.pwHash = r.pw_hash;
    meta.pwSalt = r.pw_salt;
    meta.mediaMode = r.media_mode;
    meta.bridgeUrl = r.bridge_url;
    meta.bridgeBase = r.bridge_base;
    return { name: r.name, meta, ipSalt: r.ip_salt };
  }

  /** The MLS Delivery Service snapshot (features/mls-room.ts), checked by its reader. */
  loadMls(): string | null {
    const r = this.sql.exec<{ mls: string | null }>("SELECT mls FROM room WHERE id = 1").toArray()[0];
    return typeof r?.mls === "string" ? r.mls : null;
  }

  saveMls(snapshot: string | null): void {
    this.sql.exec("UPDATE room SET mls = ? WHERE id = 1", snapshot);
  }

  saveName(name: string): void {
    this.sql.exec("UPDATE room SET name = ? WHERE id = 1", name);
  }

  saveMeta(m: RoomMeta): void {
    this.sql.exec(
      "UPDATE room SET created_at = ?, pw_hash = ?, pw_salt = ?, media_mode = ?, bridge_url = ?, bridge_base = ? WHERE id = 1",
      m.createdAt,
      m.pwHash,
      m.pwSalt,
      m.mediaMode,
      m.bridgeUrl,
      m.bridgeBase,
    );
  }

  loadFailures(): Map<string, PwFailure> {
    const out = new Map<string, PwFailure>();
    for (const r of this.sql.exec<{ ip_key: string; failures: number; blocked_until: number; last_at: number }>(
      "SELECT * FROM pw_failures",
    )) {
      out.set(r.ip_key, { failures: r.failures, blockedUntil: r.blocked_until, lastAt: r.last_at });
    }
    return out;
  }

  saveFailure(ipKey: string, f: PwFailure | undefined): void {
    if (!f) this.sql.exec("DELETE FROM pw_failures WHERE ip_key = ?", ipKey);
    else
      this.sql.exec(
        "INSERT OR REPLACE INTO pw_failures (ip_key, failures, blocked_until, last_at) VALUES (?, ?, ?, ?)",
        ipKey,
        f.failures,
        f.blockedUntil,
        f.lastAt,
      );
  }
}
