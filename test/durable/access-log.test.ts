/**
 * PRIVACY.md "Access log": only time/IP/User-Agent/kind, for page loads and signaling connections; nothing
 * older than 7 days is readable, and the alarm deletes it; retention 0 writes nothing. Real workerd + SQLite DO,
 * the runtime clock driven by vitest fake time.
 */
import { createExecutionContext, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../workers/index";
import { ACCESS_LOG_NAME, AccessLogDO } from "../../durable/access-log/access-log-do";
import { DAY_MS, MAX_ROWS } from "../../durable/access-log/policy";
import { DEV_SECRETS } from "../../contract/secrets";

const HOUR_MS = 3600 * 1000;
const stub = () => env.ACCESS_LOG.get(env.ACCESS_LOG.idFromName(ACCESS_LOG_NAME));
const admin = { authorization: `Bearer ${DEV_SECRETS.ADMIN_TOKEN}` };

/** Send a request through the Worker's real fetch handler and wait for its waitUntil work (the log write). */
async function hit(path: string, headers: Record<string, string>, e: object = env): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`https://parley.test${path}`, { headers }), e as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}
const pageHeaders = (ip: string, ua = "Mozilla/5.0 (X11; Linux) TestBrowser/1.0") => ({
  "cf-connecting-ip": ip,
  "user-agent": ua,
  "sec-fetch-dest": "document",
  accept: "text/html",
  referer: "https://secret-referrer.example/room-secret",
  cookie: "session=secret-cookie",
});

interface LogBody {
  retentionDays: number;
  entries: { at: number; time: string; kind: string; ip: string; userAgent: string; count: number }[];
  dropped: number;
}
async function readLog(): Promise<LogBody> {
  const r = await exports.default.fetch(new Request("https://parley.test/admin/access-log", { headers: admin }));
  expect(r.status).toBe(200);
  return (await r.json()) as LogBody;
}
const stored = () => stub().storedCount();
const reset = () =>
  runInDurableObject(stub(), async (_i, state) => {
    state.storage.sql.exec("DELETE FROM access_log");
    await state.storage.deleteAlarm();
  });

afterEach(() => {
  vi.useRealTimers();
});

