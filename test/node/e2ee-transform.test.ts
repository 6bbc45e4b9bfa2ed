/**
 * Media encryption in real headless Chromium: workers/web/src/e2ee/transform.ts and the worker the web build
 * bundles (build-web.mjs, e2ee-worker.ts), on both frame paths (RTCRtpScriptTransform and createEncodedStreams).
 * Two RTCPeerConnections in one page (loopback) send the fake camera (VP8) and microphone (Opus):
 *   - sender and receiver with the same key: video frames decode into the camera's picture, audio decodes;
 *   - a receiver without decryption: it gets the packets but decodes no picture;
 *   - a receiver with the wrong key: nothing gets through its transform, nothing decodes;
 *   - keys arriving late: the sender sends nothing before its key; the receiver drops frames until its key, then
 *     asks for a key frame and decodes;
 *   - keys a moment late (a membership change): frames wait for them, none is dropped, no key frame is asked for;
 *   - the per-frame overhead (SFrame header + 16-byte tag) seen in the audio packets' sizes.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, launchBrowser } from "./helpers/browser";
import { buildE2eeWorker, bundleTestScript, type BuiltWorker } from "./helpers/e2ee-build";

type Path = "script-transform" | "encoded-streams";
type Side = { keyByte?: number } | null;
interface StreamStats {
  info: { side: string; kind: string };
  passed: number;
  dropped: number;
  bytesIn: number;
  bytesOut: number;
  lastDrop?: string;
}
interface Rtp {
  packetsReceived?: number;
  packetsSent?: number;
  bytesSent?: number;
  headerBytesSent?: number;
  framesDecoded?: number;
  framesReceived?: number;
  framesEncoded?: number;
  keyFramesDecoded?: number;
  pliCount?: number;
  totalSamplesReceived?: number;
  concealedSamples?: number;
  totalAudioEnergy?: number;
}
interface State {
  rendered: number;
  audioPeak: number;
  picture: { width: number; height: number; mean: number; stddev: number };
  inbound: { video: Rtp; audio: Rtp };
  outbound: { video: Rtp; audio: Rtp };
  send: StreamStats[];
  recv: StreamStats[];
  keyFrameEvents: { kind: string; participant?: string; requested: boolean; at: number }[];
  connection: string;
}

describe("media encryption transform in real Chromium", () => {
  let browser: Browser;
  let server: Server;
  let page: Page;
  let worker: BuiltWorker;

  beforeAll(async () => {
    worker = buildE2eeWorker();
    const js = await bundleTestScript("test/node/helpers/e2ee-loopback-page.js", "esm");
    const html = `<!doctype html><html data-worker="/assets/${worker.name}"><meta charset="utf-8"><title>e2ee</title><script type="module" src="/page.js"></script></html>`;
    server = createServer((req, res) => {
      const url = req.url ?? "/";
      if (url === "/") res.writeHead(200, { "content-type": "text/html" }).end(html);
      else if (url === "/page.js") res.writeHead(200, { "content-type": "text/javascript" }).end(js);
      else if (url === `/assets/${worker.name}`) res.writeHead(200, { "content-type": "text/javascript" }).end(worker.source);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    browser = await launchBrowser();
    const context = await browser.newContext();
    page = await context.newPage();
    page.on("pageerror", (e) => console.error(`[pageerror] ${e.message}`));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => "e2ee" in globalThis, undefined, { timeout: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    worker?.cleanup();
  });

  type Api = {
    support(prefer?: Path): unknown;
    olderEpoch(): string | undefined;
    loopback(o: { path: Path; send: Side; recv: Side }): Promise<number>;
    state(id: number): Promise<State>;
    setKey(id: number, side: "send" | "recv", byte: number): void;
    close(id: number): void;
  };
  const open = (path: Path, send: Side, recv: Side): Promise<number> =>
    page.evaluate(({ path, send, recv }) => (globalThis as unknown as { e2ee: Api }).e2ee.loopback({ path, send, recv }), { path, send, recv });
  const state = (id: number): Promise<State> => page.evaluate((id) => (globalThis as unknown as { e2ee: Api }).e2ee.state(id), id);
  const setKey = (id: number, side: "send" | "recv", byte: number) =>
    page.evaluate(([id, side, byte]) => (globalThis as unknown as { e2ee: Api }).e2ee.setKey(id, side, byte), [id, side, byte] as const);
  const close = (id: number) => page.evaluate((id) => (globalThis as unknown as { e2ee: Api }).e2ee.close(id), id);
  const stream = (list: StreamStats[], kind: string) => list.find((x) => x.info.kind === kind)!;
  /** the camera's picture, not a flat (black, grey) one: the fake camera's luma varies by ~15-20 */
  const PICTURE_STDDEV = 5;

  it("finds both frame paths in this Chromium", async () => {
    expect(await page.evaluate(() => (globalThis as unknown as { e2ee: Api }).e2ee.support())).toEqual({ ok: true, path: "script-transform" });
    expect(await page.evaluate(() => (globalThis as unknown as { e2ee: Api }).e2ee.support("encoded-streams"))).toEqual({
      ok: true,
      path: "encoded-streams",
    });
  });

  it("refuses an epoch older than the one installed, where the caller sees it", async () => {
    expect(await page.evaluate(() => (globalThis as unknown as { e2ee: Api }).e2ee.olderEpoch())).toBe("RangeError: epoch 1 is not after 2");
  });

  for (const path of ["script-transform", "encoded-streams"] as const) {
    describe(path, () => {
      it("same key on both sides: the camera's picture and the microphone decode; per-frame overhead", { timeout: 120_000 }, async () => {
        const id = await open(path, { keyByte: 7 }, { keyByte: 7 });
        const clear = await open(path, null, null);
        try {
          const s = await eventually(
            async () => {
              const s = await state(id);
              const ok =
                (s.inbound.video.framesDecoded ?? 0) > 30 &&
                s.rendered > 10 &&
                s.picture.stddev > PICTURE_STDDEV &&
                (s.inbound.audio.totalSamplesReceived ?? 0) > 48_000 &&
                s.audioPeak > 0.01;
              return ok ? s : undefined;
            },
            "decoded video and audio",
            90_000,
          );
          expect(s.inbound.video.keyFramesDecoded).toBeGreaterThan(0);
          expect(s.picture.width).toBe(640);
          expect(s.inbound.audio.concealedSamples! / s.inbound.audio.totalSamplesReceived!).toBeLessThan(0.2);
          for (const kind of ["audio", "video"]) {
            const sent = stream(s.send, kind);
            const got = stream(s.recv, kind);
            expect(sent.dropped, `${kind} sender drops`).toBe(0);
            // RFC 9605 §4.3/§4.5: header (1 byte + KID and CTR bytes) and the 16-byte tag
            const perFrame = (sent.bytesOut - sent.bytesIn) / sent.passed;
            expect(perFrame, `${kind} overhead per frame`).toBeGreaterThanOrEqual(17);
            expect(perFrame, `${kind} overhead per frame`).toBeLessThanOrEqual(20);
            expect(got.passed, `${kind} frames decrypted`).toBeGreaterThan(0);
            expect(got.bytesIn - got.bytesOut).toBeGreaterThanOrEqual(17 * got.passed);
          }
          // The same overhead seen on the wire: Opus packets of the encrypted pair against the clear pair's, both
          // sending the microphone at constant bitrate at the same time (one frame per packet).
          await eventually(async () => ((await state(clear)).outbound.audio.packetsSent ?? 0) > 200, "clear audio packets", 30_000);
          const enc = (await state(id)).outbound.audio;
          const plain = (await state(clear)).outbound.audio;
          const perPacket = (r: Rtp) => (r.bytesSent ?? 0) / (r.packetsSent ?? 1);
          const diff = perPacket(enc) - perPacket(plain);
          console.log(`${path}: Opus payload bytes per packet, encrypted ${perPacket(enc).toFixed(1)}, clear ${perPacket(plain).toFixed(1)}`);
          expect(diff).toBeGreaterThanOrEqual(17);
          expect(diff).toBeLessThanOrEqual(20);
        } finally {
          await close(id);
          await close(clear);
        }
      });

      it("receiver without decryption, and with the wrong key: no picture", { timeout: 120_000 }, async () => {
        const none = await open(path, { keyByte: 7 }, null);
        const wrong = await open(path, { keyByte: 7 }, { keyByte: 9 });
        try {
          const packets = async (id: number) => {
            const s = await state(id);
            return (s.inbound.video.packetsReceived ?? 0) > 300 && (s.inbound.audio.packetsReceived ?? 0) > 300 ? s : undefined;
          };
          const n = await eventually(() => packets(none), "packets at the receiver without decryption", 90_000);
          const x = await eventually(() => packets(wrong), "packets at the wrong-key receiver", 90_000);
          // Without decryption: VP8 frames arrive (clear frame tag) but not one decodes; the receiver keeps asking
          // for key frames. Opus decodes any bytes: what comes out is noise, not the microphone.
          expect(n.inbound.video.framesDecoded ?? 0).toBe(0);
          expect(n.inbound.video.keyFramesDecoded ?? 0).toBe(0);
          expect(n.rendered).toBe(0);
          expect(n.picture.width).toBe(0);
          console.log(`${path}: no decryption: video framesReceived ${n.inbound.video.framesReceived}, pliCount ${n.inbound.video.pliCount}; audio samples ${n.inbound.audio.totalSamplesReceived}, peak ${n.audioPeak.toFixed(3)}`);
          // Wrong key: every frame fails authentication and is dropped before the decoders.
          for (const kind of ["audio", "video"]) {
            expect(stream(x.recv, kind).passed, `${kind} frames through a wrong key`).toBe(0);
            expect(stream(x.recv, kind).lastDrop).toBe("auth");
          }
          expect(x.inbound.video.framesDecoded ?? 0).toBe(0);
          expect(x.inbound.audio.totalSamplesReceived ?? 0).toBe(0);
          expect(x.rendered).toBe(0);
          expect(x.audioPeak).toBe(0);
        } finally {
          await close(none);
          await close(wrong);
        }
      });

      it("late keys: nothing leaves before the sender's key; the receiver drops until its key, then decodes", { timeout: 120_000 }, async () => {
        const id = await open(path, {}, {});
        try {
          const before = await eventually(
            async () => {
              const s = await state(id);
              return stream(s.send, "video")?.dropped > 0 && stream(s.send, "audio")?.dropped > 0 ? s : undefined;
            },
            "the sender to drop unkeyed frames",
            60_000,
          );
          expect(before.outbound.video.framesEncoded).toBeGreaterThan(0);
          expect(before.outbound.video.packetsSent ?? 0).toBe(0);
          expect(before.outbound.audio.packetsSent ?? 0).toBe(0);
          expect(stream(before.send, "video").lastDrop).toBe("no key");

          await setKey(id, "send", 3);
          const waiting = await eventually(
            async () => {
              const s = await state(id);
              return stream(s.recv, "video").dropped > 10 ? s : undefined;
            },
            "the receiver to drop frames it has no key for",
            60_000,
          );
          expect(stream(waiting.recv, "video").lastDrop).toBe("no-key");
          expect(stream(waiting.recv, "video").passed).toBe(0);
          expect(waiting.inbound.video.framesDecoded ?? 0).toBe(0);

          await setKey(id, "recv", 3);
          const s = await eventually(
            async () => {
              const s = await state(id);
              return (s.inbound.video.framesDecoded ?? 0) > 30 && s.picture.stddev > PICTURE_STDDEV ? s : undefined;
            },
            "decoded video after the receiver's key",
            90_000,
          );
          console.log(`${path}: key-frame events ${JSON.stringify(s.keyFrameEvents)}, receiver pliCount ${s.inbound.video.pliCount}`);
          // A key frame was asked for: by the worker (it tells the page; RTCRtpScriptTransform has already asked), or by
          // Chromium's receiver itself when its decoder went long without frames.
          expect(s.keyFrameEvents.length + (s.inbound.video.pliCount ?? 0)).toBeGreaterThan(0);
          for (const e of s.keyFrameEvents) {
            expect(e).toMatchObject({ participant: "alice", kind: "video", requested: path === "script-transform" });
          }
        } finally {
          await close(id);
        }
      });

      it("keys a moment late, as around a membership change: frames wait for them, nothing is dropped and no key frame is asked for", { timeout: 120_000 }, async () => {
        const id = await open(path, {}, {});
        try {
          // The camera encodes before the sender has its key...
          await eventually(async () => ((await state(id)).outbound.video.framesEncoded ?? 0) > 3, "frames encoded before the sender's key", 60_000);
          await new Promise((r) => setTimeout(r, 300));
          await setKey(id, "send", 4);
          // ...and the receiver gets frames before it has its key.
          await eventually(async () => ((await state(id)).inbound.video.packetsReceived ?? 0) > 10, "packets received before the receiver's key", 60_000);
          await new Promise((r) => setTimeout(r, 300));
          await setKey(id, "recv", 4);
          const s = await eventually(
            async () => {
              const s = await state(id);
              return (s.inbound.video.framesDecoded ?? 0) > 30 && s.picture.stddev > PICTURE_STDDEV ? s : undefined;
            },
            "decoded video",
            90_000,
          );
          const drops = (side: StreamStats[], kind: string) => ({ kind, dropped: stream(side, kind).dropped, why: stream(side, kind).lastDrop });
          for (const kind of ["video", "audio"]) expect(drops(s.send, kind), "sender").toEqual({ kind, dropped: 0, why: undefined });
          expect(drops(s.recv, "video"), "receiver").toEqual({ kind: "video", dropped: 0, why: undefined });
          // (Chromium hands the audio receiver an occasional frame too short to be one of ours: not a key matter.)
          expect(stream(s.recv, "audio").lastDrop ?? "", "audio receiver").not.toMatch(/key/);
          // The worker never had to ask for a key frame (Chromium's receiver may ask by itself while frames wait).
          expect(s.keyFrameEvents).toEqual([]);
        } finally {
          await close(id);
        }
      });
    });
  }
});
