/**
 * Load benchmark: many small rooms at once, loopback only, bounded (every loop stops by itself).
 *
 *   npm run bench:load
 *   npm run bench:load -- --rooms 200 --occupants 3 --messages 5 --rate 100 --concurrency 20 --bridge-rooms 50 --bridge-peers 3
 *   npm run bench:load -- --skip-bridge        (or --skip-edge)
 *
 * 1. Signaling against `wrangler dev` (starts it itself): ROOMS rooms x OCCUPANTS synthetic XMPP clients
 *    (RFC 7395, SASL ANONYMOUS, XEP-0045 join; test/node/helpers/raw-xmpp.ts), joined CONCURRENCY at a time.
 *    - join: WebSocket connect -> the room's subject message (XEP-0045 §7.2.15), p50/p99;
 *    - fan-out: MESSAGES rounds in which one occupant of every room sends a groupchat message, RATE messages a
 *      second in all (spread evenly: a steady load, not one burst); latency = arrival at each occupant (the sender
 *      included, XEP-0045 §7.4) - send time (one process, one clock), p50/p99;
 *    - memory: resident set of the workerd process after one warm-up room, and with every room joined; per room.
 * 2. One bridge host (real mediasoup, WORKERS=1): BRIDGE_ROOMS rooms made with the signed control API, each with
 *    BRIDGE_PEERS peers on WebSocket signaling (grant, getRouterRtpCapabilities, a receive and a send transport).
 *    - control API POST /v1/rooms and signaling request latency, p50/p99;
 *    - memory: resident set of the bridge process plus its worker, before and after; per room.
 * Each client connection presents its own CF-Connecting-IP (a 127/8 string; only a header) so that the per-address
 * connection limiter (30 a minute) counts clients, not this one process.
 */
import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { mintGrant } from "../../contract/grants";
import { startBridge } from "../node/helpers/bridge-harness";
import { RawXmppClient } from "../node/helpers/raw-xmpp";
import { startEdge } from "../node/helpers/wrangler-dev";
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

