/**
 * A receiver keeps decoding when the bridge switches it to another simulcast layer, with every frame end-to-end
 * encrypted: Alice sends her camera (1280x720) in the web app's simulcast layers (workers/web/src/call/simulcast.ts),
 * SFrame-encrypted by the web app's frame worker; Bob, with the group's key, tells the bridge how large he shows her
 * (`setConsumerSize`), large, then as a thumbnail, then large again. After each switch Bob's video must have the new
 * layer's size and go on decoding. Real mediasoup worker, mediasoup-client in headless Chromium, no edge.
 */
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mintGrant } from "../../contract/grants";
import { startBrowserHarness, type BrowserHarness } from "./helpers/bridge-browser";
import { startBridge, waitFor, type BridgeHandle } from "./helpers/bridge-harness";
import { buildE2eeWorker, bundleTestScript, type BuiltWorker } from "./helpers/e2ee-build";

type VideoIn = { frameWidth: number; frameHeight: number; framesDecoded: number; keyFramesDecoded: number; pliCount: number };
type StreamStats = { info: { side: string; kind: string }; passed: number; dropped: number; lastDrop?: string };
type Api = {
  parley: {
    videoIn(): Promise<VideoIn | undefined>;
    setVideoSize(width: number, height: number): Promise<void>;
    videoConsumerStats(): Promise<unknown>;
    errors(): string[];
  };
  e2eeBridge: { install(keyByte: number, ownIndex: number, leafCount: number): void; stats(): Promise<StreamStats[]> };
};
const api = <T>(page: Page, fn: (a: Api) => T | Promise<T>): Promise<T> =>
  page.evaluate(`(${fn.toString()})(globalThis)`) as Promise<T>;

describe("simulcast layer switches through the bridge, end-to-end encrypted", () => {
  let bridge: BridgeHandle;
  let browser: BrowserHarness;
  let hooksJs = "";
  let worker: BuiltWorker | undefined;
  const pages: Page[] = [];
  const trail: string[] = [];

  beforeAll(async () => {
    worker = buildE2eeWorker();
    hooksJs = await bundleTestScript("test/node/helpers/e2ee-bridge-hooks.js", "iife", { __E2EE_WORKER_SOURCE__: JSON.stringify(worker.source) });
    // debug: the bridge logs key frames, key frame requests and layer changes of video (printed when the test fails)
    [bridge, browser] = await Promise.all([startBridge({ env: { LOG_LEVEL: "debug" } }), startBrowserHarness()]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await bridge?.stop();
    worker?.cleanup();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      console.error(`trail:\n${trail.join("\n")}`);
      for (const p of pages) {
        console.error(`e2ee ${JSON.stringify(await api(p, (g) => g.e2eeBridge.stats()).catch(String))}`);
        console.error(`errors ${JSON.stringify(await api(p, (g) => g.parley.errors()).catch(String))}`);
      }
      console.error(`bridge output (tail):\n${bridge.output().slice(-20000)}`);
    }
    await Promise.all(pages.splice(0).map((p) => p.close()));
  });

  it("Bob decodes Alice's new layer after each switch (large, thumbnail, large)", { timeout: 240_000 }, async () => {
    const res = await bridge.call("POST", "/v1/rooms", { room: "simulcast-switch" });
    expect(res.status).toBe(200);
    const { wsUrl } = (await res.json()) as { wsUrl: string };
    const enter = async (name: string, ownIndex: number, produce: boolean) => {
      const page = await browser.newPage();
      pages.push(page);
      await page.addScriptTag({ content: hooksJs });
      await page.evaluate(`globalThis.e2eeBridge.install(7, ${ownIndex}, 2)`);
      const grant = await mintGrant(bridge.secret, "simulcast-switch", name);
      // The web app's layers of a 720p camera (e2ee-bridge-hooks.js bundles simulcast.ts into the page).
      const encodings = produce ? "globalThis.e2eeBridge.simulcastEncodings(720)" : "undefined";
      await page.evaluate(`globalThis.parley.join({ ...${JSON.stringify({ wsUrl, grant, produce })}, encodings: ${encodings} })`);
      return page;
    };
    const alice = await enter("alice", 0, true);
    const bob = await enter("bob", 1, false);
    const videoIn = () => api(bob, (g) => g.parley.videoIn());

    /** Show Alice at `width`x`height` on Bob's page; wait for her video at Bob to be `ok` in size, then 30 more frames. */
    const show = async (width: number, height: number, ok: (v: VideoIn) => boolean, what: string) => {
      await bob.evaluate(`globalThis.parley.setVideoSize(${width}, ${height})`);
      const t0 = Date.now();
      const v = await waitFor(`Bob to receive ${what}`, async () => {
        const s = await videoIn();
        return s && s.framesDecoded > 0 && ok(s) ? s : undefined;
      }, 60_000);
      trail.push(`${what}: ${v.frameWidth}x${v.frameHeight} after ${Date.now() - t0} ms (${JSON.stringify(v)})`);
      const more = await waitFor(`Bob to keep decoding ${what}`, async () => {
        const s = await videoIn();
        trail.push(`  ${JSON.stringify(s)} consumer layers ${JSON.stringify(await currentLayers())}`);
        return s && s.framesDecoded >= v.framesDecoded + 30 && ok(s) ? s : undefined;
      }, 20_000, 1000);
      trail.push(`${what}: decoding (${JSON.stringify(more)})`);
    };
    const currentLayers = async () => {
      const st = (await api(bob, (g) => g.parley.videoConsumerStats())) as Array<Record<string, unknown>> | undefined;
      const out = st?.find((s) => s.type === "outbound-rtp");
      return out && { ssrc: out.ssrc, packets: out.packetCount, score: out.score };
    };

    await waitFor("Bob to decode Alice's video", async () => ((await videoIn())?.framesDecoded ?? 0) > 0, 60_000);
    await show(1280, 720, (s) => s.frameWidth >= 640, "a higher layer for a large tile");
    await show(160, 90, (s) => s.frameWidth <= 320 && s.frameHeight <= 180, "the lowest layer for a thumbnail");
    await show(1280, 720, (s) => s.frameWidth >= 640, "a higher layer again");
    const sent = (await api(alice, (g) => g.e2eeBridge.stats())).find((s) => s.info.kind === "video");
    expect(sent?.dropped).toBe(0);
  });
});
