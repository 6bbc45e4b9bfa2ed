/**
 * `npm run bench:recovery`: how long a call of three takes to recover when its bridge host fails, with the real
 * edge (`wrangler dev`), two real bridge hosts and three headless Chromium pages (test/node/helpers/bridge-failover.ts,
 * the same rounds as test/node/e2e-bridge-failover.test.ts).
 *
 * Faults: `kill` (SIGKILL of the bridge host), `freeze` (SIGSTOP: sockets open, nothing answers), `worker` (SIGKILL
 * of the room's mediasoup worker). Each round: a fresh room of three on the bridge, the fault, then the time until
 * every page decodes video from both others again. Targets: kill ≤ 2 s, freeze ≤ 3 s, worker ≤ 2 s.
 * Options: --rounds N (per fault, default 5), --faults kill,freeze,worker, --marks (per round: when each page saw
 * each other again, and the app's bridge marks in ms after the fault).
 * Prints figures; exits 0 even when a target is missed (it's a measurement, not a test).
 */
import { loadavg } from "node:os";
import type { Participant } from "../node/helpers/browser";
import { failAndRecover, startFailoverStack, threeOnTheBridge, type Fault } from "../node/helpers/bridge-failover";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(opt("rounds") ?? 5);
const faults = (opt("faults") ?? "kill,freeze,worker").split(",") as Fault[];
const TARGET_MS: Record<Fault, number> = { kill: 2000, freeze: 3000, worker: 2000 };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const stack = await startFailoverStack();
const results = new Map<Fault, number[]>();
try {
  for (let r = 0; r < rounds; r++) {
    for (const fault of faults) {
      await stack.heal();
      const open: Participant[] = [];
      try {
        const ps = await threeOnTheBridge(stack, open);
        const res = await failAndRecover(stack, ps, fault);
        results.set(fault, [...(results.get(fault) ?? []), res.recoveryMs]);
        console.log(`${fault} round ${r + 1}: ${res.recoveryMs} ms (load avg ${loadavg()[0]!.toFixed(1)})`);
        if (args.includes("--marks")) {
          console.log(`  per pair (ms): ${JSON.stringify(res.perPair)}`);
          for (const [i, m] of res.marks.entries()) console.log(`  page ${i + 1}: ${m}`);
        }
      } catch (e) {
        console.log(`${fault} round ${r + 1}: failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
      } finally {
        await Promise.all(open.map((p) => p.close()));
      }
    }
  }
} finally {
  await stack.stop();
}
console.log("\nfault   n  median   min    max    target");
for (const fault of faults) {
  const xs = results.get(fault) ?? [];
  if (xs.length === 0) continue;
  console.log(
    `${fault.padEnd(7)} ${String(xs.length).padStart(2)}  ${(median(xs) / 1000).toFixed(2)} s  ${(Math.min(...xs) / 1000).toFixed(2)} s  ${(Math.max(...xs) / 1000).toFixed(2)} s  ≤ ${TARGET_MS[fault] / 1000} s`,
  );
}
