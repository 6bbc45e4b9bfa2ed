/**
 * End-to-end with the bridge: real headless Chromium, the real edge (`wrangler dev`, room Durable Object) and the
 * real bridge host (mediasoup). A third participant moves the room to the bridge (all three decode both others'
 * video through it, make-before-break); when one leaves, the room goes back to direct Jingle sessions. Standby: while
 * someone waits on the hair check of a room of two, the two connect to the bridge room ahead with nothing sent there,
 * and so does the one waiting (lobby), unseen until admitted.
 * Takes the README's screenshot of a 3-person call (workers/web/screenshots/call-3.png).
 */
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type BridgeHandle } from "./helpers/bridge-harness";
import { openReadyParticipant, openReadyParticipants } from "./helpers/bridge-participants";
import {
  eventually,
  framesDecoded,
  join,
  launchBrowser,
  mediaMode,
  selectedPairs,
  sentVideoHeights,
  waitForCall,
  waitForRemoteVideo,
  type Participant,
} from "./helpers/browser";
import { freshRoom, screenshotPath, startWebTarget, type WebTarget } from "./helpers/web-app";

/**
 * Generous: on a loaded 2-core machine (load average 20-35 while other suites run) the switch (bridge room creation,
 * three mediasoup-client set-ups with one SDP renegotiation per produce/consume) took up to a minute.
 */
const SWITCH_TIMEOUT_MS = 150_000;

