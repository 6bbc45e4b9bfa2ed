/**
 * End-to-end: a quick Join. Two people, each in a freshly started browser (a Chromium process of their own), type a
 * name and click Join the moment the page allows, while their camera is still starting (getUserMedia slowed down as
 * a real camera is; the fake device answers at once). The call must start with whatever is ready and add the camera
 * and microphone the moment they are: both sides see their own preview, decode each other's video and hear each
 * other, directly, and after a move to the bridge and back. Real wrangler dev, real mediasoup bridge, real Chromium.
 */
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type BridgeHandle } from "./helpers/bridge-harness";
import { openReadyParticipant } from "./helpers/bridge-participants";
import {
  eventually,
  launchBrowser,
  join,
  localPreviewPlaying,
  openParticipant,
  slowGetUserMedia,
  waitForCall,
  waitForRemoteAudio,
  waitForRemoteVideo,
  type Participant,
} from "./helpers/browser";
import { freshRoom, startWebTarget, type WebTarget } from "./helpers/web-app";

/** How long the emulated camera takes to start after Join is clicked (a real one: one to two seconds). */
const CAMERA_START_MS = 1500;
const TRIES = 10;
/** Generous: two fresh Chromium processes per try on a loaded 2-core machine. */
const MEDIA_TIMEOUT_MS = 90_000;
const SWITCH_TIMEOUT_MS = 150_000;

describe("web app: a quick Join, devices ready only after it", () => {
  let bridge: BridgeHandle;
  let target: WebTarget;
  const browsers: Browser[] = [];
  const open: Participant[] = [];

  beforeAll(async () => {
    bridge = await startBridge();
    target = await startWebTarget({ BRIDGES: bridge.controlUrl, BRIDGE_PUBLIC_ORIGINS: bridge.wsBaseUrl, BRIDGE_SECRET: bridge.secret });
  }, 180_000);
  afterAll(async () => {
    await target?.stop();
    await bridge?.stop();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const p of open) console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}`);
      if (target.edge) console.error(`wrangler output (tail):\n${target.edge.output().slice(-3000)}`);
    }
    await Promise.all(open.splice(0).map((p) => p.close()));
    await Promise.all(browsers.splice(0).map((b) => b.close()));
  });

  /** A person in a freshly started browser of their own, on the room's page with a slow camera. */
  async function newcomer(room: string): Promise<Participant> {
    const browser = await launchBrowser();
    browsers.push(browser);
    const p = await openParticipant(browser, `${target.httpUrl}/${room}`, { initScripts: [slowGetUserMedia(CAMERA_START_MS)] });
    open.push(p);
    return p;
  }

  /** Two newcomers who click Join at once, each as soon as their page has loaded (their camera still starting). */
  async function quickPair(room: string): Promise<[Participant, Participant]> {
    const quick = async (nick: string): Promise<Participant> => {
      const p = await newcomer(room);
      await join(p, nick);
      return p;
    };
    // (slowGetUserMedia holds the devices until after the click: Join always comes first.)
    const [a, b] = await Promise.all([quick("alice"), quick("bob")]);
    await Promise.all([waitForCall(a), waitForCall(b)]);
    return [a, b];
  }

  async function seeAndHearEachOther(a: Participant, b: Participant, timeoutMs = MEDIA_TIMEOUT_MS): Promise<void> {
    await Promise.all([
      waitForRemoteVideo(a.page, ["bob"], timeoutMs),
      waitForRemoteVideo(b.page, ["alice"], timeoutMs),
      waitForRemoteAudio(a.page, timeoutMs),
      waitForRemoteAudio(b.page, timeoutMs),
    ]);
  }

  for (let i = 1; i <= TRIES; i++) {
    it(`try ${i} of ${TRIES}: both see their own preview, decode each other's video and hear each other`, { timeout: 240_000 }, async () => {
      const [a, b] = await quickPair(freshRoom(`quick-${i}`));
      for (const p of [a, b]) await eventually(() => localPreviewPlaying(p.page), "own preview in the call", MEDIA_TIMEOUT_MS);
      await seeAndHearEachOther(a, b);
      // Announced on once the devices came (urn:parley:av:0): the other's tile is not marked muted.
      for (const [p, other] of [[a, "bob"], [b, "alice"]] as const) {
        await p.page.locator(`figure[data-audio="on"]:has(video[data-participant="${other}"])`).waitFor({ timeout: 30_000 });
      }
    });
  }

  it("after a move to the bridge and back, the devices that came late are still sent", { timeout: 600_000 }, async () => {
    const room = freshRoom("quick-bridge");
    const [a, b] = await quickPair(room);
    await seeAndHearEachOther(a, b);
    const c = await openReadyParticipant(await launchBrowser().then((br) => (browsers.push(br), br)), `${target.httpUrl}/${room}`);
    open.push(c);
    await join(c, "carol");
    await waitForCall(c);
    for (const p of [a, b, c]) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: SWITCH_TIMEOUT_MS });
    await Promise.all([
      waitForRemoteVideo(a.page, ["bob", "carol"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(b.page, ["alice", "carol"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(c.page, ["alice", "bob"], SWITCH_TIMEOUT_MS),
      waitForRemoteAudio(c.page, SWITCH_TIMEOUT_MS),
    ]);
    await c.page.getByRole("button", { name: "Leave" }).click();
    await c.page.getByText("You left the call.").waitFor({ timeout: 20_000 });
    for (const p of [a, b]) await p.page.locator('[data-media-mode="p2p"]').waitFor({ timeout: SWITCH_TIMEOUT_MS });
    await seeAndHearEachOther(a, b, SWITCH_TIMEOUT_MS);
  });
});
