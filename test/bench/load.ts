/**
 * Load benchmark: many small rooms at once, loopback only (test/node/helpers/load.ts says what is measured and how).
 *
 *   npm run bench:load
 *   npm run bench:load -- --rooms 200 --occupants 3 --messages 5 --rate 100 --concurrency 20 --bridge-rooms 50 --bridge-peers 3
 *   npm run bench:load -- --skip-bridge        (or --skip-edge)
 */
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { bridgeHostLoad, signalingLoad } from "../node/helpers/load";
import { intFlag } from "./flags";

const { values: flags } = parseArgs({
  options: {
    rooms: { type: "string", default: "200" },
    occupants: { type: "string", default: "3" },
    messages: { type: "string", default: "5" },
    rate: { type: "string", default: "100" },
    concurrency: { type: "string", default: "20" },
    "bridge-rooms": { type: "string", default: "50" },
    "bridge-peers": { type: "string", default: "3" },
    "skip-edge": { type: "boolean", default: false },
    "skip-bridge": { type: "boolean", default: false },
  },
  strict: true,
});

const ROOMS = intFlag("rooms", flags.rooms, 1);
const OCCUPANTS = intFlag("occupants", flags.occupants, 2);
const MESSAGES = intFlag("messages", flags.messages, 1);
const RATE = intFlag("rate", flags.rate, 1);
const CONCURRENCY = intFlag("concurrency", flags.concurrency, 1);
const BRIDGE_ROOMS = intFlag("bridge-rooms", flags["bridge-rooms"], 1);
const BRIDGE_PEERS = intFlag("bridge-peers", flags["bridge-peers"], 1);

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(1)} ms, p99 ${pct(s, 99).toFixed(1)} ms, max ${(s.at(-1) ?? NaN).toFixed(1)} ms (n=${s.length})`;
};
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

async function edge(): Promise<void> {
  const r = await signalingLoad({ rooms: ROOMS, occupants: OCCUPANTS, messages: MESSAGES, rate: RATE, concurrency: CONCURRENCY });
  console.log(`edge: ${ROOMS} rooms x ${OCCUPANTS} occupants joined in ${r.joinWallS.toFixed(1)} s (${CONCURRENCY} rooms at a time)`);
  console.log(`  join (connect + SASL + bind + MUC join): ${summary(r.joinMs)}`);
  console.log(
    `  workerd RSS: ${mib(r.rssBase)} after one room, ${mib(r.rssLoaded)} with ${ROOMS + 1} rooms: ${kib((r.rssLoaded - r.rssBase) / ROOMS)} per room of ${OCCUPANTS}`,
  );
  console.log(
    `  fan-out (groupchat message to every occupant, ${ROOMS} rooms x ${MESSAGES} rounds at ${RATE} msg/s): ${summary(r.fanoutMs)}; ${r.delivered}/${r.expected} delivered`,
  );
  console.log(`    of which each room's first message: ${summary(r.firstRoundMs)}`);
  console.log(`  CPU during fan-out: workerd ${Math.round(r.workerdCpuPct)}% of one core, this bench process ${Math.round(r.clientsCpuPct)}%`);
  if (r.closedByServer > 0) console.log(`  WARNING: ${r.closedByServer} client connections were closed by the server`);
}

async function bridge(): Promise<void> {
  const r = await bridgeHostLoad({ rooms: BRIDGE_ROOMS, peers: BRIDGE_PEERS });
  console.log(`bridge: ${BRIDGE_ROOMS} rooms x ${BRIDGE_PEERS} peers (each: signaling WebSocket, a receive and a send transport), one worker`);
  console.log(`  control POST /v1/rooms: ${summary(r.createMs)}`);
  console.log(`  control GET /health with every room up: ${summary(r.healthMs)}: ${JSON.stringify(r.health)}`);
  console.log(`  signaling requests (getRouterRtpCapabilities, createWebRtcTransport): ${summary(r.requestMs)}`);
  console.log(
    `  RSS bridge + worker: ${mib(r.rssBase)} -> ${mib(r.rssLoaded)}: ${kib((r.rssLoaded - r.rssBase) / BRIDGE_ROOMS)} per room` +
      ` (of which the worker: ${mib(r.workerBase)} -> ${mib(r.workerLoaded)}, ${kib((r.workerLoaded - r.workerBase) / BRIDGE_ROOMS)} per room)`,
  );
}

async function main(): Promise<void> {
  console.log(`machine: ${cpus().length}x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}, load average ${load()}`);
  if (!flags["skip-edge"]) await edge();
  if (!flags["skip-bridge"]) await bridge();
  console.log(`load average at the end ${load()}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
