/** Command-line flags shared by the benches. */
import type { Page } from "playwright-core";

/** A whole-number flag of at least `min`, or an error naming the flag. */
export function intFlag(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
}

/**
 * `--e2ee mls|plain|both` (default both): `mls` the product's end-to-end encryption (MLS group keys), `plain` the
 * baseline without frame encryption (test/node/helpers/e2ee-keys.ts PLAINTEXT); `both` alternates them in one run.
 */
export type E2eeMode = "mls" | "plain";
export function e2eeModes(v = "both"): E2eeMode[] {
  if (v === "both") return ["plain", "mls"];
  if (v === "mls" || v === "plain") return [v];
  throw new Error(`--e2ee must be mls, plain or both, not ${v}`);
}

/** Every page shows the encryption state `mode` means (`[data-e2ee]`), or the figures are not what they say. */
export async function checkE2eeMode(mode: E2eeMode, ps: Array<{ page: Page }>): Promise<void> {
  const want = mode === "mls" ? "on" : "off";
  for (const p of ps) {
    const got = await p.page.locator("[data-e2ee]").getAttribute("data-e2ee");
    if (got !== want) throw new Error(`a ${mode} page shows data-e2ee="${got}", not "${want}"`);
  }
}
