/**
 * Signaling benchmark: N raw XMPP-over-WebSocket clients (RFC 7395) in one MUC room (XEP-0045), against Parley's room
 * and Debian's Prosody in the same invocation, rounds interleaved (room, Prosody, Prosody, room, ...) so the machine's
 * load affects both alike.
 *
 *   npm run bench:signaling                          # both targets, 3 interleaved rounds, permessage-deflate offered
 *   npm run bench:signaling -- --no-deflate          # clients offer no compression
 *   npm run bench:signaling -- --only room --via entry   # room only, through Miniflare's entry worker (as wrangler dev)
 *   npm run bench:signaling -- --url ws://host/xmpp-websocket/r1 --domain host   # a running server, room "r1"
 *
 * Flags: --rounds R (3), --clients N (10), --messages M per client in burst mode (500), --window W in-flight
 *        messages per client in burst mode (32), --rate R aggregate msg/s (500), --seconds T of fixed-rate mode (10),
 *        --no-deflate, --only room|prosody, --via worker|entry|proxy (worker), --url, --domain, --json (one JSON line per
 *        round and a summary line).
 *
 * Like a browser, the clients offer permessage-deflate (RFC 7692) unless --no-deflate; what was negotiated is printed.
 * The room runs in workerd with wrangler.toml's bindings and flags and is reached straight at the Worker, as a
 * deployment's visitors reach it (signaling-targets.ts); `--via entry` adds Miniflare's entry worker (what
 * `wrangler dev`'s runtime port does: one more hop, and compression negotiated whatever the Worker's flags), `--via
 * proxy` runs `wrangler dev` and goes through its public port (its proxy worker re-frames every message).
 *
 * Phases of a round (fresh room each time):
 *  1. join: every client connects, logs in (SASL ANONYMOUS), binds and joins, one after the other;
 *     join time = WebSocket connect -> the join's subject message. Then, while the sockets are quiet, sizes: bytes on
 *     the wire (TCP payload: WebSocket framing, compression if negotiated) one occupant receives per chat message,
 *     presence update and Jingle session-initiate (signaling-client.ts `typicalStanzas`).
 *  2. burst: every client sends M groupchat messages as fast as the server takes them (at most W un-echoed at a
 *     time); deliveries/s = groupchat messages received by all clients / elapsed; server CPU per 1000 deliveries.
 *  3. fixed-rate: R msg/s in aggregate for T s, round-robin over the clients; every delivery's latency =
 *     receive time - send time (embedded in the body; one process, one clock).
 */
import { randomUUID } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { BenchClient, BurstTally, JOIN_PHASES, MARK, typicalStanzas, type JoinPhase } from "./signaling-client";
import { externalTarget, startProsodyTarget, startRoomTarget, type RoomVia, type Target } from "./signaling-targets";
import { intFlag } from "./flags";

const { values: flags } = parseArgs({
  options: {
    url: { type: "string" },
    domain: { type: "string" },
    rounds: { type: "string", default: "3" },
    clients: { type: "string", default: "10" },
    messages: { type: "string", default: "500" },
    window: { type: "string", default: "32" },
    rate: { type: "string", default: "500" },
    seconds: { type: "string", default: "10" },
    "no-deflate": { type: "boolean", default: false },
    only: { type: "string" },
    via: { type: "string", default: "worker" },
    json: { type: "boolean", default: false },
  },
  strict: true,
});

const ROUNDS = intFlag("rounds", flags.rounds, 1);
const N = intFlag("clients", flags.clients, 2);
const M = intFlag("messages", flags.messages, 1);
const W = intFlag("window", flags.window, 1);
const RATE = intFlag("rate", flags.rate, 1);
const SECONDS = intFlag("seconds", flags.seconds, 1);
const DEFLATE = !flags["no-deflate"];
if (flags.only !== undefined && flags.only !== "room" && flags.only !== "prosody") throw new Error("--only room|prosody");
const VIA = ((v: string | undefined): RoomVia => {
  if (v === "worker" || v === "entry" || v === "proxy") return v;
  throw new Error("--via worker|entry|proxy");
})(flags.via);
const SIZE_PROBES = 20;

