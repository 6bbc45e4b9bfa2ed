/**
 * End-to-end, the hair check's connection check for the media bridge (issue 4): real headless Chromium, the real
 * edge (`wrangler dev`, GET /api/bridges) and the real bridge host. The "Media bridge" row says
 *  - "ok" when the configured bridge answers,
 *  - "fail" once that bridge is down (nothing listens on its port any more),
 *  - "info" on an edge without bridges (calls of three or more connect everyone directly).
 */
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type BridgeHandle } from "./helpers/bridge-harness";
import { launchBrowser, openParticipant, type Participant } from "./helpers/browser";
import { freshRoom, startWebTarget, type WebTarget } from "./helpers/web-app";

const ROW = '[data-check="media-bridge"]';

/** Open a fresh hair check and wait (generously: loaded machine) for the media-bridge row's verdict. */
async function bridgeVerdict(p: Participant): Promise<{ verdict: string | null; text: string }> {
  const row = p.page.locator(`${ROW}:not([data-verdict="pending"])`);
  await row.waitFor({ timeout: 60_000 });
  return { verdict: await row.getAttribute("data-verdict"), text: (await row.textContent()) ?? "" };
}

describe("hair check: the media bridge connectivity check", () => {
  let bridge: BridgeHandle | undefined;
  let withBridge: WebTarget;
  let noBridge: WebTarget;
  let browser: Browser;
  const open: Participant[] = [];

  async function openHairCheck(target: WebTarget): Promise<Participant> {
    const p = await openParticipant(browser, `${target.httpUrl}/${freshRoom("conn")}`);
    open.push(p);
    return p;
  }

  beforeAll(async () => {
    bridge = await startBridge();
    [withBridge, noBridge, browser] = await Promise.all([
      startWebTarget({ BRIDGES: bridge.controlUrl, BRIDGE_SECRET: bridge.secret }),
      startWebTarget(),
      launchBrowser(),
    ]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await Promise.all([withBridge?.stop(), noBridge?.stop()]);
    await bridge?.stop();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const p of open) console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}`);
      if (bridge) console.error(`bridge output (tail):\n${bridge.output().slice(-2000)}`);
    }
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  it("the edge lists the bridge's origin; the hair check reaches it: ok", { timeout: 120_000 }, async () => {
    const r = await fetch(`${withBridge.httpUrl}/api/bridges`);
    expect(await r.json()).toEqual({ bridges: [new URL(bridge!.controlUrl).origin] });
    const p = await openHairCheck(withBridge);
    const { verdict, text } = await bridgeVerdict(p);
    expect(verdict, text).toBe("ok");
    expect(text).toMatch(/Reachable: calls of three or more people can use the media bridge/);
    // The probe went through the page's CSP (connect-src names the bridge): no violation was reported.
    expect(p.logs.filter((l) => /Content Security Policy|violat/i.test(l))).toEqual([]);
  });

  it("the same edge once its bridge is down: fail", { timeout: 120_000 }, async () => {
    await bridge!.stop();
    bridge = undefined;
    const p = await openHairCheck(withBridge);
    const { verdict, text } = await bridgeVerdict(p);
    expect(verdict, text).toBe("fail");
    expect(text).toMatch(/Not reachable/);
    // The rest of the check is unaffected: the Parley server is still reachable.
    await p.page.locator('[data-check="parley-server"][data-verdict="ok"]').waitFor({ timeout: 60_000 });
  });

  it("an edge without bridges: info, in plain words", { timeout: 120_000 }, async () => {
    expect(await (await fetch(`${noBridge.httpUrl}/api/bridges`)).json()).toEqual({ bridges: [] });
    const p = await openHairCheck(noBridge);
    const { verdict, text } = await bridgeVerdict(p);
    expect(verdict, text).toBe("info");
    expect(text).toMatch(/no media bridge/);
  });
});
