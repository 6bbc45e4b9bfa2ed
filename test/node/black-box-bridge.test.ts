/**
 * Black-box check of the local stack as the README starts it (`npm start`: workers/scripts/dev.mjs with its
 * development defaults): a call of two through its bridge in headless Chromium (bridge-host/test-client/page.ts),
 * and meanwhile 60 raw sockets from another address that upgrade to the room's WebSocket without a grant, ignore the
 * close frame and write 64,000-byte frames for 20 s (helpers/bridge-flood.ts). The bridge process's RSS must stay
 * within +50 MB and the call must keep flowing. The room and grants are made as the edge makes them, with the
 * development BRIDGE_SECRET the stack runs with.
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintGrant } from "../../contract/grants";
import { bridgeControlKey, signRequest } from "../../contract/signed-request";
import { DEV_SECRETS } from "../../contract/secrets";
import { startBrowserHarness, type BrowserHarness } from "./helpers/bridge-browser";
import { floodDuringCall, startTwoPartyCall } from "./helpers/bridge-flood";
import { startLocalStack, type LocalStack } from "./helpers/local-stack";

const MB = 1024 * 1024;
const SECRET = DEV_SECRETS.BRIDGE_SECRET;

describe("black box: the local stack's bridge under a grantless flood", () => {
  let stack: LocalStack;
  let browser: BrowserHarness;

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startLocalStack({ turn: false }), startBrowserHarness()]);
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("keeps the bridge's memory within +50 MB and the call flowing", { timeout: 240_000 }, async () => {
    // The bridge process: the one running bridge-host/src/main.ts with the mediasoup worker as its child.
    const procs = stack.processes();
    const worker = procs.find((p) => /mediasoup-worker/.test(p.cmdline));
    expect(worker).toBeDefined();
    const bridgePid = procs.find((p) => /bridge-host\/src\/main\.ts/.test(p.cmdline) && childrenOf(p.pid).includes(worker!.pid))?.pid;
    expect(bridgePid).toBeDefined();

    const room = `bb-${Date.now().toString(36)}`;
    const body = JSON.stringify({ room });
    const key = await bridgeControlKey(SECRET, stack.bridgeControlUrl);
    const headers = await signRequest(key, "POST", new URL(stack.bridgeControlUrl).host, "/v1/rooms", body);
    const res = await fetch(`${stack.bridgeControlUrl}/v1/rooms`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body });
    expect(res.status).toBe(200);
    const { wsUrl } = (await res.json()) as { wsUrl: string };
    expect(wsUrl.startsWith(stack.bridgeWsUrl)).toBe(true);

    const call = await startTwoPartyCall(() => browser.newPage(), wsUrl, (nick) => mintGrant(SECRET, room, nick));
    const { before, flood: r, after } = await floodDuringCall(bridgePid!, wsUrl, call);
    expect(r.aborted).toBe(false);
    expect(r.peak - r.baseline).toBeLessThan(50 * MB);
    expect(r.stats.bytesWritten).toBeGreaterThan(20 * MB);
    expect(after.audio - before.audio).toBeGreaterThan(500);
    expect(after.video - before.video).toBeGreaterThan(500);
  });
});

/** Direct children of `pid` (/proc/PID/task/TID/children). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
    if (kids) out.push(...kids.split(/\s+/).map(Number));
  }
  return out;
}
