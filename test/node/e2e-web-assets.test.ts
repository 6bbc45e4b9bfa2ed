/**
 * The built web app as the real edge (`wrangler dev`) serves it: no inline scripts or inline styles (so a
 * `script-src 'self'` CSP holds), content-hashed asset names, every referenced asset served, no third-party URLs,
 * and the initial JavaScript (landing + hair check) within the 100 KB gzip budget. The budget applies to the
 * bytes the edge actually serves.
 */
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWebTarget, type WebTarget } from "./helpers/web-app";

const BUDGET_GZIP = 100 * 1024;

describe("web app assets served by the edge", () => {
  let target: WebTarget;
  beforeAll(async () => {
    target = await startWebTarget();
  });
  afterAll(async () => {
    await target?.stop();
  });

  async function get(path: string): Promise<{ status: number; type: string; body: Buffer }> {
    const r = await fetch(`${target.httpUrl}${path}`);
    return { status: r.status, type: r.headers.get("content-type") ?? "", body: Buffer.from(await r.arrayBuffer()) };
  }

  it("serves the app shell at / and at a room path, with no inline script or style", async () => {
    for (const path of ["/", "/brave-otter-42"]) {
      const page = await get(path);
      expect(page.status).toBe(200);
      expect(page.type).toContain("text/html");
      const html = page.body.toString("utf8");
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.length).toBeGreaterThan(0);
      for (const [, attrs, body] of scripts) {
        expect(attrs).toMatch(/\bsrc="\/assets\/[^"]+-[A-Z0-9]{8}\.js"/);
        expect(body?.trim()).toBe("");
      }
      expect(html).not.toMatch(/\sstyle=/i);
      expect(html).not.toMatch(/<style\b/i);
      expect(html).not.toMatch(/\son[a-z]+=/i); // no inline event handlers
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i); // nothing third-party
    }
  });

  it("keeps the initial JavaScript (entry + static imports) under 100 KB gzipped", async () => {
    const html = (await get("/")).body.toString("utf8");
    const entry = /<script type="module" src="([^"]+)"/.exec(html)?.[1];
    expect(entry).toBeTruthy();
    // Follow static imports from the entry (esbuild emits `from"./chunk-X.js"` / `import"./chunk-X.js"`).
    const seen = new Map<string, number>();
    const queue = [entry!];
    while (queue.length > 0) {
      const path = queue.shift()!;
      if (seen.has(path)) continue;
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.type, path).toMatch(/javascript/);
      seen.set(path, gzipSync(res.body, { level: 9 }).length);
      const code = res.body.toString("utf8");
      for (const m of code.matchAll(/(?:\bfrom|\bimport)\s*"(\.\/[^"]+\.js)"/g)) {
        queue.push(new URL(m[1]!, `http://x${path}`).pathname);
      }
    }
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    console.log(`initial JS: ${seen.size} files, ${(total / 1024).toFixed(1)} KiB gzipped`);
    expect(total).toBeLessThanOrEqual(BUDGET_GZIP);
    // StanzaJS and mediasoup-client are not in the initial files (they load on Join / in bridge mode).
    for (const path of seen.keys()) {
      const code = (await get(path)).body.toString("utf8");
      expect(code).not.toContain("urn:xmpp:jingle:1");
      expect(code).not.toContain("getRouterRtpCapabilities");
    }
  });

  it("serves the stylesheet and the icon referenced by the page", async () => {
    const html = (await get("/")).body.toString("utf8");
    const hrefs = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!);
    expect(hrefs.some((h) => /^\/assets\/style-[A-Z0-9]{8}\.css$/.test(h))).toBe(true);
    for (const href of hrefs) expect((await get(href)).status, href).toBe(200);
  });
});
