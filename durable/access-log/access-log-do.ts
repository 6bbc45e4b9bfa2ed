/**
 * AccessLogDO: the singleton (`idFromName('access-log')`) SQLite-backed Durable Object holding the access log.
 * Thin shell over ./policy.ts: it stores what the Worker sends, answers reads filtered by the retention cutoff,
 * and an alarm deletes expired rows and re-arms itself for the next expiry (PRIVACY.md "Access log").
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../config";
import { AccessEntrySchema, cutoff, nextPurgeAt, type AccessEntry } from "./policy";

export const ACCESS_LOG_NAME = "access-log";
const SCHEMA_VERSION = 1;

export interface AccessLogPage {
  retentionDays: number;
  /** Rows at or after this time (ms) are returned; older ones are unreadable even before the alarm runs. */
  cutoff: number;
  entries: AccessEntry[];
}

export class AccessLogDO extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => this.migrate());
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
    this.ctx.storage.sql.exec(
      "INSERT INTO access_log (at, kind, ip, user_agent) VALUES (?, ?, ?, ?)",
      e.at,
      e.kind,
      e.ip,
      e.userAgent,
    );
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
      .exec<{ at: number; kind: string; ip: string; user_agent: string }>(
        "SELECT at, kind, ip, user_agent FROM access_log WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?",
        cut,
        Math.max(0, Math.min(10_000, Math.floor(limit))),
      )
      .toArray();
    return {
      retentionDays: days,
      cutoff: cut,
      entries: rows.map((r) => AccessEntrySchema.parse({ at: r.at, kind: r.kind, ip: r.ip, userAgent: r.user_agent })),
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
    this.ctx.storage.sql.exec("DELETE FROM access_log WHERE at < ?", cutoff(now, days));
    await this.schedule(now, days);
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