/** The process and every descendant, from /proc (ppid links). */
function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* exited */
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
}
const comm = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
};
/** CPU time used so far by a process, in ms (utime + stime, proc(5); 100 ticks a second). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/** Resident set size in bytes (VmRSS), 0 if the process is gone. */
function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Run `fn` over `items`, at most `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

const settle = () => new Promise((r) => setTimeout(r, 2000));

// ---- 1. signaling on the edge ------------------------------------------------------------------------------------

async function edgeLoad(): Promise<void> {
  const edge = await startEdge({ vars: { MAX_OCCUPANTS: String(Math.max(20, OCCUPANTS)) }, timeoutMs: 120_000 });
  const clients: RawXmppClient[] = [];
  let ip = 0;
  const nextIp = () => (ip++, `127.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`);
  try {
    const workerd = processTree(edge.process.pid!).find((p) => comm(p) === "workerd");
    if (!workerd) throw new Error("no workerd process under wrangler dev");
    const domain = "127.0.0.1";
    const joinOne = async (room: string, nick: string): Promise<{ c: RawXmppClient; ms: number }> => {
      const t0 = performance.now();
      const c = await RawXmppClient.connect(`${edge.wsUrl}/xmpp-websocket/${room}`, nextIp());
      clients.push(c);
      await c.login(domain);
      c.send(
        `<presence xmlns="jabber:client" to="${room}@conference.${domain}/${nick}"><x xmlns="http://jabber.org/protocol/muc"><history maxstanzas="0"/></x></presence>`,
      );
      await c.waitFor("<subject", 0, 60_000);
      return { c, ms: performance.now() - t0 };
    };
    // Warm-up room: code loaded and compiled before the baseline.
    for (let i = 0; i < OCCUPANTS; i++) await joinOne("load-warmup", `w${i}`);
    await settle();
    const base = rss(workerd);

    const rooms = Array.from({ length: ROOMS }, (_, r) => `load-${r}`);
    const t0 = performance.now();
    // Occupants of a room join one after another (as people do); rooms join in parallel, CONCURRENCY at a time.
    const joined = await pool(rooms, CONCURRENCY, async (room) => {
      const members: Array<{ c: RawXmppClient; ms: number }> = [];
      for (let i = 0; i < OCCUPANTS; i++) members.push(await joinOne(room, `u${i}`));
      return members;
    });
    const joinTimes = joined.flat().map((j) => j.ms);
    const joinWall = (performance.now() - t0) / 1000;
    await settle();
    const loaded = rss(workerd);
    console.log(`edge: ${ROOMS} rooms x ${OCCUPANTS} occupants joined in ${joinWall.toFixed(1)} s (${CONCURRENCY} rooms at a time)`);
    console.log(`  join (connect + SASL + bind + MUC join): ${summary(joinTimes)}`);
    console.log(
      `  workerd RSS: ${mib(base)} after one room, ${mib(loaded)} with ${ROOMS + 1} rooms: ${kib((loaded - base) / ROOMS)} per room of ${OCCUPANTS}`,
    );

    // Fan-out: each round, occupant (round mod OCCUPANTS) of every room sends one message; the others receive it.
    const roomClients = joined.map((members) => members.map((j) => j.c));
    const marks = new Map(roomClients.flat().map((c) => [c, c.frames.length]));
    const sendStart = performance.now();
    const cpu0 = { workerd: cpuMs(workerd), bench: process.cpuUsage() };
    for (let n = 0; n < ROOMS * MESSAGES; n++) {
      const wait = sendStart + (n * 1000) / RATE - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const r = n % ROOMS;
      const round = Math.floor(n / ROOMS);
      roomClients[r]![round % OCCUPANTS]!.send(
        `<message xmlns="jabber:client" to="${rooms[r]}@conference.${domain}" type="groupchat"><body>LOAD|${performance.now().toFixed(3)}|${round}</body></message>`,
      );
    }
    const expected = ROOMS * MESSAGES * OCCUPANTS;
    const received = () =>
      roomClients.flat().reduce((n, c) => n + c.frames.slice(marks.get(c)).filter((f) => f.text.includes("LOAD|")).length, 0);
    for (const until = Date.now() + 20_000; received() < expected && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    const fanWall = performance.now() - sendStart;
    const cpu = { workerd: cpuMs(workerd) - cpu0.workerd, bench: process.cpuUsage(cpu0.bench) };
    const latencies: number[] = [];
    const firstRound: number[] = []; // each room's first message after the joins (a room that hibernated wakes up)
    for (const c of roomClients.flat()) {
      for (const f of c.frames.slice(marks.get(c))) {
        for (const m of f.text.matchAll(/LOAD\|([\d.]+)\|(\d+)/g)) {
          latencies.push(f.at - Number(m[1]));
          if (m[2] === "0") firstRound.push(f.at - Number(m[1]));
        }
      }
    }
    console.log(
      `  fan-out (groupchat message to every occupant, ${ROOMS} rooms x ${MESSAGES} rounds at ${RATE} msg/s): ${summary(latencies)}; ${latencies.length}/${expected} delivered`,
    );
    console.log(`    of which each room's first message: ${summary(firstRound)}`);
    console.log(
      `  CPU during fan-out: workerd ${Math.round((cpu.workerd / fanWall) * 100)}% of one core, this bench process ${Math.round(((cpu.bench.user + cpu.bench.system) / 1000 / fanWall) * 100)}%`,
    );
    const dropped = clients.filter((c) => c.closed).length;
    if (dropped > 0) console.log(`  WARNING: ${dropped} client connections were closed by the server`);
  } finally {
    for (const c of clients) c.close();
    await edge.stop();
  }
}

// ---- 2. rooms on one bridge host ----------------------------------------------------------------------------------

