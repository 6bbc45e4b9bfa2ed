import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bridgeControlKey, signRequest } from "../../contract/signed-request";
import worker from "../../workers/index";
import { DEV_SECRETS } from "../../contract/secrets";

const URL_ = "http://localhost/bridge-events";
const BRIDGE = "http://127.0.0.1:4444";
const body = JSON.stringify({ type: "draining", bridge: BRIDGE, rooms: ["a-room"] });

async function post(headers: Record<string, string>, b = body, bridges = BRIDGE): Promise<Response> {
  const ctx = createExecutionContext();
  const req = new Request(URL_, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: b });
  const r = await worker.fetch(req, { ...env, BRIDGES: bridges } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return r;
}

/** Signed as the bridge `bridge` would sign it (its own key), for `host`. */
async function signed(b = body, o: { bridge?: string; host?: string; nowMs?: number; key?: string } = {}) {
  const key = o.key ?? (await bridgeControlKey(DEV_SECRETS.BRIDGE_SECRET, o.bridge ?? BRIDGE));
  return signRequest(key, "POST", o.host ?? "localhost", "/bridge-events", b, o.nowMs);
}

describe("POST /bridge-events", () => {
  it("takes a notice signed with the bridge's own key for this host, once", async () => {
    const h = await signed();
    expect((await post(h)).status).toBe(202);
    const replay = await post(h);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ reason: "signature replayed" });
  });

  it("refuses unsigned notices, the shared secret itself, another bridge's key, another host's and stale signatures", async () => {
    expect((await post({})).status).toBe(401);
    for (const h of [
      await signed(body, { key: DEV_SECRETS.BRIDGE_SECRET }),
      await signed(body, { bridge: "http://127.0.0.1:5555" }), // a bridge speaking for another
      await signed(body, { host: "edge.example" }), // signed for another edge
    ]) {
      const r = await post(h, body, `${BRIDGE},http://127.0.0.1:5555`);
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ reason: "signature bad-signature" });
    }
    const stale = await signed(body, { nowMs: Date.now() - 120_000 });
    expect(await (await post(stale)).json()).toMatchObject({ reason: "signature stale" });
  });

  it("refuses a bridge that is not configured, and malformed events", async () => {
    const r = await post(await signed(), body, "http://127.0.0.1:4443");
    expect(r.status).toBe(403);
    const bad = JSON.stringify({ type: "draining", bridge: "http://x", rooms: ["Bad Room!"] });
    expect((await post(await signed(bad), bad)).status).toBe(400);
  });
});