describe("web app: the bridge for three or more", () => {
  let bridge: BridgeHandle;
  let target: WebTarget;
  let browser: Browser;
  const open: Participant[] = [];

  beforeAll(async () => {
    bridge = await startBridge();
    [target, browser] = await Promise.all([
      startWebTarget({ BRIDGES: bridge.controlUrl, BRIDGE_PUBLIC_ORIGINS: bridge.wsBaseUrl, BRIDGE_SECRET: bridge.secret }, { snapshot: true }),
      launchBrowser(),
    ]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await target?.stop();
    await bridge?.stop();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const p of open) console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}`);
      if (target.edge) console.error(`wrangler output (tail):\n${target.edge.output().slice(-3000)}`);
      console.error(`bridge output (tail):\n${bridge.output().slice(-3000)}`);
    }
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  /**
   * Audio packets a page sends per second, over 2 s, on its connections to the bridge (ICE-lite remote: mediasoup)
   * or on its direct ones.
   */
  async function audioPacketsPerSecond(p: Participant, via: "bridge" | "direct"): Promise<number> {
    const sent = (): Promise<number> =>
      p.page.evaluate(`(async () => {
        let n = 0;
        for (const pc of window.__pcs) {
          if (pc.connectionState !== "connected" || !pc.remoteDescription) continue;
          if (pc.remoteDescription.sdp.includes("a=ice-lite") !== ${via === "bridge"}) continue;
          (await pc.getStats()).forEach((x) => { if (x.type === "outbound-rtp" && x.kind === "audio") n += x.packetsSent; });
        }
        return n;
      })()`) as Promise<number>;
    const before = await sent();
    await p.page.waitForTimeout(2000);
    return ((await sent()) - before) / 2;
  }

  /** Pages on the room's hair check (three, or four); alice and bob join and see each other (directly), the others wait. */
  async function twoInACall(url: string, pages = 3): Promise<[Participant, Participant, Participant, ...Participant[]]> {
    const ps = await openReadyParticipants(browser, url, pages);
    open.push(...ps);
    const [a, b, c, ...rest] = ps as [Participant, Participant, Participant, ...Participant[]];
    await join(a, "alice");
    await waitForCall(a);
    await join(b, "bob");
    await waitForCall(b);
    await Promise.all([waitForRemoteVideo(a.page, ["bob"]), waitForRemoteVideo(b.page, ["alice"])]);
    expect(await mediaMode(a)).toBe("p2p");
    return [a, b, c, ...rest];
  }

  /** A direct call keeps Opus's 20 ms packets (the lowest delay for two): 50 a second. */
  async function directAudioAt20ms(a: Participant): Promise<void> {
    const pps = await eventually(async () => {
      const n = await audioPacketsPerSecond(a, "direct");
      return n > 0 ? n : undefined;
    }, "audio sent directly");
    expect(pps, "audio packets sent directly per second").toBeGreaterThanOrEqual(40);
    expect(pps, "audio packets sent directly per second").toBeLessThanOrEqual(60);
  }

  async function threeInARoom(room: string, pages = 3): Promise<[Participant, Participant, Participant, ...Participant[]]> {
    const [a, b, c, ...rest] = await twoInACall(`${target.httpUrl}/${room}`, pages);
    await join(c, "carol");
    await waitForCall(c);
    return [a, b, c, ...rest];
  }

  /** The call of three moves to the bridge; carol leaves; alice and bob are back to direct and see each other. */
  async function carolLeavesTheBridge(a: Participant, b: Participant, c: Participant): Promise<void> {
    for (const p of [a, b, c]) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: SWITCH_TIMEOUT_MS });
    await waitForRemoteVideo(a.page, ["bob", "carol"], SWITCH_TIMEOUT_MS);
    await c.page.getByRole("button", { name: "Leave" }).click();
    await c.page.getByText("You left the call.").waitFor({ timeout: 20_000 });
    for (const p of [a, b]) await p.page.locator('[data-media-mode="p2p"]').waitFor({ timeout: SWITCH_TIMEOUT_MS });
    await Promise.all([waitForRemoteVideo(a.page, ["bob"], SWITCH_TIMEOUT_MS), waitForRemoteVideo(b.page, ["alice"], SWITCH_TIMEOUT_MS)]);
  }


  it("a third participant moves the call to the bridge and all three decode both others' video", { timeout: 480_000 }, async () => {
    // A fixed, readable name for the screenshot: unique within this file's own edge instance.
    const [a, b, c] = await twoInACall(`${target.httpUrl}/sunny-lynx-23`);
    await directAudioAt20ms(a);
    await join(c, "carol");
    await waitForCall(c);
    for (const p of [a, b, c]) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: SWITCH_TIMEOUT_MS });
    await Promise.all([
      waitForRemoteVideo(a.page, ["bob", "carol"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(b.page, ["alice", "carol"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(c.page, ["alice", "bob"], SWITCH_TIMEOUT_MS),
    ]);
    // The direct sessions are gone (make-before-break finished): every connected transport goes to the bridge's
    // RTC port.
    for (const p of [a, b, c]) {
      const pairs = await eventually(async () => {
        const list = await selectedPairs(p.page);
        return list.length > 0 && list.every((x) => x.remoteAddress !== undefined) ? list : undefined;
      }, "selected pairs");
      const ports = await p.page.evaluate(`(async () => {
        const out = [];
        for (const pc of window.__pcs) {
          if (pc.connectionState !== "connected") continue;
          const s = await pc.getStats();
          s.forEach((x) => { if (x.type === "remote-candidate" && x.port) out.push(x.port); });
        }
        return out;
      })()`);
      expect(pairs.length).toBeGreaterThan(0);
      expect((ports as number[]).every((port) => port === bridge.rtcPort)).toBe(true);
      // Cameras go to the bridge in simulcast layers (simulcast.ts; the fake camera is 720p): the lowest (180p) alone
      // during the switch, then those the others' tiles want (`layerDemand`): in a grid of three at 1280×800 (628×341
      // tiles), 180p and 360p (scales 4 and 2); the 720p layer (scale 1) stays off.
      const bridgeLayers = `window.__pcs.filter((pc) => pc.connectionState === "connected" && pc.remoteDescription && pc.remoteDescription.sdp.includes("a=ice-lite"))
        .flatMap((pc) => pc.getSenders()).filter((s) => s.track && s.track.kind === "video")
        .map((s) => s.getParameters().encodings.filter((e) => e.active !== false).map((e) => e.scaleResolutionDownBy ?? 1).join(","))`;
      await eventually(async () => {
        const layers = (await p.page.evaluate(bridgeLayers)) as string[];
        return layers.length === 1 && layers[0] === "4,2" ? layers : undefined;
      }, "camera sent to the bridge in the 180p and 360p layers after the switch");
      const sent = await eventually(async () => {
        const hs = (await sentVideoHeights(p.page)).filter((x) => x.via === "bridge");
        return hs.length > 0 ? hs : undefined;
      }, "video sent to the bridge");
      expect(sent.every((x) => x.height > 0 && x.height <= 720)).toBe(true);
      // Everyone is heard through the bridge too (audio is produced after the video, bridge.ts): sound from both
      // others arrives on a bridge transport.
      await eventually(async () => {
        const heard = (await p.page.evaluate(`(async () => {
          let n = 0;
          for (const pc of window.__pcs) {
            if (pc.connectionState !== "connected" || !pc.remoteDescription || !pc.remoteDescription.sdp.includes("a=ice-lite")) continue;
            (await pc.getStats()).forEach((x) => { if (x.type === "inbound-rtp" && x.kind === "audio" && x.totalSamplesReceived > 0) n++; });
          }
          return n;
        })()`)) as number;
        return heard >= 2 ? heard : undefined;
      }, "audio from both others via the bridge");
      // Opus in 40 ms packets on the bridge path (bridge-send.ts): 25 a second from a microphone that is never
      // silent (Chromium's fake one), where a direct call sends 50.
      const pps = await audioPacketsPerSecond(p, "bridge");
      expect(pps, "audio packets sent to the bridge per second").toBeGreaterThanOrEqual(20);
      expect(pps, "audio packets sent to the bridge per second").toBeLessThanOrEqual(30);
    }
    // README: a 3-person call through the bridge, as the third person sees it.
    await c.page.getByLabel("Message", { exact: true }).fill("Hello both! The call moved to the bridge on its own.");
    await c.page.getByLabel("Message", { exact: true }).press("Enter");
    await a.page.getByRole("log").getByText("moved to the bridge").waitFor({ timeout: 20_000 });
    await c.page.screenshot({ path: screenshotPath("call-3.png") });
  });

  /**
   * On a page's connections to the bridge (ICE-lite remote: mediasoup): RTP packets sent, media received (audio
   * packets and decoded video frames; the bridge's bandwidth probing may send a video stream padding, which is no
   * media), and how many connections are up.
   */
  const BRIDGE_RTP = `(async () => {
    let sent = 0, received = 0, connected = 0;
    for (const pc of window.__pcs) {
      if (pc.connectionState === "closed" || !pc.remoteDescription || !pc.remoteDescription.sdp.includes("a=ice-lite")) continue;
      if (pc.connectionState === "connected") connected++;
      (await pc.getStats()).forEach((x) => {
        if (x.type === "outbound-rtp") sent += x.packetsSent || 0;
        if (x.type === "inbound-rtp") received += (x.kind === "audio" ? x.packetsReceived : x.framesDecoded) || 0;
      });
    }
    return { sent, received, connected };
  })()`;
  type BridgeRtp = { sent: number; received: number; connected: number };
  const bridgeRtp = (p: Participant) => p.page.evaluate(BRIDGE_RTP) as Promise<BridgeRtp>;
  const marks = (p: Participant) => p.page.evaluate(`performance.getEntriesByType("mark").map((m) => m.name)`) as Promise<string[]>;

  it("standby and lobby: while someone waits on the hair check, all are ready on the bridge with nothing sent there", { timeout: 480_000 }, async () => {
    const url = `${target.httpUrl}/${freshRoom("standby")}`;
    const [a, b, c] = await twoInACall(url);
    // Carol's hair check is open: alice and bob connect to the bridge room (send and receive transports up)...
    for (const p of [a, b]) await eventually(async () => ((await bridgeRtp(p)).connected >= 2 ? true : undefined), "standby connections to the bridge", 60_000);
    // ...and send and receive nothing there: the call stays direct (end-to-end encrypted), and says so.
    const before = await Promise.all([a, b].map((p) => framesDecoded(p.page)));
    await new Promise((r) => setTimeout(r, 1500));
    for (const [i, p] of [a, b].entries()) {
      expect(await bridgeRtp(p)).toEqual({ sent: 0, received: 0, connected: 2 });
      expect(await mediaMode(p)).toBe("p2p");
      expect(await framesDecoded(p.page)).toBeGreaterThan(before[i]!);
    }
    // Carol closes her hair check without joining: the standby connections close.
    await c.close();
    open.splice(open.indexOf(c), 1);
    for (const p of [a, b]) await eventually(async () => ((await bridgeRtp(p)).connected === 0 ? true : undefined), "standby closed", 30_000);
    // Dave opens it instead and joins: the move to the bridge uses the standby connections (their senders turned on).
    const d = await openReadyParticipant(browser, url);
    open.push(d);
    for (const p of [a, b]) await eventually(async () => ((await bridgeRtp(p)).connected >= 2 ? true : undefined), "standby again", 60_000);
    // Dave's hair check was told of the bridge room too (a lobby grant): it connects there, unnamed, and consumes
    // ahead, sending and receiving nothing.
    await eventually(async () => ((await bridgeRtp(d)).connected >= 2 ? true : undefined), "dave's lobby connection", 60_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(await bridgeRtp(d)).toEqual({ sent: 0, received: 0, connected: 2 }); // it consumes alice's and bob's ahead, held
    await join(d, "dave");
    await waitForCall(d);
    for (const p of [a, b, d]) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: SWITCH_TIMEOUT_MS });
    await Promise.all([
      waitForRemoteVideo(a.page, ["bob", "dave"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(b.page, ["alice", "dave"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(d.page, ["alice", "bob"], SWITCH_TIMEOUT_MS),
    ]);
    expect(await marks(d)).toContain("parley:bridge:from-lobby");
    for (const p of [a, b]) {
      // Dave's camera was consumed ahead, unnamed, and named on his admission (bridge.ts, name).
      expect(await marks(p)).toContain("parley:bridge:named:dave:video");
      expect(await marks(p)).toContain("parley:bridge:from-standby");
      await eventually(async () => ((await bridgeRtp(p)).sent > 0 ? true : undefined), "media sent to the bridge after the move");
    }
  });

  it("when one leaves, the two others go back to a direct call", { timeout: 480_000 }, async () => {
    const [a, b, c] = await threeInARoom(freshRoom("back2p2p"));
    await carolLeavesTheBridge(a, b, c);
    expect(await a.page.locator('video[data-participant="carol"]').count()).toBe(0);
    // Direct again: no connected transport goes to the bridge any more.
    await eventually(async () => {
      const ports = (await a.page.evaluate(`(async () => {
        const out = [];
        for (const pc of window.__pcs) {
          if (pc.connectionState !== "connected") continue;
          const s = await pc.getStats();
          s.forEach((x) => { if (x.type === "remote-candidate" && x.port) out.push(x.port); });
        }
        return out;
      })()`)) as number[];
      return ports.length > 0 && ports.every((p) => p !== bridge.rtcPort);
    }, "only direct transports connected");
  });

  it("back to two with someone still on the hair check: the call goes direct again, then stands by on the bridge", { timeout: 480_000 }, async () => {
    const [a, b, c, d] = (await threeInARoom(freshRoom("back2standby"), 4)) as [Participant, Participant, Participant, Participant];
    await carolLeavesTheBridge(a, b, c);
    // Dave still waits: once the bridge connections of the call of three are closed, new standby ones come up,
    // carrying nothing, while the video goes directly.
    for (const p of [a, b]) await eventually(async () => ((await bridgeRtp(p)).connected >= 2 ? true : undefined), "standby after the bridge", 60_000);
    const before = await Promise.all([a, b].map((p) => framesDecoded(p.page)));
    await new Promise((r) => setTimeout(r, 1500));
    for (const [i, p] of [a, b].entries()) {
      expect(await bridgeRtp(p)).toEqual({ sent: 0, received: 0, connected: 2 }); // fresh ones: the old ones had sent
      expect(await framesDecoded(p.page)).toBeGreaterThan(before[i]!);
    }
    await join(d, "dave");
    await waitForCall(d);
    await Promise.all([
      waitForRemoteVideo(a.page, ["bob", "dave"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(d.page, ["alice", "bob"], SWITCH_TIMEOUT_MS),
    ]);
    expect(await mediaMode(d)).toBe("bridge");
  });
});
