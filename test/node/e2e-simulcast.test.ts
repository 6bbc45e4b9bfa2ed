/**
 * Simulcast, off-screen pausing and the bridge's active speaker, end to end: real headless Chromium pages of the web
 * app, the real edge (`wrangler dev`) and the real bridge host (mediasoup). Three people move the call to the
 * bridge; each camera goes out in several layers, as many as its viewers want (the bridge's `layerDemand`); a page
 * that shows someone in a small tile gets that person's low layer (inbound-rtp frameWidth), someone in a large tile a
 * higher one; a tile taken off screen costs no video bytes
 * (the voice still comes) and comes back when shown; the one who speaks is announced to the pages within 2 s.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openReadyParticipants } from "./helpers/bridge-participants";
import { clickAt, forceTile, startBridgeStack, type BridgeStack, receivedFrom, speakerMarks, SPEAKING_MICROPHONE } from "./helpers/bridge-tiles";
import { eventually, join, waitForCall, waitForRemoteVideo, type Participant } from "./helpers/browser";
import { freshRoom } from "./helpers/web-app";

const SWITCH_TIMEOUT_MS = 150_000;

describe("web app through the bridge: simulcast layers by tile size, off-screen videos paused, active speaker", () => {
  let stack: BridgeStack;
  const open: Participant[] = [];

  beforeAll(async () => {
    // debug: the bridge's key frames, key frame requests and layer changes, printed when the test fails
    stack = await startBridgeStack({ LOG_LEVEL: "debug" });
  }, 300_000);
  afterAll(() => stack?.stop());
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const p of open) console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}`);
      console.error(`bridge output (tail):\n${stack.bridge.output().slice(-20000)}`);
    }
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  async function threeOnTheBridge(): Promise<[Participant, Participant, Participant]> {
    const ps = await openReadyParticipants(stack.browser, `${stack.target.httpUrl}/${freshRoom("simulcast")}`, 3, { initScripts: [SPEAKING_MICROPHONE] });
    open.push(...ps);
    const [a, b, c] = ps as [Participant, Participant, Participant];
    for (const [p, nick] of [[a, "alice"], [b, "bob"], [c, "carol"]] as const) {
      await join(p, nick);
      await waitForCall(p);
    }
    for (const p of [a, b, c]) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: SWITCH_TIMEOUT_MS });
    await Promise.all([
      waitForRemoteVideo(a.page, ["bob", "carol"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(b.page, ["alice", "carol"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(c.page, ["alice", "bob"], SWITCH_TIMEOUT_MS),
    ]);
    return [a, b, c];
  }

  it("sends layers, gives a small tile the low one and a large tile a higher one, pauses a tile off screen, and announces the one who speaks within 2 s", { timeout: 480_000 }, async () => {
    const [alice, bob, carol] = await threeOnTheBridge();
    // Alice's camera (the fake one is 1280x720) goes to the bridge as three encodings, those above the layer her
    // viewers want turned off (`layerDemand`): [encodings, active] of her camera sender on the bridge.
    const aliceLayers = async (): Promise<number[][]> =>
      (await alice.page.evaluate(`window.__pcs.filter((pc) => pc.connectionState === "connected" && pc.remoteDescription && pc.remoteDescription.sdp.includes("a=ice-lite"))
        .flatMap((pc) => pc.getSenders()).filter((s) => s.track && s.track.kind === "video")
        .map((s) => [s.getParameters().encodings.length, s.getParameters().encodings.filter((e) => e.active !== false).length])`)) as number[][];
    const activeLayers = (n: number, why: string) =>
      eventually(async () => {
        const l = await aliceLayers();
        return l.length === 1 && l[0]![0] === 3 && l[0]![1] === n ? l : undefined;
      }, `${n} of 3 layers on Alice's camera sender (${why})`, 30_000);
    // One consumer per page and producer of the others (3 pages × 2 others × camera and microphone): a producer
    // announced both across the lobby and by name is consumed once (two consumers would get the same frames, and
    // the frame decryption refuses the second copy of each as a replay).
    const consumers = await eventually(async () => {
      const h = (await (await stack.bridge.call("GET", "/health")).json()) as { consumers: number };
      return h.consumers <= 12 ? h.consumers : undefined;
    }, "no more than 12 consumers on the bridge", 20_000);
    expect(consumers).toBe(12);

    // Bob shows both large (1200x675 CSS pixels, device pixel ratio 1): both come in a higher layer than the first.
    const large = "width:1200px;height:675px;object-fit:cover";
    await forceTile(bob.page, "carol", large);
    await forceTile(bob.page, "alice", large);
    await eventually(async () => {
      const r = await receivedFrom(bob.page);
      return (r.alice?.frameWidth ?? 0) >= 640 && (r.carol?.frameWidth ?? 0) >= 640 ? r : undefined;
    }, "Bob to receive Alice and Carol at 640 wide or more", 60_000);
    await activeLayers(3, "Bob shows her 1200 wide");
    // Then Carol as a thumbnail (160x90): she comes down to the lowest layer, Alice stays large.
    await forceTile(bob.page, "carol", "width:160px;height:90px;object-fit:cover");
    let seen = {};
    const sized = await eventually(async () => {
      const r = (seen = await receivedFrom(bob.page));
      const [a, c] = [r.alice, r.carol];
      return a && c && c.frameWidth > 0 && c.frameWidth <= 320 && a.frameWidth >= 640 ? r : undefined;
    }, "Bob to receive Carol's low layer (≤ 320 wide) and a higher layer of Alice (≥ 640 wide)", 60_000).catch((e: unknown) => {
      throw new Error(`${String(e)}; Bob received ${JSON.stringify(seen)}`);
    });
    expect(sized.carol!.frameHeight).toBeLessThanOrEqual(180);
    // ...and the thumbnail keeps getting frames.
    const c0 = sized.carol!.framesDecoded;
    await eventually(async () => ((seen = await receivedFrom(bob.page)).carol?.framesDecoded ?? 0) > c0 + 10, "Carol's thumbnail to keep decoding").catch((e: unknown) => {
      throw new Error(`${String(e)}; Bob received ${JSON.stringify(seen)}, at the switch ${JSON.stringify(sized)}`);
    });

    // Bob takes Alice off screen: after the report settles, no more of her video arrives; her voice does.
    await forceTile(bob.page, "alice", "display:none");
    const settled = async () => {
      const before = (await receivedFrom(bob.page)).alice!;
      await new Promise((r) => setTimeout(r, 2000));
      const after = (await receivedFrom(bob.page)).alice!;
      return { video: after.bytesReceived - before.bytesReceived, audio: after.audioBytes - before.audioBytes };
    };
    const off = await eventually(async () => {
      const d = await settled();
      return d.video < 1000 ? d : undefined;
    }, "no video bytes of Alice at Bob while her tile is hidden", 30_000);
    expect(off.video).toBeLessThan(1000);
    expect(off.audio).toBeGreaterThan(2000); // Opus keeps flowing (≈ 50 packets a second)
    // Carol shows her as a thumbnail too: nobody wants more than her lowest layer, the only one she still encodes.
    await forceTile(carol.page, "alice", "width:160px;height:90px;object-fit:cover");
    await activeLayers(1, "off screen at Bob, a thumbnail at Carol");
    await forceTile(carol.page, "alice", null);

    // Shown again: her video flows and decodes again.
    await forceTile(bob.page, "alice", null);
    const back = (await receivedFrom(bob.page)).alice!.framesDecoded;
    await eventually(async () => ((await receivedFrom(bob.page)).alice?.framesDecoded ?? 0) > back + 10, "Alice's video back at Bob", 30_000);

    // Active speaker (same call: one set-up of three pages is what this machine can afford twice over).
    const mic = (p: Participant) => p.page.getByRole("button", { name: "Microphone" });
    // Only Carol's microphone on: the bridge names her.
    for (const p of [alice, bob]) await mic(p).click();
    await eventually(async () => (await speakerMarks(alice.page)).at(-1)?.nick === "carol" || undefined, "Carol announced as the speaker at Alice", 30_000);
    // Carol stops and Bob starts: Alice and Carol are told within 2 s of his click.
    await mic(carol).click();
    const t0 = await clickAt(bob.page, "Microphone");
    for (const p of [alice, carol]) {
      const at = await eventually(async () => (await speakerMarks(p.page)).find((m) => m.nick === "bob" && m.at >= t0)?.at, "Bob announced", 20_000);
      expect(at - t0).toBeLessThan(2000);
    }
  });
});