interface RoundResult {
  target: Target["name"];
  round: number;
  extensions: string;
  joinP50Ms: number;
  joinMaxMs: number;
  /** p50 of each join step over the round's joins */
  joinPhasesP50Ms: Record<JoinPhase, number>;
  burstDeliveriesPerSec: number;
  burstReceived: number;
  burstExpected: number;
  burstServerCpuPct: number;
  burstServerCpuMsPer1000: number;
  burstClientCpuPct: number;
  fixedReceived: number;
  fixedExpected: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  fixedServerCpuPct: number;
  /** bytes on the wire per received stanza */
  wire: Record<"chat" | "presence" | "jingle", number>;
  droppedClients: number;
  loadavg: number[];
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
/** median of the rounds that measured something (NaN: nothing arrived in time) */
const median = (xs: number[]) => pct(xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b), 50);
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

async function runRound(target: Target, round: number, roomName: string): Promise<RoundResult> {
  const tally = new BurstTally();
  const url = target.url(roomName);
  const roomJid = `${roomName}@conference.${target.domain}`;
  const clients: BenchClient[] = [];
  try {
    // ---- join
    const joinTimes: number[] = [];
    for (let i = 0; i < N; i++) {
      const c = new BenchClient(i, url, target.domain, DEFLATE, tally);
      const t0 = performance.now();
      await c.connect();
      clients.push(c);
      await c.login();
      await c.join(roomJid, `u${i}`);
      joinTimes.push(performance.now() - t0);
    }
    const js = [...joinTimes].sort((a, b) => a - b);
    for (const c of clients) c.hot = true;

    // ---- sizes (while the sockets are quiet): client 0 sends, client 1's received bytes are measured
    const [a, b] = [clients[0]!, clients[1]!];
    const wire = { chat: NaN, presence: NaN, jingle: NaN };
    for (const kind of ["chat", "presence", "jingle"] as const) {
      await sleep(100); // let stray frames settle
      const before = b.wireBytes().read;
      const want = b.sizeReceived + SIZE_PROBES;
      for (let k = 0; k < SIZE_PROBES; k++) a.send(typicalStanzas(roomJid, "u1", k)[kind]);
      if (await until(() => b.sizeReceived >= want, 10_000)) {
        await sleep(50);
        wire[kind] = (b.wireBytes().read - before) / SIZE_PROBES;
      }
    }


    // ---- burst
    const expected = N * M * N;
    tally.expected = expected;
    const cpu0 = process.cpuUsage();
    const server0 = target.cpuMs();
    const t0 = performance.now();
    let lastProgress = t0;
    let lastTotal = 0;
    const sent = new Array<number>(N).fill(0);
    const pump = (c: BenchClient) => {
      while (c.ownInFlight < W && sent[c.index]! < M) {
        const seq = sent[c.index]!++;
        c.ownInFlight++;
        c.send(
          `<message xmlns='jabber:client' to='${roomJid}' type='groupchat' id='b${c.index}-${seq}'><body>${MARK.burst}${c.index}|${seq}</body></message>`,
        );
      }
    };
    for (const c of clients) {
      c.onOwnEcho = () => pump(c);
      pump(c);
    }
    // Ends when every expected delivery arrived, or after 10 s without progress (then: report what arrived).
    await new Promise<void>((resolve) => {
      const iv = setInterval(() => {
        if (tally.received !== lastTotal) {
          lastTotal = tally.received;
          lastProgress = performance.now();
        }
        if (performance.now() - lastProgress > 10_000) tally.done?.();
      }, 50);
      tally.done = () => {
        clearInterval(iv);
        resolve();
      };
      if (tally.received >= expected) tally.done();
    });
    const received = tally.received;
    const tEnd = received >= expected ? tally.endAt : lastProgress;
    const burstMs = tEnd - t0;
    const serverBurstMs = target.cpuMs() - server0;
    const cpu = process.cpuUsage(cpu0);
    for (const c of clients) c.onOwnEcho = undefined;

    // ---- fixed rate
    const total = RATE * SECONDS;
    const fServer0 = target.cpuMs();
    const ft0 = performance.now();
    let sentCount = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - ft0) / 1000) * RATE));
        while (sentCount < due) {
          const c = clients[sentCount % N]!;
          const at = performance.now();
          c.send(
            `<message xmlns='jabber:client' to='${roomJid}' type='groupchat'><body>${MARK.fixed}${at.toFixed(3)}|${sentCount}</body></message>`,
          );
          sentCount++;
        }
        if (sentCount >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    const sendMs = performance.now() - ft0;
    const fixedExpected = total * N;
    const got = () => clients.reduce((s, c) => s + c.fixedReceived, 0);
    await until(() => got() >= fixedExpected, 15_000);
    const fixedServerMs = target.cpuMs() - fServer0;
    const lat = clients.flatMap((c) => c.fixedLatencies).sort((a, b) => a - b);

    return {
      target: target.name,
      round,
      extensions: clients[0]!.extensions || "none",
      joinP50Ms: +f1(pct(js, 50)),
      joinMaxMs: +f1(js.at(-1)!),
      joinPhasesP50Ms: Object.fromEntries(
        JOIN_PHASES.map((ph) => [ph, +f2(pct(clients.map((c) => c.phases[ph]).sort((a, b) => a - b), 50))]),
      ) as Record<JoinPhase, number>,
      burstDeliveriesPerSec: Math.round(received / (burstMs / 1000)),
      burstReceived: received,
      burstExpected: expected,
      burstServerCpuPct: Math.round((serverBurstMs / burstMs) * 100),
      burstServerCpuMsPer1000: +f2((serverBurstMs / received) * 1000),
      burstClientCpuPct: Math.round(((cpu.user + cpu.system) / 1000 / burstMs) * 100),
      fixedReceived: lat.length,
      fixedExpected,
      latencyP50Ms: +f2(pct(lat, 50)),
      latencyP95Ms: +f2(pct(lat, 95)),
      latencyP99Ms: +f2(pct(lat, 99)),
      latencyMaxMs: +f2(lat.at(-1) ?? NaN),
      fixedServerCpuPct: Math.round((fixedServerMs / sendMs) * 100),
      wire: { chat: Math.round(wire.chat), presence: Math.round(wire.presence), jingle: Math.round(wire.jingle) },
      droppedClients: clients.filter((c) => c.closed).length,
      loadavg: loadavg().map((x) => +x.toFixed(2)),
    };
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}