/** A signaling connection (bridge-host/PROTOCOL.md) from Node: requests with ids, latency per request. */
class BridgeClient {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (d: unknown) => void; reject: (e: Error) => void; at: number }>();
  readonly latencies: number[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (raw: WebSocket.RawData) => {
      const m = JSON.parse(raw.toString()) as { response?: boolean; id?: number; ok?: boolean; data?: unknown; error?: { message: string } };
      if (!m.response || m.id === undefined) return;
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      this.latencies.push(performance.now() - p.at);
      if (m.ok) p.resolve(m.data);
      else p.reject(new Error(m.error?.message ?? "request failed"));
    });
    ws.on("close", (code, reason) => {
      for (const p of this.#pending.values()) p.reject(new Error(`closed ${code} ${reason.toString()}`));
      this.#pending.clear();
    });
  }

  static open(url: string): Promise<BridgeClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const c = new BridgeClient(ws);
      ws.once("open", () => resolve(c));
      ws.once("error", reject);
      ws.once("close", (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
    });
  }

  request(method: string, data?: unknown): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, at: performance.now() });
      this.ws.send(JSON.stringify({ id, method, data }));
      setTimeout(() => this.#pending.get(id) && (this.#pending.delete(id), reject(new Error(`${method} timed out`))), 30_000);
    });
  }
}

async function bridgeLoad(): Promise<void> {
  const bridge = await startBridge({ env: { WORKERS: "1" } });
  const peers: BridgeClient[] = [];
  try {
    const tree = () => processTree(bridge.process.pid!).reduce((n, p) => n + rss(p), 0);
    const worker = () => processTree(bridge.process.pid!).find((p) => comm(p).startsWith("mediasoup-work"));
    await bridge.call("GET", "/health");
    await settle();
    const base = tree();
    const baseWorker = rss(worker() ?? 0);
    const createTimes: number[] = [];
    for (let r = 0; r < BRIDGE_ROOMS; r++) {
      const room = `bench-${r}`;
      const t0 = performance.now();
      const res = await bridge.call("POST", "/v1/rooms", { room });
      createTimes.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`POST /v1/rooms ${res.status}: ${await res.text()}`);
      const { wsUrl } = (await res.json()) as { wsUrl: string };
      for (let p = 0; p < BRIDGE_PEERS; p++) {
        const c = await BridgeClient.open(`${wsUrl}?grant=${encodeURIComponent(await mintGrant(bridge.secret, room, `p${p}`))}`);
        peers.push(c);
        await c.request("getRouterRtpCapabilities");
        await c.request("createWebRtcTransport", { direction: "recv" });
        await c.request("createWebRtcTransport", { direction: "send" });
      }
    }
    const healthTimes: number[] = [];
    let health: unknown;
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      health = await (await bridge.call("GET", "/health")).json();
      healthTimes.push(performance.now() - t0);
    }
    await settle();
    const loaded = tree();
    const loadedWorker = rss(worker() ?? 0);
    console.log(`bridge: ${BRIDGE_ROOMS} rooms x ${BRIDGE_PEERS} peers (each: signaling WebSocket, a receive and a send transport), one worker`);
    console.log(`  control POST /v1/rooms: ${summary(createTimes)}`);
    console.log(`  control GET /health with every room up: ${summary(healthTimes)}: ${JSON.stringify(health)}`);
    console.log(`  signaling requests (getRouterRtpCapabilities, createWebRtcTransport): ${summary(peers.flatMap((p) => p.latencies))}`);
    console.log(
      `  RSS bridge + worker: ${mib(base)} -> ${mib(loaded)}: ${kib((loaded - base) / BRIDGE_ROOMS)} per room` +
        ` (of which the worker: ${mib(baseWorker)} -> ${mib(loadedWorker)}, ${kib((loadedWorker - baseWorker) / BRIDGE_ROOMS)} per room)`,
    );
  } finally {
    for (const p of peers) p.ws.terminate();
    await bridge.stop();
  }
}

async function main(): Promise<void> {
  console.log(`machine: ${cpus().length}x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  if (!flags["skip-edge"]) await edgeLoad();
  if (!flags["skip-bridge"]) await bridgeLoad();
  console.log(`load average at the end ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
