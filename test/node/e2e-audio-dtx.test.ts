/**
 * Opus DTX (sdp-tuning.ts): while someone is silent, their microphone costs a packet every 400 ms instead of 50 a
 * second, on the direct path and through the bridge, and what they say is still heard. Chromium's fake microphone
 * never falls silent, so the pages here capture a file instead: a short tone, then silence, over and over (as a person
 * who mostly listens). Real edge (`wrangler dev`), real bridge host (mediasoup), real Chromium.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type BridgeHandle } from "./helpers/bridge-harness";
import { openReadyParticipant } from "./helpers/bridge-participants";
import { audioPacketsPerSecond, join, launchBrowser, openParticipant, waitForCall, waitForRemoteAudio, waitForRemoteVideo, type Participant } from "./helpers/browser";
import { freshRoom, startWebTarget, type WebTarget } from "./helpers/web-app";

const RATE = 48_000;
/** 16-bit mono WAV: `toneMs` of a 440 Hz tone, then silence, `totalMs` in all. */
function toneThenSilence(toneMs: number, totalMs: number): Buffer {
  const n = Math.round((RATE * totalMs) / 1000);
  const tone = Math.round((RATE * toneMs) / 1000);
  const b = Buffer.alloc(44 + n * 2);
  b.write("RIFF", 0);
  b.writeUInt32LE(36 + n * 2, 4);
  b.write("WAVEfmt ", 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(RATE, 24);
  b.writeUInt32LE(RATE * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36);
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < tone; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / RATE)), 44 + i * 2);
  return b;
}

/** Without DTX an Opus sender sends 50 packets a second whatever it hears; silent 85% of the time, far fewer. */
const MAX_PACKETS_PER_SECOND = 25;

describe("web app: a microphone that is mostly silent sends little (Opus DTX)", () => {
  let target: WebTarget;
  let bridge: BridgeHandle;
  let browser: Browser;
  const open: Participant[] = [];

  beforeAll(async () => {
    const wav = joinPath(mkdtempSync(joinPath(tmpdir(), "parley-dtx-")), "speech.wav");
    writeFileSync(wav, toneThenSilence(300, 2000));
    bridge = await startBridge();
    [target, browser] = await Promise.all([
      startWebTarget({ BRIDGES: bridge.controlUrl, BRIDGE_PUBLIC_ORIGINS: bridge.wsBaseUrl, BRIDGE_SECRET: bridge.secret }, { snapshot: true }),
      launchBrowser({ args: [`--use-file-for-fake-audio-capture=${wav}`] }),
    ]);
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await target?.stop();
    await bridge?.stop();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") for (const p of open) console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}`);
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  it("in a direct call and through the bridge", { timeout: 240_000 }, async () => {
    const url = `${target.httpUrl}/${freshRoom("dtx")}`;
    const a = await openParticipant(browser, url);
    open.push(a);
    const b = await openParticipant(browser, url);
    open.push(b);
    await join(a, "alice");
    await waitForCall(a);
    await join(b, "bob");
    await waitForCall(b);
    await waitForRemoteVideo(b.page, ["alice"]);
    const direct = await audioPacketsPerSecond(b.page, 4000);
    console.log(`audio packets received per second, direct: ${direct.toFixed(1)}`);
    expect(direct).toBeGreaterThan(0);
    expect(direct).toBeLessThan(MAX_PACKETS_PER_SECOND);
    await waitForRemoteAudio(b.page);

    const c = await openReadyParticipant(browser, url, 3);
    open.push(c);
    await join(c, "carol");
    await waitForCall(c);
    for (const p of [a, b, c]) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: 120_000 });
    await waitForRemoteVideo(c.page, ["alice", "bob"], 120_000);
    await c.page.waitForTimeout(2000); // the direct sessions end after the move
    const bridged = await audioPacketsPerSecond(c.page, 4000);
    console.log(`audio packets received per second from two people, bridge: ${bridged.toFixed(1)}`);
    expect(bridged).toBeGreaterThan(0);
    expect(bridged).toBeLessThan(2 * MAX_PACKETS_PER_SECOND);
    await waitForRemoteAudio(c.page);
  });
});
