/**
 * Opus DTX (sdp-tuning.ts): while someone is silent, their microphone costs a packet every 400 ms instead of 50 a
 * second, on the direct path and through the bridge, and what they say is still heard. Chromium's fake microphone
 * never falls silent, so the pages here capture a file instead: a short tone, then silence, over and over (as a person
 * who mostly listens). Real edge (`wrangler dev`), real bridge host (mediasoup), real Chromium.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mostlySilentMicFile } from "./helpers/audio-file";
import { openReadyParticipant } from "./helpers/bridge-participants";
import { startBridgeStack, type BridgeStack } from "./helpers/bridge-tiles";
import { audioPacketsPerSecond, join, openParticipant, waitForCall, waitForRemoteAudio, waitForRemoteVideo, type Participant } from "./helpers/browser";
import { freshRoom } from "./helpers/web-app";

/** Without DTX an Opus sender sends 50 packets a second whatever it hears; silent 85% of the time, far fewer. */
const MAX_PACKETS_PER_SECOND = 25;

describe("web app: a microphone that is mostly silent sends little (Opus DTX)", () => {
  let stack: BridgeStack;
  const open: Participant[] = [];

  beforeAll(async () => {
    stack = await startBridgeStack({}, [`--use-file-for-fake-audio-capture=${mostlySilentMicFile()}`]);
  }, 240_000);
  afterAll(() => stack?.stop());
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") for (const p of open) console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}`);
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  it("in a direct call and through the bridge", { timeout: 240_000 }, async () => {
    const { browser } = stack;
    const url = `${stack.target.httpUrl}/${freshRoom("dtx")}`;
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
