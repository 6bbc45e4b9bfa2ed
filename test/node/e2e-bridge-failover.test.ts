/**
 * A bridge host that fails under a three-person call, end to end: the real edge (`wrangler dev`, room Durable
 * Object) with two real bridge hosts (mediasoup), three headless Chromium pages running the web app.
 *  - killed (SIGKILL): the pages' sockets close; each page reports the bridge to the room, which finds it down with
 *    its own quick health check and moves the call to the other bridge: all three decode each other again ≤ 2 s;
 *  - frozen (SIGSTOP: sockets stay open, nothing answers): the pages' pings go unanswered, they report it, the room
 *    confirms and moves: ≤ 3 s;
 *  - the room's mediasoup worker killed: the bridge replaces it and recreates the room (4503); the pages fetch a
 *    fresh grant and connect again to the same bridge: ≤ 2 s.
 * Recovery is measured from the pages' own <video> elements (helpers/bridge-failover.ts), in ROUNDS fresh calls per
 * fault: the goal is met by the median, as `npm run bench:recovery` reports it for docs/benchmarks.md. On the new
 * link, each page asks for its audio producer only once it receives both others' video (bridge-send.ts). Media stays
 * end-to-end encrypted throughout (`[data-e2ee]` on every page after the move).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Participant } from "./helpers/browser";
import { failAndRecover, startFailoverStack, threeOnTheBridge, type Fault, type FailoverStack } from "./helpers/bridge-failover";

const GOAL_MS: Record<Fault, number> = { kill: 2000, freeze: 3000, worker: 2000 };
/** Five rounds: on this 2-core machine a round is now and then a second slower than the others (three busy pages). */
const ROUNDS = 5;

/** A page's marks ("name@ms …", helpers/bridge-failover.ts) as name -> first ms. */
function markTimes(marks: string): Map<string, number> {
  const at = new Map<string, number>();
  for (const m of marks.split(" ").filter(Boolean)) {
    const i = m.lastIndexOf("@");
    if (!at.has(m.slice(0, i))) at.set(m.slice(0, i), Number(m.slice(i + 1)));
  }
  return at;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;

describe("web app: a bridge host that fails under a call of three", () => {
  let stack: FailoverStack;
  const open: Participant[] = [];

  beforeAll(async () => {
    stack = await startFailoverStack();
  }, 240_000);
  afterAll(async () => {
    await stack?.stop();
  });
  beforeEach(async () => {
    await stack.heal();
  }, 120_000);
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const p of open) console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}`);
      if (stack.target.edge) console.error(`wrangler output (tail):\n${stack.target.edge.output().slice(-3000)}`);
      for (const b of stack.bridges) console.error(`bridge ${b.controlUrl} output (tail):\n${b.handle.output().slice(-2000)}`);
    }
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  it.each<[Fault, string]>([
    ["kill", "the bridge host is killed: the call moves to the other bridge"],
    ["freeze", "the bridge host freezes (sockets open, no answers): the pages notice, the room confirms and moves the call"],
    ["worker", "the room's media worker is killed: the pages connect again to the recreated room"],
  ])("%s: %s", { timeout: 900_000 }, async (fault) => {
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) {
        await Promise.all(open.splice(0).map((p) => p.close()));
        await stack.heal();
      }
      const ps = await threeOnTheBridge(stack, open);
      const r = await failAndRecover(stack, ps, fault);
      console.log(`recovery after ${fault}: ${r.recoveryMs} ms ${JSON.stringify(r.perPair)} (bridge ${r.from} -> ${r.to})`);
      for (const [i, m] of r.marks.entries()) console.log(`  page ${i} marks (ms after the fault): ${m}`);
      if (fault === "worker") expect(r.to).toBe(r.from);
      else expect(r.to).not.toBe(r.from);
      // Still end-to-end encrypted on the new link, with the same group's keys: the pages decode each other's frames
      // again, which they could not if those frames did not decrypt.
      for (const p of ps) expect(await p.page.locator("[data-e2ee]").getAttribute("data-e2ee"), "[data-e2ee] after the move").toBe("on");
      for (const [i, m] of r.marks.entries()) {
        const at = markTimes(m);
        const audio = at.get("produce:audio");
        expect(audio, `page ${i}: audio produced on the new link`).toBeDefined();
        // both others' video first (or the wait's 2 s bound)
        const videoUntil = Math.min((at.get("produce:video") ?? 0) + 2000, ...["alice", "bob", "carol"].filter((_, j) => j !== i).map((n) => at.get(`consumed:${n}:video`) ?? Infinity));
        expect(audio!, `page ${i}: audio asked for before both others' video was received`).toBeGreaterThanOrEqual(videoUntil);
      }
      times.push(r.recoveryMs);
    }
    console.log(`${fault}: median ${median(times)} ms of ${JSON.stringify(times)}`);
    expect(median(times)).toBeLessThanOrEqual(GOAL_MS[fault]);
  });
});
