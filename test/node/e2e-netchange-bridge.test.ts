/**
 * A laptop that changes network keeps its call on the bridge: alice, bob and carol talk through the real bridge host
 * (mediasoup); bob's Chromium runs in its own network namespace (helpers/netns.ts) whose link goes down for 5 s and
 * comes back on a new subnet (as on another Wi-Fi). Everyone must see everyone's video again within 3 s of the link
 * coming back, and no page may show bob (or anyone) as gone meanwhile. Real edge (`wrangler dev`), real Chromium.
 * The outage is repeated RUNS times in the same call (NETCHANGE_RUNS=N to change it) and the median must meet the
 * goal, as docs/benchmarks.md "Recovery" reports it.
 */
import { describe, expect, it } from "vitest";
import { join, waitForCall, waitForRemoteVideo } from "./helpers/browser";
import { openReadyParticipant } from "./helpers/bridge-participants";
import { expectRosterKept, median, outageAndRecovery, netchangeSuite, WATCH_SCRIPT, watchAll, type Viewer } from "./helpers/netchange";
import { isRoot } from "./helpers/netns";
import { freshRoom } from "./helpers/web-app";

const RUNS = Number(process.env.NETCHANGE_RUNS ?? 3);
const OUTAGE_MS = 5000;
const BUDGET_MS = 3000;
/** Generous: the move to the bridge on a loaded 2-core machine (see e2e-bridge.test.ts). */
const SWITCH_TIMEOUT_MS = 150_000;

describe.skipIf(!isRoot)("network change on a bridge call (needs root)", () => {
  const suite = netchangeSuite({ bridge: true });

  it("everyone's media flows again within 3 s of the link coming back on a new subnet; tiles and roster stay", { timeout: 300_000 + RUNS * 60_000 }, async () => {
    const url = `${suite.stack.edge.httpUrl}/${freshRoom("netchange-bridge")}`;
    const alice = await openReadyParticipant(suite.stack.host, url, 3, { initScripts: [WATCH_SCRIPT] });
    suite.open.push(alice);
    const bob = await openReadyParticipant(suite.stack.moved, url, 3, { initScripts: [WATCH_SCRIPT] });
    suite.open.push(bob);
    const carol = await openReadyParticipant(suite.stack.host, url, 3, { initScripts: [WATCH_SCRIPT] });
    suite.open.push(carol);
    for (const [p, nick] of [[alice, "alice"], [bob, "bob"], [carol, "carol"]] as const) {
      await join(p, nick);
      await waitForCall(p);
    }
    for (const p of [alice, bob, carol]) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: SWITCH_TIMEOUT_MS });
    await Promise.all([
      waitForRemoteVideo(alice.page, ["bob", "carol"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(bob.page, ["alice", "carol"], SWITCH_TIMEOUT_MS),
      waitForRemoteVideo(carol.page, ["alice", "bob"], SWITCH_TIMEOUT_MS),
    ]);
    const viewers: Viewer[] = [
      { nick: "alice", page: alice.page, sees: ["bob", "carol"] },
      { nick: "bob", page: bob.page, sees: ["alice", "carol"] },
      { nick: "carol", page: carol.page, sees: ["alice", "bob"] },
    ];
    const start = await watchAll(viewers);

    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const r = await outageAndRecovery(suite.stack.link, viewers, bob.page, OUTAGE_MS);
      times.push(r.ms);
      console.log(`network change (bridge), run ${run + 1}: everyone's media ${r.ms} ms after the link came back (${r.detail})`);
      await watchAll(viewers);
    }
    console.log(`network change (bridge): median ${median(times)} ms over ${times.length} run(s): ${times.join(", ")}`);
    await expectRosterKept(viewers, start);
    for (const p of [alice, bob, carol]) expect(await p.page.locator("[data-media-mode]").getAttribute("data-media-mode")).toBe("bridge");
    expect(median(times)).toBeLessThanOrEqual(BUDGET_MS);
  });
});
