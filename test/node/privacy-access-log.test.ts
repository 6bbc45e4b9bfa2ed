/**
 * PRIVACY.md "Access log" and SECURITY.md "Abuse limits", end to end against the real edge (`wrangler dev`):
 * page loads and signaling connections show up in the admin access log with only time, IP, User-Agent and kind
 * (no room name, path or query); the admin route needs the token. (The signaling connection limit is checked
 * in black-box-edge.test.ts.)
 */
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdge, type EdgeHandle } from "./helpers/wrangler-dev";

const ADMIN = "privacy-test-admin-token-0123456789-abcdefXYZ";

/** Try a WebSocket to `url` and report the HTTP status of the handshake (101 when it opened). */
function wsStatus(url: string, headers: Record<string, string>): Promise<{ status: number; retryAfter?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ["xmpp"], { headers });
    const timer = setTimeout(() => reject(new Error(`no handshake answer from ${url}`)), 20_000);
    ws.once("open", () => {
      clearTimeout(timer);
      ws.close();
      resolve({ status: 101, body: "" });
    });
    ws.once("unexpected-response", (_req, res) => {
      clearTimeout(timer);
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] as string | undefined, body }));
      res.on("error", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once("error", (e) => {
      // an unexpected-response also emits error after we resolved; only a transport failure matters
      if (!ws.listenerCount("unexpected-response")) return;
      clearTimeout(timer);
      reject(e);
    });
  });
}

describe("access log against wrangler dev", () => {
  let edge: EdgeHandle;
  beforeAll(async () => {
    edge = await startEdge({ vars: { ADMIN_TOKEN: ADMIN } });
  });
  afterAll(async () => {
    await edge?.stop();
  });

  it("logs page loads and signaling connections with only time, IP, User-Agent and kind", async () => {
    const ua = "PrivacyTest/1.0 (page)";
    for (const path of ["/", "/very-secret-room-name?x=hidden-query"]) {
      const r = await fetch(`${edge.httpUrl}${path}`, { headers: { "user-agent": ua, "sec-fetch-dest": "document", accept: "text/html" } });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    await wsStatus(`${edge.wsUrl}/xmpp-websocket/very-secret-room-name`, { "user-agent": "PrivacyTest/1.0 (signaling)" });

    // The write happens after the response (waitUntil): poll until it shows up.
    let body: { entries: { kind: string; ip: string; userAgent: string; time: string; count: number }[] } = { entries: [] };
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const r = await fetch(`${edge.httpUrl}/admin/access-log`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(r.status).toBe(200);
      const text = await r.text();
      expect(text).not.toContain("very-secret-room-name");
      expect(text).not.toContain("hidden-query");
      body = JSON.parse(text) as typeof body;
      if (body.entries.reduce((n, e) => n + e.count, 0) >= 3) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    // the two page loads within a minute from one address and User-Agent are one row with count 2
    const seen = body.entries.map((e) => `${e.kind} ${e.ip} ${e.userAgent} x${e.count}`).sort();
    expect(seen).toEqual(["page 127.0.0.1 PrivacyTest/1.0 (page) x2", "signaling 127.0.0.1 PrivacyTest/1.0 (signaling) x1"]);
    for (const e of body.entries) {
      expect(Object.keys(e).sort()).toEqual(["at", "count", "ip", "kind", "time", "userAgent"]);
      expect(Math.abs(Date.parse(e.time) - Date.now())).toBeLessThan(120_000);
    }
  });

  it("refuses the admin log without the token", async () => {
    const r = await fetch(`${edge.httpUrl}/admin/access-log`);
    expect(r.status).toBe(401);
    const r2 = await fetch(`${edge.httpUrl}/admin/access-log`, { headers: { authorization: "Bearer dev-admin-token-not-for-production-000000" } });
    expect(r2.status).toBe(401);
  });
});
