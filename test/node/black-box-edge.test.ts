/**
 * SECURITY.md "Abuse limits" and the threat table, from outside against the real edge (`wrangler dev`), as an
 * attacker or an office would see it:
 *  - a WebSocket from a foreign browser origin is refused (403 with a reason), so no other site can drive its
 *    visitors' browsers into this deployment's signaling or TURN relay; a native client (no Origin), the edge's own
 *    pages and ALLOWED_ORIGINS still get in;
 *  - 60 colleagues behind one IPv4 address each open a hair-check session and a call session within a minute, in
 *    different rooms: all get in; a flood from one address is still cut off (429, Retry-After), and so is a flood
 *    from many addresses into one room (the room's own limit).
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIGNALING_LIMIT_PER_MINUTE } from "../../workers/middleware/signaling-limits";
import { RawXmppClient } from "./helpers/raw-xmpp";
import { startEdge, type EdgeHandle } from "./helpers/wrangler-dev";

const DOMAIN = "127.0.0.1";
const ALLOWED = "https://meet.example";

interface Handshake {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

/** Open a WebSocket (with `origin` if given) and report the handshake's HTTP status; closes it if it opened. */
function handshake(url: string, ip: string, origin?: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ["xmpp"], { headers: { "cf-connecting-ip": ip }, ...(origin ? { origin } : {}) });
    const timer = setTimeout(() => reject(new Error(`no handshake answer from ${url}`)), 30_000);
    ws.on("error", (e) => {
      clearTimeout(timer);
      resolve({ status: 0, retryAfter: undefined, body: String(e) });
    });
    ws.once("open", () => {
      clearTimeout(timer);
      ws.close();
      resolve({ status: 101, retryAfter: undefined, body: "" });
    });
    ws.once("unexpected-response", (_req, res) => {
      clearTimeout(timer);
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] as string | undefined, body }));
    });
  });
}

