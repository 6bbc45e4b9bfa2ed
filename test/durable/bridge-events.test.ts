import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signRequest } from "../../contract/signed-request";
import { DEV_SECRETS } from "../../contract/secrets";

const URL_ = "http://localhost/bridge-events";
const body = JSON.stringify({ type: "draining", bridge: "http://127.0.0.1:4443", rooms: ["a-room"] });

async function post(headers: Record<string, string>, b = body): Promise<Response> {
  return exports.default.fetch(new Request(URL_, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: b }));
}

describe("POST /bridge-events", () => {
  it("refuses unsigned, wrongly signed and replayed notices", async () => {
    expect((await post({})).status).toBe(401);
    const wrong = await signRequest("x".repeat(40), "POST", "/bridge-events", body);
    const r = await post(wrong);
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ reason: "signature bad-signature" });
    const stale = await signRequest(DEV_SECRETS.BRIDGE_SECRET, "POST", "/bridge-events", body, Date.now() - 120_000);
    expect(await (await post(stale)).json()).toMatchObject({ reason: "signature stale" });
  });

  it("refuses a bridge that is not configured, and malformed events", async () => {
    const h = await signRequest(DEV_SECRETS.BRIDGE_SECRET, "POST", "/bridge-events", body);
    const r = await post(h);
    expect(r.status).toBe(403);
    expect((await post(h)).status).toBe(401); // same nonce again: replay
    const bad = JSON.stringify({ type: "draining", bridge: "http://x", rooms: ["Bad Room!"] });
    const r2 = await post(await signRequest(DEV_SECRETS.BRIDGE_SECRET, "POST", "/bridge-events", bad), bad);
    expect(r2.status).toBe(400);
  });
});
