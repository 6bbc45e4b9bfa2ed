/**
 * End-to-end, the hair check's connection check: real headless Chromium, the real edge (`wrangler dev`,
 * XEP-0215 credentials, GET /api/bridges), the real bridge host and real coturn. With coturn and a bridge running,
 * every row says "ok" (STUN, TURN over UDP and over TCP, the bridge; the README's hair-check screenshot). The "Media
 * bridge" row says
 *  - "ok" when the configured bridge answers,
 *  - "fail" once that bridge is down (nothing listens on its port any more),
 *  - "info" on an edge without bridges (calls of three or more connect everyone directly).
 * On an edge whose STUN/TURN server does not run, STUN warns and TURN fails.
 */
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type BridgeHandle } from "./helpers/bridge-harness";
import { launchBrowser, openParticipant, type Participant } from "./helpers/browser";
import { freshRoom, screenshotPath, startWebTarget, type WebTarget } from "./helpers/web-app";
import { loadCoturnConfig } from "../../bridge-host/coturn/config";
import { startCoturn, type CoturnHandle } from "../../bridge-host/coturn/launcher";
import { freeUdpTcpPort } from "../../bridge-host/coturn/ports";

const TURN_SECRET = "e2e-connectivity-turn-secret-0123456789";

/** coturn on loopback (development mode), its relay ports in a small range of their own. */
async function startLoopbackCoturn(): Promise<{ server: CoturnHandle; port: number }> {
  const min = 43000 + 64 * Math.floor(Math.random() * 60);
  const port = await freeUdpTcpPort({ min, max: min + 63 });
  const cfg = loadCoturnConfig({
    TURN_ENV: "development",
    TURN_SECRET,
    TURN_LISTEN_IPS: "127.0.0.1",
    TURN_RELAY_IPS: "127.0.0.1",
    TURN_PORT: String(port),
    TURN_MIN_PORT: String(min),
    TURN_MAX_PORT: String(min + 63),
    TURN_REALM: "parley.test",
  });
  return { server: await startCoturn(cfg, { onLog: () => {} }), port };
}

/** Every row's verdict and text, once none is pending. */
async function allVerdicts(p: Participant): Promise<Record<string, { verdict: string; text: string }>> {
  await p.page.locator('[data-check="parley-server"]').waitFor({ timeout: 60_000 });
  await p.page.locator('[data-check][data-verdict="pending"]').first().waitFor({ state: "detached", timeout: 60_000 });
  return p.page.evaluate(`Object.fromEntries([...document.querySelectorAll("[data-check]")].map((li) =>
    [li.getAttribute("data-check"), { verdict: li.getAttribute("data-verdict"), text: li.textContent }]))`);
}

const ROW = '[data-check="media-bridge"]';

/** Open a fresh hair check and wait (generously: loaded machine) for the media-bridge row's verdict. */
async function bridgeVerdict(p: Participant): Promise<{ verdict: string | null; text: string }> {
  const row = p.page.locator(`${ROW}:not([data-verdict="pending"])`);
  await row.waitFor({ timeout: 60_000 });
  return { verdict: await row.getAttribute("data-verdict"), text: (await row.textContent()) ?? "" };
}

describe("hair check: the media bridge connectivity check", () => {
  let bridge: BridgeHandle | undefined;
  let coturn: { server: CoturnHandle; port: number } | undefined;
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
    [bridge, coturn] = await Promise.all([startBridge(), startLoopbackCoturn()]);
    const turn = { TURN_SECRET, TURN_HOST: "127.0.0.1", TURN_PORT: String(coturn.port) };
    [withBridge, noBridge, browser] = await Promise.all([
      startWebTarget({ BRIDGES: bridge.controlUrl, BRIDGE_PUBLIC_ORIGINS: bridge.wsBaseUrl, BRIDGE_SECRET: bridge.secret, ...turn }),
      // No bridge, and a STUN/TURN port nothing listens on.
      startWebTarget({ TURN_SECRET, TURN_HOST: "127.0.0.1", TURN_PORT: String(await freeUdpTcpPort()) }),
      launchBrowser(),
    ]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await Promise.all([withBridge?.stop(), noBridge?.stop()]);
    await bridge?.stop();
    await coturn?.server.stop();
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
    expect(await r.json()).toEqual({ bridges: [new URL(bridge!.wsBaseUrl.replace(/^ws/, "http")).origin] });
    const p = await openHairCheck(withBridge);
    const { verdict, text } = await bridgeVerdict(p);
    expect(verdict, text).toBe("ok");
    expect(text).toMatch(/Reachable: calls of three or more people can use the media bridge/);
    // The probe went through the page's CSP (connect-src names the bridge): no violation was reported.
    expect(p.logs.filter((l) => /Content Security Policy|violat/i.test(l))).toEqual([]);
  });

  it("with coturn and the bridge running, every row says it works (README screenshot)", { timeout: 120_000 }, async () => {
    // Each edge instance has its own state directory, so a fixed, readable name is safe here (screenshot).
    const p = await openParticipant(browser, `${withBridge.httpUrl}/brave-otter-42`);
    open.push(p);
    const rows = await allVerdicts(p);
    for (const check of ["parley-server", "stun", "turn-over-udp", "turn-over-tcp", "media-bridge"]) {
      expect(rows[check]?.verdict, `${check}: ${rows[check]?.text}`).toBe("ok");
    }
    await p.page.locator("video[data-local]").evaluate("v => new Promise(r => { const t = () => v.videoWidth > 0 ? r(0) : setTimeout(t, 20); t(); })");
    await p.page.getByLabel("Name", { exact: true }).fill("Alice");
    await p.page.screenshot({ path: screenshotPath("hair-check.png") });
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
    // Its STUN/TURN port has nobody listening: STUN warns, TURN fails, in plain words.
    const rows = await allVerdicts(p);
    expect(rows["stun"]?.verdict, rows["stun"]?.text).toBe("warn");
    expect(rows["turn-over-udp"]?.verdict, rows["turn-over-udp"]?.text).toBe("fail");
    expect(rows["turn-over-tcp"]?.verdict, rows["turn-over-tcp"]?.text).toBe("fail");
  });
});