describe("access log", () => {
  it("records page loads and signaling connections with only time, IP, User-Agent and kind", async () => {
    await hit("/my-secret-room?pw=hunter2", pageHeaders("203.0.113.7"));
    await hit("/xmpp-websocket/my-secret-room", {
      "cf-connecting-ip": "2001:db8::1",
      "user-agent": "Signaling/2",
      upgrade: "websocket",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      "sec-websocket-protocol": "xmpp",
    });
    // not logged: static assets, API, health, non-document fetches
    await hit("/app.js", { "cf-connecting-ip": "198.51.100.1", "sec-fetch-dest": "script" });
    await hit("/healthz", { "cf-connecting-ip": "198.51.100.2", accept: "text/html" });
    await hit("/my-room", { "cf-connecting-ip": "198.51.100.3", "sec-fetch-dest": "empty" });

    const log = await readLog();
    expect(log.retentionDays).toBe(7);
    expect(log.entries.map((e) => [e.kind, e.ip, e.userAgent])).toEqual([
      ["signaling", "2001:db8::1", "Signaling/2"],
      ["page", "203.0.113.7", "Mozilla/5.0 (X11; Linux) TestBrowser/1.0"],
    ]);
    for (const e of log.entries) expect(Object.keys(e).sort()).toEqual(["at", "count", "ip", "kind", "time", "userAgent"]);
    // Nothing about the room, path, query, referrer or cookies anywhere in storage.
    const dump = await runInDurableObject(stub(), (_i, state) =>
      JSON.stringify(state.storage.sql.exec("SELECT * FROM access_log").toArray()),
    );
    for (const secret of ["my-secret-room", "hunter2", "secret-referrer", "secret-cookie", "xmpp-websocket"]) {
      expect(dump).not.toContain(secret);
    }
    const cols = await runInDurableObject(stub(), (_i, state) =>
      state.storage.sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('access_log')").toArray().map((r) => r.name),
    );
    expect(cols.sort()).toEqual(["at", "count", "id", "ip", "kind", "user_agent"]);
  });

  it("keeps entries for 6 days 23 hours and deletes them with the 7-day alarm", async () => {
    // A clock far in the future of the real one, so the real alarm can never fire by itself during the test.
    const t0 = Date.now() + 400 * DAY_MS;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(t0);
    await reset();
    await hit("/", pageHeaders("192.0.2.10"));
    vi.setSystemTime(t0 + HOUR_MS);
    await hit("/", pageHeaders("192.0.2.11"));

    expect(await runInDurableObject(stub(), (_i, s) => s.storage.getAlarm())).toBe(t0 + 7 * DAY_MS);

    vi.setSystemTime(t0 + 6 * DAY_MS + 23 * HOUR_MS);
    expect((await readLog()).entries.map((e) => e.ip)).toEqual(["192.0.2.11", "192.0.2.10"]);
    // An early alarm run deletes nothing that is still within retention.
    await runDurableObjectAlarm(stub());
    expect(await stored()).toBe(2);
    expect((await readLog()).entries).toHaveLength(2);

    // Just past 7 days for the first entry: unreadable at once, even before the alarm...
    vi.setSystemTime(t0 + 7 * DAY_MS + 1);
    expect((await readLog()).entries.map((e) => e.ip)).toEqual(["192.0.2.11"]);
    // ...and the alarm deletes it from storage and re-arms for the next expiry.
    expect(await runDurableObjectAlarm(stub())).toBe(true);
    expect(await stored()).toBe(1);
    expect(await runInDurableObject(stub(), (_i, s) => s.storage.getAlarm())).toBe(t0 + HOUR_MS + 7 * DAY_MS);

    vi.setSystemTime(t0 + 7 * DAY_MS + HOUR_MS + 1);
    expect((await readLog()).entries).toEqual([]);
    expect(await runDurableObjectAlarm(stub())).toBe(true);
    expect(await stored()).toBe(0);
    // Empty log: no alarm left armed.
    expect(await runInDurableObject(stub(), (_i, s) => s.storage.getAlarm())).toBeNull();
  });

  it("bounds a flood of page loads: repeats within a minute are one row with a count", { timeout: 120_000 }, async () => {
    await reset();
    const t0 = Date.now() + 500 * DAY_MS;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(t0);
    for (let i = 0; i < 200; i++) await hit("/", pageHeaders("192.0.2.30"));
    await hit("/", pageHeaders("192.0.2.30", "Other/1"));
    vi.setSystemTime(t0 + 61_000);
    await hit("/", pageHeaders("192.0.2.30"));
    expect(await stored()).toBe(3);
    const log = await readLog();
    expect(log.entries.map((e) => [e.userAgent.slice(0, 5), e.count])).toEqual([
      ["Mozil", 1],
      ["Other", 1],
      ["Mozil", 200],
    ]);
    expect(log.dropped).toBe(0);
  });

  it(`stores at most ${MAX_ROWS} rows: a full log drops (and counts) new entries until the alarm purges`, { timeout: 60_000 }, async () => {
    await reset();
    const now = Date.now();
    await runInDurableObject(stub(), async (_i, state) => {
      state.storage.sql.exec(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT ?) INSERT INTO access_log (at, kind, ip, user_agent) SELECT ?, 'page', 'f' || x, '' FROM n",
        MAX_ROWS,
        now - 8 * DAY_MS,
      );
      const log = new AccessLogDO(state, env); // as the object after a wake: counts its rows once
      await log.record({ at: now, kind: "page", ip: "192.0.2.40", userAgent: "Flood/1" });
      await log.record({ at: now, kind: "page", ip: "192.0.2.41", userAgent: "Flood/1" });
      expect(await log.storedCount()).toBe(MAX_ROWS);
      expect((await log.list(1)).dropped).toBe(2);
      // the purge makes room again, and the drop counter is cleared
      await log.alarm();
      expect(await log.storedCount()).toBe(0);
      await log.record({ at: now, kind: "page", ip: "192.0.2.42", userAgent: "Flood/1" });
      const page = await log.list();
      expect(page.entries.map((e) => e.ip)).toEqual(["192.0.2.42"]);
      expect(page.dropped).toBe(0);
    });
  });

  it("writes nothing when retention is 0", async () => {
    await reset();
    const off = { ...env, ACCESS_LOG_RETENTION_DAYS: "0" };
    expect((await hit("/", pageHeaders("192.0.2.20"), off)).status).toBe(200);
    await hit("/xmpp-websocket/room", { "cf-connecting-ip": "192.0.2.21", upgrade: "websocket" }, off);
    expect(await stored()).toBe(0);
    // Control: the same request with the default retention is recorded.
    await hit("/", pageHeaders("192.0.2.22"));
    expect(await stored()).toBe(1);
  });

  it("refuses the admin listing without the admin token (401)", async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: "Bearer wrong-token" }, { authorization: `Basic ${btoa("a:b")}` }];
    for (const headers of attempts) {
      const r = await exports.default.fetch(new Request("https://parley.test/admin/access-log", { headers }));
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(await r.text()).not.toContain("192.0.2");
    }
  });

  it("rejects a bad limit with a 400 and a reason", async () => {
    const r = await exports.default.fetch(
      new Request("https://parley.test/admin/access-log?limit=lots", { headers: admin }),
    );
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ error: "bad-request" });
  });
});
