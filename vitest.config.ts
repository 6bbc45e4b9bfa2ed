import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/**
 * Two projects:
 *  - "workers": pure protocol modules and Durable Object tests inside the real Workers runtime (workerd).
 *  - "node": tests that drive real processes from Node: `wrangler dev` with real XMPP clients, mediasoup,
 *    coturn, headless Chromium. Run one file at a time (they start servers and share 2 cores).
 */

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            main: "./workers/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: { ENVIRONMENT: "development" } },
          }),
        ],
        test: { name: "workers", include: ["test/unit/**/*.test.ts", "test/durable/**/*.test.ts"], sequence: { groupOrder: 0 } },
      },
      {
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          fileParallelism: false,
          // After the workers project, not beside it: its many workerd processes would share the 2 cores with the
          // end-to-end tests, whose time goals then measure the machine (vitest runs projects at once by default).
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
