/**
 * The bridge under a grantless flood, with real components: the real bridge process and mediasoup worker, a call of
 * two through it in headless Chromium (bridge-host/test-client/page.ts), and 60 raw sockets from another address
 * that upgrade to the room's WebSocket without a grant, ignore the close frame and keep writing 64,000-byte frames
 * for 20 s, reconnecting whenever dropped (helpers/bridge-flood.ts). The bridge must not buffer any of it: its RSS
 * stays within +50 MB, and the call keeps flowing. The same check against `npm start`: black-box-bridge.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintGrant } from "../../contract/grants";
import { startBrowserHarness, type BrowserHarness } from "./helpers/bridge-browser";
import { floodAndWatch, startFlood, startTwoPartyCall } from "./helpers/bridge-flood";
import { startBridge, waitFor, type BridgeHandle } from "./helpers/bridge-harness";

const MB = 1024 * 1024;

describe("bridge host: a grantless flood", () => {
  let bridge: BridgeHandle;
  let browser: BrowserHarness;

  beforeAll(async () => {
    [bridge, browser] = await Promise.all([startBridge(), startBrowserHarness()]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await bridge?.stop();
  });

  it("leaves the bridge's memory within +50 MB and the call flowing", { timeout: 240_000 }, async () => {
    const room = "flood-room";
    const { wsUrl } = (await (await bridge.call("POST", "/v1/rooms", { room })).json()) as { wsUrl: string };
    const call = await startTwoPartyCall(() => browser.newPage(), wsUrl, (nick) => mintGrant(bridge.secret, room, nick));
    const before = await waitFor("the call to flow", async () => {
      const r = await call.received();
      return r.video > 50 && r.audio > 50 ? r : undefined;
    }, 90_000, 500);

    const r = await floodAndWatch(bridge.process.pid!, () => startFlood({ wsUrl, sockets: 60, localAddress: "127.0.0.2" }), {
      ms: 20_000,
      abortAboveBytes: 100 * MB,
    });
    console.log(`flood: ${r.stats.connections} connections, ${Math.round(r.stats.bytesWritten / MB)} MB written; bridge RSS ${Math.round(r.baseline / MB)} -> peak ${Math.round(r.peak / MB)} MB`);
    expect(r.aborted).toBe(false);
    expect(r.peak - r.baseline).toBeLessThan(50 * MB);
    // The flood was real: the bridge took tens of MB of frames and dropped the sockets, which came back.
    expect(r.stats.bytesWritten).toBeGreaterThan(20 * MB);
    expect(r.stats.connections).toBeGreaterThan(60);
    // The call went on meanwhile (Opus alone sends 50 packets/s).
    const after = await call.received();
    expect(after.audio - before.audio).toBeGreaterThan(500);
    expect(after.video - before.video).toBeGreaterThan(500);
    // Beyond MAX_CONNECTIONS_PER_ADDRESS (50) the flood's sockets were dropped unread.
    const metrics = await (await fetch(`${bridge.controlUrl}/metrics`)).text();
    expect(Number(/^parley_bridge_connections_dropped_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  });
});
