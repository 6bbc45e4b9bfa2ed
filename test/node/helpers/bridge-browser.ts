/**
 * Headless Chromium (system /usr/bin/chromium via playwright-core) loading the bridge test client
 * (bridge-host/test-client/page.ts, bundled with esbuild) from a tiny loopback HTTP server.
 */
import { build } from "esbuild";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--disable-background-networking",
  "--disable-gpu",
  "--no-first-run",
  // Tests use loopback only; WebRTC ignores the loopback interface unless told otherwise.
  "--allow-loopback-in-peer-connection",
];

export interface BrowserHarness {
  browser: Browser;
  pageUrl: string;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function startBrowserHarness(): Promise<BrowserHarness> {
  const bundle = await build({
    entryPoints: [new URL("../../../bridge-host/test-client/page.ts", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    write: false,
    logLevel: "silent",
  });
  const js = bundle.outputFiles[0]!.text;
  const html = `<!doctype html><meta charset="utf-8"><title>bridge test</title><script type="module" src="/page.js"></script>`;
  const server: Server = createServer((req, res) => {
    if (req.url === "/page.js") res.writeHead(200, { "content-type": "text/javascript" }).end(js);
    else if (req.url === "/") res.writeHead(200, { "content-type": "text/html" }).end(html);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // playwright gives every launch a fresh temporary profile (user data dir).
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS, timeout: 90_000 });
  return {
    browser,
    pageUrl,
    async newPage() {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(pageUrl);
      await page.waitForFunction(() => "parley" in globalThis, undefined, { timeout: 30_000 });
      return page;
    },
    async close() {
      await browser.close().catch(() => undefined);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
