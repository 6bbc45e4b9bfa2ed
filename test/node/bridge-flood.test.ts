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
import { floodDuringCall, startTwoPartyCall } from "./helpers/bridge-flood";
import { startBridge, type BridgeHandle } from "./helpers/bridge-harness";

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
    const { before, flood: r, after } = await floodDuringCall(bridge.process.pid!, wsUrl, call);
    expect(r.aborted).toBe(false);
    expect(r.peak - r.baseline).toBeLessThan(50 * MB);
    // The flood was real: the bridge took tens of MB of frames and dropped the sockets, which came back.
    expect(r.stats.bytesWritten).toBeGreaterThan(20 * MB);
    expect(r.stats.connections).toBeGreaterThan(60);
    // The call went on meanwhile (Opus alone sends 50 packets/s).
    expect(after.audio - before.audio).toBeGreaterThan(500);
    expect(after.video - before.video).toBeGreaterThan(500);
    // Beyond MAX_CONNECTIONS_PER_ADDRESS (50) the flood's sockets were dropped unread.
    const metrics = await (await fetch(`${bridge.controlUrl}/metrics`)).text();
    expect(Number(/^parley_bridge_connections_dropped_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  });
});
