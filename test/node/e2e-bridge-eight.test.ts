/**
 * Eight people through the bridge, end to end (real headless Chromium pages of the web app, the real edge and the
 * real bridge host): every page decodes the seven others; every video received fits its tile (no more than twice the
 * tile's device pixels in either dimension: simulcast layers chosen by tile size); a participant taken off screen
 * costs the receiver no video bytes; the one who speaks is announced within 2 s. Heavy (eight pages on one machine):
 * generous timeouts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openReadyParticipant } from "./helpers/bridge-participants";
import { clickAt, forceTile, receivedFrom, speakerMarks, startBridgeStack, STEADY_MICROPHONE, type BridgeStack } from "./helpers/bridge-tiles";
import { eventually, join, waitForCall, waitForRemoteVideo, type Participant } from "./helpers/browser";
import { freshRoom } from "./helpers/web-app";

const PEOPLE = 8;
const LONG_MS = 300_000;

/** Each remote video's rendered size in device pixels on this page, by participant. */
async function tileSizesOn(p: Participant): Promise<Record<string, { width: number; height: number }>> {
  return p.page.evaluate(`(() => {
    const out = {};
    for (const v of document.querySelectorAll("video[data-participant]")) {
      const r = v.getBoundingClientRect();
      out[v.dataset.participant] = { width: Math.round(r.width * devicePixelRatio), height: Math.round(r.height * devicePixelRatio) };
    }
    return out;
  })()`);
}

describe("eight people through the bridge", () => {
  let stack: BridgeStack;
  const ps: Participant[] = [];

  beforeAll(async () => {
    stack = await startBridgeStack();
  }, 300_000);
  afterAll(async () => {
    await Promise.all(ps.map((p) => p.close()));
    await stack?.stop();
  });

  it("decodes everyone, fits every video to its tile, sends nothing for a tile off screen, announces the speaker", { timeout: 1_200_000 }, async () => {
    const url = `${stack.target.httpUrl}/${freshRoom("eight")}`;
    const nicks = Array.from({ length: PEOPLE }, (_, i) => `p${i + 1}`);
    for (const nick of nicks) {
      const p = await openReadyParticipant(stack.browser, url, 3, { initScripts: [STEADY_MICROPHONE] });
      ps.push(p);
      await join(p, nick);
      await waitForCall(p, 120_000);
    }
    for (const p of ps) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: LONG_MS });
    for (const [i, p] of ps.entries()) await waitForRemoteVideo(p.page, nicks.filter((_, k) => k !== i), LONG_MS);

    // Every received video fits its tile (layers follow the reported sizes within a few seconds).
    for (const p of ps) {
      await eventually(async () => {
        const [got, tiles] = [await receivedFrom(p.page), await tileSizesOn(p)];
        const bad = Object.entries(got).filter(([n, r]) => {
          const t = tiles[n];
          return !t || r.frameWidth === 0 || r.frameWidth > 2 * t.width || r.frameHeight > 2 * t.height;
        });
        return Object.keys(got).length === PEOPLE - 1 && bad.length === 0 ? got : undefined;
      }, "every video to fit its tile", 60_000);
    }

    // p1 takes p2 off screen: no video bytes of p2 arrive at p1.
    const p1 = ps[0]!;
    await forceTile(p1.page, "p2", "display:none");
    await eventually(async () => {
      const before = (await receivedFrom(p1.page)).p2!;
      await new Promise((r) => setTimeout(r, 2000));
      const after = (await receivedFrom(p1.page)).p2!;
      return after.bytesReceived - before.bytesReceived < 1000 || undefined;
    }, "no video bytes of p2 at p1", 60_000);

    // Everyone mutes but p3: p3 is announced; then p3 mutes and p4 speaks: announced within 2 s.
    const mic = (p: Participant) => p.page.getByRole("button", { name: "Microphone" });
    for (const p of ps) if (p !== ps[2]) await mic(p).click();
    await eventually(async () => (await speakerMarks(p1.page)).at(-1)?.nick === "p3" || undefined, "p3 announced", 60_000);
    await mic(ps[2]!).click();
    const t0 = await clickAt(ps[3]!.page, "Microphone");
    const at = await eventually(async () => (await speakerMarks(p1.page)).find((m) => m.nick === "p4" && m.at >= t0)?.at, "p4 announced", 20_000);
    expect(at - t0).toBeLessThan(2000);
  });
});
