/**
 * Eight people through the bridge, end to end, with the real edge and the real bridge host: three people in real
 * headless Chromium pages of the web app, and five synthetic participants (helpers/synthetic-participant.ts: the same
 * XMPP room, MLS group and bridge, each sending a real, SFrame-encrypted VP8 camera in three simulcast layers over
 * WebRTC from Node; eight Chromium pages do not fit this 2-core machine, docs/benchmarks.md). Every page decodes the
 * seven others; every video received fits its tile (no more than twice the tile's device pixels in either dimension:
 * simulcast layers chosen by tile size); the grid covers at least 70% of the stage at 1280×720 and 390×844; a
 * participant taken off screen costs the receiver no video bytes; the one who speaks gets `data-active-speaker` within
 * 2 s; axe-core finds no serious or critical accessibility violation; every page and every synthetic member has the
 * same safety code. Writes docs/screenshots/call-8.png.
 */
import { join as joinPath } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openReadyParticipant } from "./helpers/bridge-participants";
import { forceTile, receivedFrom, startBridgeStack, SPEAKING_MICROPHONE, type BridgeStack } from "./helpers/bridge-tiles";
import { eventually, join, waitForCall, waitForRemoteVideo, type Participant } from "./helpers/browser";
import { axeViolations, outsideViewport, overlappingTiles, settle, stageCoverage, timeToActiveSpeaker } from "./helpers/call-screen";
import { encodeTestCamera } from "./helpers/synthetic-media";
import { SyntheticParticipant } from "./helpers/synthetic-participant";
import { freshRoom, REPO_ROOT } from "./helpers/web-app";

const PEOPLE = 8;
/** of whom in Chromium pages (the others synthetic) */
const PAGES = 3;
const LONG_MS = 300_000;
const LAPTOP = { width: 1280, height: 720 };
const PHONE = { width: 390, height: 844 };

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

/** Every video this page receives fits its tile: decoded, at most twice the tile's device pixels either way. */
async function everyVideoFits(p: Participant, nick: string): Promise<void> {
  let last = "";
  await eventually(async () => {
    const [got, tiles] = [await receivedFrom(p.page), await tileSizesOn(p)];
    const bad = Object.entries(got).filter(([n, r]) => {
      const t = tiles[n];
      return !t || r.frameWidth === 0 || r.frameWidth > 2 * t.width || r.frameHeight > 2 * t.height;
    });
    last = JSON.stringify(bad.map(([n, r]) => [n, `${r.frameWidth}x${r.frameHeight}`, tiles[n]]));
    return Object.keys(got).length === PEOPLE - 1 && bad.length === 0 ? got : undefined;
  }, `every video to fit its tile at ${nick}`, 60_000).catch((e: unknown) => {
    throw new Error(`${String(e)}; too large: ${last}`);
  });
}

