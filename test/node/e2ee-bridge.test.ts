/**
 * Encrypted media through the real bridge (mediasoup worker) and mediasoup-client in headless Chromium: Alice sends
 * her fake camera (VP8) and microphone (Opus) SFrame-encrypted (workers/web/src/e2ee/transform.ts, attached through
 * mediasoup-client's onRtpSender); the bridge forwards them without the key, reading only the clear codec bytes.
 *   - Bob, with the group's key, decrypts every frame and decodes the video;
 *   - Eve, admitted by the bridge with a valid grant but without the key, receives the packets and decodes no frame.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintGrant } from "../../durable/crypto/bridge-grant";
import { startBrowserHarness, type BrowserHarness } from "./helpers/bridge-browser";
import { startBridge, waitFor, type BridgeHandle } from "./helpers/bridge-harness";

type Inbound = { kind: string; packetsReceived?: number; framesDecoded?: number };
type StreamStats = { info: { side: string; kind: string }; passed: number; dropped: number; lastDrop?: string };
type Pages = {
  parley: { join(o: { wsUrl: string; grant: string; produce: boolean }): Promise<void>; inbound(): Promise<Inbound[]> };
  e2eeBridge: { install(keyByte: number, ownIndex: number, leafCount: number): void; stats(): Promise<StreamStats[]> };
};
const root = new URL("../..", import.meta.url).pathname;

describe("end-to-end encrypted media through the bridge", () => {
  let bridge: BridgeHandle;
  let browser: BrowserHarness;
  let hooksJs = "";
  let outDir = "";
  const room = "e2ee-room";
  let wsUrl = "";

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), "parley-e2ee-bridge-"));
    execFileSync(process.execPath, [join(root, "workers/scripts/build-web.mjs"), "--out", join(outDir, "web")], { stdio: "pipe" });
    const assets = join(outDir, "web/assets");
    const worker = readdirSync(assets).find((f) => /^e2ee-worker-.*\.js$/.test(f));
    if (!worker) throw new Error("the web build made no e2ee worker");
    const bundle = await build({
      entryPoints: [join(root, "test/node/helpers/e2ee-bridge-hooks.js")],
      bundle: true,
      format: "iife",
      platform: "browser",
      target: "chrome120",
      write: false,
      logLevel: "silent",
      define: { __E2EE_WORKER_SOURCE__: JSON.stringify(readFileSync(join(assets, worker), "utf8")) },
    });
    hooksJs = bundle.outputFiles[0]!.text;
    [bridge, browser] = await Promise.all([startBridge(), startBrowserHarness()]);
    const res = await bridge.call("POST", "/v1/rooms", { room });
    expect(res.status).toBe(200);
    wsUrl = ((await res.json()) as { wsUrl: string }).wsUrl;
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await bridge?.stop();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  const withKey = async (keyByte: number, ownIndex: number): Promise<Page> => {
    const page = await browser.newPage();
    await page.addScriptTag({ content: hooksJs });
    await page.evaluate(([k, i]) => (globalThis as unknown as Pages).e2eeBridge.install(k, i, 3), [keyByte, ownIndex] as const);
    return page;
  };
  const enter = (page: Page, name: string, produce: boolean) =>
    mintGrant(bridge.secret, room, name).then((grant) => page.evaluate((o) => (globalThis as unknown as Pages).parley.join(o), { wsUrl, grant, produce }));
  const video = (xs: Inbound[]) => xs.filter((x) => x.kind === "video").sort((a, b) => (b.packetsReceived ?? 0) - (a.packetsReceived ?? 0))[0];

  it("the key holder decodes Alice's encrypted video and audio; a bridge participant without the key decodes nothing", { timeout: 180_000 }, async () => {
    const alice = await withKey(5, 0);
    const bob = await withKey(5, 1);
    const eve = await browser.newPage();
    await enter(alice, "alice", true);
    await enter(bob, "bob", false);
    await enter(eve, "eve", false);

    const bobStats = await waitFor(
      "Bob to decode Alice's encrypted video",
      async () => {
        const v = video(await bob.evaluate(() => (globalThis as unknown as Pages).parley.inbound()));
        return (v?.framesDecoded ?? 0) > 30 ? v : undefined;
      },
      120_000,
    );
    const sent = await alice.evaluate(() => (globalThis as unknown as Pages).e2eeBridge.stats());
    const got = await bob.evaluate(() => (globalThis as unknown as Pages).e2eeBridge.stats());
    for (const kind of ["audio", "video"]) {
      const s = sent.find((x) => x.info.kind === kind)!;
      const r = got.find((x) => x.info.kind === kind)!;
      expect(s.passed, `${kind} frames Alice encrypted`).toBeGreaterThan(0);
      expect(s.dropped, `${kind} frames Alice dropped`).toBe(0);
      expect(r.passed, `${kind} frames Bob decrypted`).toBeGreaterThan(0);
      // Frames Bob could not decrypt would mean the bridge changed their bytes (the clear prefix is authenticated).
      expect(r.lastDrop, `${kind} frames Bob dropped`).toBeUndefined();
    }

    const eveStats = await waitFor(
      "Eve to receive the packets",
      async () => {
        const xs = await eve.evaluate(() => (globalThis as unknown as Pages).parley.inbound());
        const v = video(xs);
        const a = xs.find((x) => x.kind === "audio");
        return (v?.packetsReceived ?? 0) > 200 && (a?.packetsReceived ?? 0) > 200 ? v : undefined;
      },
      120_000,
    );
    expect(eveStats.framesDecoded ?? 0).toBe(0);
    console.log(`bridge: Bob decoded ${bobStats.framesDecoded} frames; Eve got ${eveStats.packetsReceived} video packets, decoded ${eveStats.framesDecoded}`);
  });
});
