/**
 * Test-only page hook: an end-to-end test puts a group key source on the page as `globalThis.__parleyTestGroupKeys`
 * (with playwright's addInitScript, before the app runs), and the hair check provides it to the call
 * (call-encryption.ts provideGroupKeys) where the product provides the MLS member. Nothing in the product sets it.
 */
import type { GroupKeySource } from "./keys";

export function testGroupKeySource(): GroupKeySource | undefined {
  const s = (globalThis as { __parleyTestGroupKeys?: Partial<GroupKeySource> }).__parleyTestGroupKeys;
  if (!s) return undefined;
  for (const f of ["onEpoch", "current", "members", "safetyCode"] as const) {
    if (typeof s[f] !== "function") throw new TypeError(`__parleyTestGroupKeys.${f} is not a function`);
  }
  return s as GroupKeySource;
}