function printRound(r: RoundResult, label: string): void {
  console.log(
    `[${r.round}] ${label} (${r.extensions}): join p50 ${r.joinP50Ms} ms, max ${r.joinMaxMs} ms ` +
      `(${JOIN_PHASES.map((ph) => `${ph} ${r.joinPhasesP50Ms[ph]}`).join(", ")}) | ` +
      `burst ${r.burstDeliveriesPerSec} deliveries/s (${r.burstReceived}/${r.burstExpected}), server CPU ${r.burstServerCpuPct}% ` +
      `= ${r.burstServerCpuMsPer1000} ms/1000 deliveries, client CPU ${r.burstClientCpuPct}% | ` +
      `@${RATE} msg/s p50 ${r.latencyP50Ms} p95 ${r.latencyP95Ms} p99 ${r.latencyP99Ms} max ${r.latencyMaxMs} ms ` +
      `(${r.fixedReceived}/${r.fixedExpected}), server CPU ${r.fixedServerCpuPct}% | ` +
      `wire bytes/stanza chat ${r.wire.chat}, presence ${r.wire.presence}, jingle ${r.wire.jingle}` +
      (r.droppedClients ? ` | WARNING: ${r.droppedClients} connections closed by the server` : "") +
      ` | load ${r.loadavg.join(" ")}`,
  );
}

