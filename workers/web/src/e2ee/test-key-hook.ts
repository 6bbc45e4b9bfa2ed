/**
 * Test-only page hooks, read by the hair check (hair-check.ts) where it provides the call's encryption. Tests set them
 * with playwright's addInitScript, before the app runs; nothing in the product sets them.
 *
 *  - `globalThis.__parleyTestGroupKeys`: a group key source the hair check provides to the call
 *    (call-encryption.ts provideGroupKeys) instead of the MLS member's (test/node/helpers/e2ee-keys.ts makes one).
 *  - `globalThis.__parleyTestPlaintext = true`: the hair check provides no call encryption at all, and Join still
 *    works: the call's frames go out unencrypted, `[data-e2ee]` stays `off` and the badge never says "Encrypted end to
 *    end", and no MLS member starts (mls-xmpp.ts): the page is not in the room's group. It exists
 *    only as the baseline of the benchmarks' "with and without encryption" figures (test/bench/call.ts, cpu.ts) and for
 *    tests of what a page that does not decrypt receives.
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

/** Whether a test asked for a call without frame encryption (see above); only exactly `true` counts. */
export function testPlaintext(): boolean {
  return (globalThis as { __parleyTestPlaintext?: unknown }).__parleyTestPlaintext === true;
}