describe("black box: the edge against foreign origins, offices and floods (wrangler dev)", () => {
  let edge: EdgeHandle;
  beforeAll(async () => {
    edge = await startEdge({ vars: { ALLOWED_ORIGINS: ALLOWED } });
  }, 120_000);
  afterAll(async () => {
    await edge?.stop();
  });

  it("refuses a foreign browser origin with 403 and a reason, on signaling and on the API", async () => {
    const url = `${edge.wsUrl}/xmpp-websocket/bb-origin`;
    for (const origin of ["https://evil.example", "null", `http://localhost:${edge.port + 1}`]) {
      const r = await handshake(url, "192.0.2.1", origin);
      expect(r.status, origin).toBe(403);
      expect(JSON.parse(r.body)).toMatchObject({ error: "forbidden-origin", reason: expect.stringMatching(/not allowed|opaque/) });
    }
    const api = await fetch(`${edge.httpUrl}/api/bridges`, { headers: { origin: "https://evil.example" } });
    expect(api.status).toBe(403);
    expect(await api.json()).toMatchObject({ error: "forbidden-origin" });
  });

  it("accepts the edge's own origin and ALLOWED_ORIGINS", async () => {
    const url = `${edge.wsUrl}/xmpp-websocket/bb-origin`;
    expect((await handshake(url, "192.0.2.2", edge.httpUrl)).status).toBe(101);
    expect((await handshake(url, "192.0.2.2", ALLOWED)).status).toBe(101);
    const api = await fetch(`${edge.httpUrl}/api/bridges`, { headers: { origin: edge.httpUrl } });
    expect(api.status).toBe(200);
  });

  it("a native client (no Origin header) logs in and joins a room", async () => {
    const room = `bb-native-${randomUUID().slice(0, 6)}`;
    const c = await RawXmppClient.connect(`${edge.wsUrl}/xmpp-websocket/${room}`, "192.0.2.3");
    try {
      await c.login(DOMAIN);
      c.send(`<presence xmlns="jabber:client" to="${room}@conference.${DOMAIN}/native"><x xmlns="http://jabber.org/protocol/muc"/></presence>`);
      await c.waitFor('code="110"');
    } finally {
      c.close();
    }
  });

  it("60 colleagues behind one IPv4 address join different rooms within a minute: all get in", { timeout: 180_000 }, async () => {
    const office = "203.0.113.50";
    const started = Date.now();
    const colleague = async (i: number): Promise<void> => {
      const room = `bb-office-${i}-${randomUUID().slice(0, 6)}`;
      const url = `${edge.wsUrl}/xmpp-websocket/${room}`;
      // the hair check opens a session of its own...
      const hairCheck = await RawXmppClient.connect(url, office);
      await hairCheck.login(DOMAIN);
      // ...and the call another one, which joins
      const call = await RawXmppClient.connect(url, office);
      await call.login(DOMAIN);
      call.send(`<presence xmlns="jabber:client" to="${room}@conference.${DOMAIN}/colleague-${i}"><x xmlns="http://jabber.org/protocol/muc"/></presence>`);
      await call.waitFor('code="110"');
      hairCheck.close();
      call.close();
    };
    const results: PromiseSettledResult<void>[] = [];
    for (let i = 0; i < 60; i += 10) {
      results.push(...(await Promise.allSettled(Array.from({ length: 10 }, (_, k) => colleague(i + k)))));
    }
    const failed = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
    expect(failed).toEqual([]);
    console.log(`60 colleagues (120 sessions) from one address in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it("a flood of new connections from one address is still cut off with 429 and Retry-After", { timeout: 180_000 }, async () => {
    // The local Rate Limiting emulation counts in fixed minute windows: 2N + 2 attempts can straddle one boundary
    // but not fit in two windows, so at least two are refused whatever the alignment.
    const N = SIGNALING_LIMIT_PER_MINUTE;
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 2 * N + 2; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, 2 * N + 2 - i) }, () =>
          fetch(`${edge.httpUrl}/xmpp-websocket/bb-flood`, { headers: { "cf-connecting-ip": "198.51.100.99" } }),
        ),
      );
      for (const r of batch) {
        statuses.push(r.status);
        if (r.status === 429 && !refused) refused = r;
        else await r.arrayBuffer();
      }
    }
    const admitted = statuses.filter((s) => s === 426).length; // not an upgrade: admitted by the limit, then 426
    expect(admitted).toBeGreaterThanOrEqual(N);
    expect(admitted).toBeLessThanOrEqual(2 * N);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2);
    expect(refused!.headers.get("retry-after")).toBe("60");
    // refusals carry the security headers too (SECURITY.md "Browser hardening")
    expect(refused!.headers.get("content-security-policy")).toMatch(/^default-src 'none'/);
    expect(refused!.headers.get("strict-transport-security")).toBe("max-age=63072000; includeSubDomains");
    expect(await refused!.json()).toMatchObject({ error: "rate-limited", reason: expect.stringContaining("this network") });
    // rotating through one IPv6 /64 is the same network
    const v6 = await fetch(`${edge.httpUrl}/xmpp-websocket/bb-flood`, { headers: { "cf-connecting-ip": "2001:db8:99:1::1" } });
    await v6.arrayBuffer();
    expect(v6.status).toBe(426);
  });

  it("a flood from many addresses into one room meets the room's own limit", { timeout: 180_000 }, async () => {
    const url = `${edge.wsUrl}/xmpp-websocket/bb-room-flood`;
    const results: Handshake[] = [];
    for (let i = 0; i < 200; i += 25) {
      results.push(...(await Promise.all(Array.from({ length: 25 }, (_, k) => handshake(url, `10.${77 + ((i + k) >> 8)}.${(i + k) & 255}.9`)))));
    }
    const ok = results.filter((r) => r.status === 101).length;
    const limited = results.filter((r) => r.status === 429);
    expect(results.filter((r) => r.status !== 101 && r.status !== 429)).toEqual([]);
    expect(ok).toBeGreaterThanOrEqual(120);
    expect(limited.length).toBeGreaterThan(0);
    expect(JSON.parse(limited[0]!.body)).toMatchObject({ error: "rate-limited", reason: expect.stringContaining("this room") });
    expect(Number(limited[0]!.retryAfter)).toBeGreaterThanOrEqual(1);
  });
});