describe("eight people through the bridge", () => {
  let stack: BridgeStack;
  const ps: Participant[] = [];
  const synthetic: SyntheticParticipant[] = [];

  beforeAll(async () => {
    stack = await startBridgeStack();
  }, 300_000);
  afterAll(async () => {
    await Promise.all([...ps.map((p) => p.close()), ...synthetic.map((s) => s.close())]);
    await stack?.stop();
  });

  it("decodes everyone, fits every video to its tile, sends nothing for a tile off screen, announces the speaker", { timeout: 1_200_000 }, async () => {
    const room = freshRoom("eight");
    const url = `${stack.target.httpUrl}/${room}`;
    const nicks = Array.from({ length: PEOPLE }, (_, i) => (i < PAGES ? `p${i + 1}` : `s${i + 1}`));
    for (const nick of nicks.slice(0, PAGES)) {
      const p = await openReadyParticipant(stack.browser, url, 3, { initScripts: [SPEAKING_MICROPHONE] });
      ps.push(p);
      await join(p, nick);
      await waitForCall(p, 120_000);
    }
    for (const p of ps) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: LONG_MS });
    const video = encodeTestCamera("simulcast");
    for (const nick of nicks.slice(PAGES)) synthetic.push(await SyntheticParticipant.join({ httpUrl: stack.target.httpUrl, room, nick, video }));
    for (const [i, p] of ps.entries()) await waitForRemoteVideo(p.page, nicks.filter((_, k) => k !== i), LONG_MS);

    // Every page decodes every video it shows (each goes on decoding), and every received video fits its tile
    // (layers follow the reported sizes within a few seconds).
    for (const [i, p] of ps.entries()) {
      const before = await receivedFrom(p.page);
      await eventually(async () => {
        const now = await receivedFrom(p.page);
        return nicks.every((n, k) => k === i || (now[n]?.framesDecoded ?? 0) >= (before[n]?.framesDecoded ?? 0) + 10) || undefined;
      }, `every video to go on decoding at ${nicks[i]}`, 60_000);
    }
    for (const [i, p] of ps.entries()) await everyVideoFits(p, nicks[i]!);
    // Encrypted end to end at eight: every page says so, every page and every synthetic member (the MLS group has
    // the eight of them) has the same safety code, and no page flags a ghost or an occupant outside the group.
    await eventually(async () => {
      const codes = new Set(synthetic.map((s) => s.member.safetyCode() ?? ""));
      for (const p of ps) {
        const e2ee = await p.page.locator("[data-e2ee]").first().getAttribute("data-e2ee");
        codes.add(e2ee === "on" ? await p.page.evaluate(`document.querySelector("[data-safety-code]")?.textContent?.trim() ?? ""`) : "off");
      }
      return (codes.size === 1 && !codes.has("") && !codes.has("off")) || undefined;
    }, "one safety code on every page and in every synthetic member", 30_000);
    expect(synthetic.every((s) => s.member.members().length === PEOPLE)).toBe(true);
    for (const p of ps) expect(await p.page.locator("[data-ghost], [data-not-in-group]").count()).toBe(0);

    // Every tile is small: the bridge asks the synthetic cameras for their lowest layer only (`layerDemand`).
    await eventually(async () => synthetic.every((s) => s.camera?.layersSent === 1) || undefined, "the synthetic cameras down to one layer", 30_000);

    // The grid fills the stage on a laptop and on a phone, nothing sticks out of the window, and what arrives
    // follows the new tile sizes.
    const p1 = ps[0]!;
    for (const size of [PHONE, LAPTOP]) {
      await p1.page.setViewportSize(size);
      await settle(p1.page);
      expect(await p1.page.locator("[data-stage]").getAttribute("data-layout")).toBe("grid");
      expect(await stageCoverage(p1.page), `coverage at ${size.width}×${size.height}`).toBeGreaterThanOrEqual(0.7);
      expect(await overlappingTiles(p1.page)).toEqual([]);
      expect(await outsideViewport(p1.page), `outside the window at ${size.width}×${size.height}`).toEqual([]);
      await everyVideoFits(p1, "p1");
      expect(await axeViolations(p1.page), `accessibility at ${size.width}×${size.height}`).toEqual([]);
    }

    // p1 shows s4 large: the bridge moves p1 up to s4's 720p layer; small again, s4's video fits its tile again.
    await forceTile(p1.page, "s4", "width:1200px;height:675px");
    await eventually(async () => ((await receivedFrom(p1.page)).s4?.frameHeight ?? 0) >= 720 || undefined, "s4's 720p layer at p1", 60_000);
    expect(synthetic[0]!.camera?.layersSent).toBe(3);
    await forceTile(p1.page, "s4", null);
    await everyVideoFits(p1, "p1");

    // p1 takes p2 off screen: no video bytes of p2 arrive at p1; shown again, p2's video comes back.
    await forceTile(p1.page, "p2", "display:none");
    await eventually(async () => {
      const before = (await receivedFrom(p1.page)).p2!;
      await new Promise((r) => setTimeout(r, 2000));
      const after = (await receivedFrom(p1.page)).p2!;
      return after.bytesReceived - before.bytesReceived < 1000 || undefined;
    }, "no video bytes of p2 at p1", 60_000);
    await forceTile(p1.page, "p2", null);
    const back = (await receivedFrom(p1.page)).p2!.framesDecoded;
    await eventually(async () => ((await receivedFrom(p1.page)).p2?.framesDecoded ?? 0) > back + 10 || undefined, "p2's video back at p1", 60_000);

    // Everyone mutes (the synthetic participants send no sound); then p3 speaks: p1's page marks p3's tile within 2 s
    // of p3's microphone going on.
    for (const p of ps) await p.page.getByRole("button", { name: "Microphone" }).click();
    await p1.page.locator("[data-active-speaker]").waitFor({ state: "detached", timeout: 60_000 });
    const ms = await timeToActiveSpeaker(p1.page, ps[2]!.page, "p3");
    console.log(`active speaker (eight through the bridge): marked ${ms} ms after the microphone went on`);
    expect(ms).toBeLessThanOrEqual(2000);
    await p1.page.screenshot({ path: joinPath(REPO_ROOT, "docs/screenshots/call-8.png") });
  });
});