async function main(): Promise<void> {
  const targets: Target[] = [];
  const results: RoundResult[] = [];
  const machine = `${cpus().length}x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
  try {
    if (flags.url) {
      targets.push(externalTarget(flags.url, flags.domain ?? new URL(flags.url).hostname));
    } else {
      if (flags.only !== "prosody") targets.push(await startRoomTarget({ clients: N, via: VIA }));
      if (flags.only !== "room") targets.push(await startProsodyTarget());
    }
    console.log(
      `clients ${N}, burst ${N}x${M} window ${W}, fixed ${RATE} msg/s for ${SECONDS} s, ${ROUNDS} rounds, ` +
        `permessage-deflate ${DEFLATE ? "offered" : "not offered"}; ${machine}`,
    );
    for (const t of targets) console.log(`  ${t.name}: ${t.label}`);
    for (let round = 1; round <= ROUNDS; round++) {
      // alternate the order so neither target always runs first (after a quiet or a busy moment)
      const order = round % 2 === 1 ? targets : [...targets].reverse();
      for (const t of order) {
        // --url: the room is the URL's last path segment
        const room = flags.url ? new URL(flags.url).pathname.split("/").pop()! : `bench-${randomUUID().slice(0, 8)}`;
        const r = await runRound(t, round, room);
        results.push(r);
        printRound(r, t.name);
        if (flags.json) console.log(JSON.stringify(r));
      }
    }
    // ---- summary: medians over rounds, and the room against Prosody
    const med = (name: Target["name"], f: (r: RoundResult) => number) => median(results.filter((r) => r.target === name).map(f));
    const summary: Record<string, unknown> = { machine, deflate: DEFLATE, via: VIA, rounds: ROUNDS, clients: N };
    console.log(`\nmedians over ${ROUNDS} rounds:`);
    for (const t of targets) {
      const s = {
        joinP50Ms: med(t.name, (r) => r.joinP50Ms),
        burstDeliveriesPerSec: med(t.name, (r) => r.burstDeliveriesPerSec),
        burstServerCpuMsPer1000: med(t.name, (r) => r.burstServerCpuMsPer1000),
        latencyP50Ms: med(t.name, (r) => r.latencyP50Ms),
        latencyP99Ms: med(t.name, (r) => r.latencyP99Ms),
        wireChat: med(t.name, (r) => r.wire.chat),
        wirePresence: med(t.name, (r) => r.wire.presence),
        wireJingle: med(t.name, (r) => r.wire.jingle),
      };
      summary[t.name] = s;
      console.log(
        `  ${t.name}: join p50 ${f1(s.joinP50Ms)} ms | burst ${s.burstDeliveriesPerSec} deliveries/s, server ` +
          `${s.burstServerCpuMsPer1000} ms CPU/1000 deliveries | @${RATE} msg/s p50 ${f2(s.latencyP50Ms)} ms, p99 ` +
          `${f2(s.latencyP99Ms)} ms | wire bytes chat ${s.wireChat}, presence ${s.wirePresence}, jingle ${s.wireJingle}`,
      );
    }
    const room = summary["room"] as Record<string, number> | undefined;
    const pros = summary["prosody"] as Record<string, number> | undefined;
    if (room && pros) {
      const ratio = {
        deliveries: +f2(room.burstDeliveriesPerSec! / pros.burstDeliveriesPerSec!),
        p99: +f2(room.latencyP99Ms! / pros.latencyP99Ms!),
        joinP50: +f2(room.joinP50Ms! / pros.joinP50Ms!),
      };
      summary.roomOverProsody = ratio;
      console.log(
        `  room / Prosody: deliveries/s x${ratio.deliveries} (target >= 2), fan-out p99 x${ratio.p99} (target <= 1), ` +
          `join p50 x${ratio.joinP50} (target <= 1.5)`,
      );
    }
    summary.loadavg = loadavg().map((x) => +x.toFixed(2));
    console.log(`load average at the end: ${(summary.loadavg as number[]).join(" ")}`);
    if (flags.json) console.log(JSON.stringify(summary));
  } finally {
    await Promise.allSettled(targets.map((t) => t.stop()));
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
  },
);
