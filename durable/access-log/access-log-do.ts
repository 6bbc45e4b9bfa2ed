/**
 * AccessLogDO: the singleton (`idFromName('access-log')`) SQLite-backed Durable Object holding the access log.
 * Thin shell over ./policy.ts: it stores what the Worker sends, answers reads filtered by the retention cutoff,
 * and an alarm deletes expired rows and re-arms itself for the next expiry (PRIVACY.md "Access log").
 *
 * Bounded against floods of page loads: repeats of one (address, User-Agent, kind) within COALESCE_MS add to one
 * row's count instead of adding rows, and at MAX_ROWS stored rows new ones are dropped (counted, not stored) until
 * the alarm has purged enough.
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../config";
import { AccessEntrySchema, COALESCE_MS, MAX_ROWS, cutoff, nextPurgeAt, type AccessEntry } from "./policy";

export const ACCESS_LOG_NAME = "access-log";
const SCHEMA_VERSION = 2;

export interface AccessLogPage {
  retentionDays: number;
  /** Rows at or after this time (ms) are returned; older ones are unreadable even before the alarm runs. */
  cutoff: number;
  /** `count`: requests of this kind from this address and User-Agent within COALESCE_MS from `at` */
  entries: (AccessEntry & { count: number })[];
  /** entries not stored because the log was full (MAX_ROWS), since it last had room */
  dropped: number;
}

export class AccessLogDO extends DurableObject<Env> {
  /** stored rows, counted once and then kept in step with inserts and purges (a write does not count the table) */
  private counted: number | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => this.migrate());
  }

  private get rows(): number {
    this.counted ??= this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM access_log").one().n;
    return this.counted;
  }
  private set rows(n: number) {
    this.counted = n;
  }

  private migrate(): void {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    const row = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema'").toArray()[0];
    if ((row?.value ?? 0) < 1) {
      sql.exec(
        `CREATE TABLE IF NOT EXISTS access_log (
           id INTEGER PRIMARY KEY AUTOINCREMENT,
           at INTEGER NOT NULL,
           kind TEXT NOT NULL CHECK (kind IN ('page', 'signaling')),
           ip TEXT NOT NULL,
           user_agent TEXT NOT NULL)`,
      );
      sql.exec("CREATE INDEX IF NOT EXISTS access_log_at ON access_log (at)");
    }
    if ((row?.value ?? 0) < 2) {
      // v2: repeats within COALESCE_MS share one row
      sql.exec("ALTER TABLE access_log ADD COLUMN count INTEGER NOT NULL DEFAULT 1");
      sql.exec("CREATE INDEX IF NOT EXISTS access_log_ip_at ON access_log (ip, at)");
    }
    sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", SCHEMA_VERSION);
  }

  private retentionDays(): number {
    return loadConfig(this.env).ACCESS_LOG_RETENTION_DAYS;
  }

  /** Store one entry (validated again here: the RPC boundary). Retention 0 stores nothing. */
  async record(entry: AccessEntry): Promise<void> {
    const e = AccessEntrySchema.parse(entry);
    const days = this.retentionDays();
    if (days === 0) return;
    const sql = this.ctx.storage.sql;
    const same = sql
      .exec<{ id: number }>(
        "SELECT id FROM access_log WHERE ip = ? AND at > ? AND at <= ? AND kind = ? AND user_agent = ? ORDER BY at DESC LIMIT 1",
        e.ip,
        e.at - COALESCE_MS,
        e.at,
        e.kind,
        e.userAgent,
      )
      .toArray()[0];
    if (same) {
      sql.exec("UPDATE access_log SET count = count + 1 WHERE id = ?", same.id);
      return;
    }
    if (this.rows >= MAX_ROWS) {
      sql.exec("INSERT INTO meta (key, value) VALUES ('dropped', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1");
      return;
    }
    sql.exec("INSERT INTO access_log (at, kind, ip, user_agent) VALUES (?, ?, ?, ?)", e.at, e.kind, e.ip, e.userAgent);
    this.rows++;
    // Re-arm only if no alarm is set or the set one is later than the oldest row's expiry (retention lowered).
    const now = Date.now();
    const due = nextPurgeAt(this.oldest(), now, days);
    const current = await this.ctx.storage.getAlarm();
    if (due !== null && (current === null || current > due)) await this.ctx.storage.setAlarm(due);
  }

  /** Newest first, at most `limit` rows, never anything older than the retention cutoff. */
  async list(limit = 1000): Promise<AccessLogPage> {
    const days = this.retentionDays();
    const cut = cutoff(Date.now(), days);
    const rows = this.ctx.storage.sql
      .exec<{ at: number; kind: string; ip: string; user_agent: string; count: number }>(
        "SELECT at, kind, ip, user_agent, count FROM access_log WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?",
        cut,
        Math.max(0, Math.min(10_000, Math.floor(limit))),
      )
      .toArray();
    return {
      retentionDays: days,
      cutoff: cut,
      entries: rows.map((r) => ({
        ...AccessEntrySchema.parse({ at: r.at, kind: r.kind, ip: r.ip, userAgent: r.user_agent }),
        count: r.count,
      })),
      dropped: this.dropped(),
    };
  }

  /** Total stored rows, expired or not (tests and the admin use this to see that the alarm really deleted them). */
  async storedCount(): Promise<number> {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM access_log").one().n;
  }

  /** Purge expired rows, then re-arm for the next expiry (or not at all when the log is empty). */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const days = this.retentionDays();
    const sql = this.ctx.storage.sql;
    this.rows -= sql.exec("DELETE FROM access_log WHERE at < ?", cutoff(now, days)).rowsWritten;
    if (this.rows < MAX_ROWS) sql.exec("DELETE FROM meta WHERE key = 'dropped'");
    await this.schedule(now, days);
  }

  private dropped(): number {
    return this.ctx.storage.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'dropped'").toArray()[0]?.value ?? 0;
  }

  private oldest(): number | null {
    return this.ctx.storage.sql.exec<{ at: number | null }>("SELECT MIN(at) AS at FROM access_log").one().at;
  }

  private async schedule(now: number, days: number): Promise<void> {
    const at = nextPurgeAt(this.oldest(), now, days);
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }
}
