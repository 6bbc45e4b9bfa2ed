/**
 * PRIVACY.md "No third parties": the web app, served by the real edge (`wrangler dev`) and loaded in real
 * headless Chromium, makes no request to any origin other than the edge itself (and the configured bridge host).
 * No CDN, font, analytics or error-reporting service ever sees the visitor. Works with whatever the app is:
 * it loads `/` and `/<room>` and clicks nothing.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser } from "./helpers/browser";
import { freePort, startEdge, type EdgeHandle } from "./helpers/wrangler-dev";

describe("privacy: no third-party requests", () => {
  let edge: EdgeHandle;
  let browser: Browser;
  let bridgeOrigin: string;

  beforeAll(async () => {
    // A bridge host is configured (nothing needs to listen there): requests to it are the only other allowed origin.
    bridgeOrigin = `http://127.0.0.1:${await freePort()}`;
    edge = await startEdge({ vars: { BRIDGES: bridgeOrigin } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await edge?.stop();
  });

  /** Load `path`, let the app settle, return every URL the page requested (HTTP and WebSocket). */
  async function visit(path: string): Promise<{ urls: string[]; page: Page; cspViolations: string[]; close: () => Promise<void> }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const urls: string[] = [];
    page.on("request", (r) => urls.push(r.url()));
    page.on("websocket", (ws) => urls.push(ws.url()));
    // (browser-side code as strings: this project type-checks Node code without the DOM lib)
    await page.addInitScript(`window.__csp = [];
      document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`);
    const res = await page.goto(`${edge.httpUrl}${path}`, { waitUntil: "load", timeout: 45_000 });
    expect(res?.status()).toBe(200);
    expect(res?.headers()["content-security-policy"]).toContain("default-src 'none'");
    // Let lazy loads, service workers, fonts etc. happen; "networkidle" may never come if the app keeps a socket open.
    await page.waitForLoadState("networkidle", { timeout: 15_000 }).catch(() => undefined);
    const cspViolations = await page.evaluate<string[]>(`window.__csp`);
    return { urls, page, cspViolations, close: () => context.close() };
  }

  function foreign(urls: string[]): string[] {
    const edgeHost = new URL(edge.httpUrl).host;
    const bridgeHost = new URL(bridgeOrigin).host;
    return urls.filter((u) => {
      const url = new URL(u);
      if (url.protocol === "data:" || url.protocol === "blob:" || url.protocol === "about:") return false;
      if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) return true;
      return url.host !== edgeHost && url.host !== bridgeHost;
    });
  }

  for (const path of ["/", "/privacy-check-room"]) {
    it(`loading ${path} contacts only the edge`, async () => {
      const v = await visit(path);
      try {
        // The recorder works: the document itself was seen.
        expect(v.urls).toContain(`${edge.httpUrl}${path}`);
        expect(foreign(v.urls), `requests:\n${v.urls.join("\n")}`).toEqual([]);
        // Nothing was blocked by CSP either (a blocked third-party load would also be a broken promise).
        expect(v.cspViolations).toEqual([]);
        // No cookies: nothing to track a visitor across visits.
        expect(await v.page.context().cookies()).toEqual([]);
      } finally {
        await v.close();
      }
    });
  }

  it("the foreign-origin check does catch a third-party request (control)", async () => {
    const v = await visit("/");
    try {
      await v.page.evaluate(`(() => {
        const img = document.createElement("img");
        img.src = "http://third-party.invalid/pixel.gif";
        document.body.appendChild(img);
      })()`);
      await v.page.waitForTimeout(300);
      expect(foreign(v.urls).some((u) => u.includes("third-party.invalid"))).toBe(true);
    } finally {
      await v.close();
    }
  });
});
