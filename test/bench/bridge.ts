/**
 * `npm run bench:bridge`: how many consumers one mediasoup worker core forwards, and what our Node layer costs.
 *
 * Set-up (all loopback, real components): one bridge worker (our WorkerPool + BridgeRoom, i.e. the same Router,
 * codecs and ActiveSpeakerObserver as production), Debian's ffmpeg encoding a VP8 test pattern (640x360, 30 fps,
 * ~1 Mbit/s) over RTP into a PlainTransport producer (rtcpMux: false, comedia). Then N consumers of it, each on its
 * own PlainTransport connected to a UDP sink that never reads (the kernel drops), so every consumer really
 * forwards every packet (checked through consumer stats). For each step N we measure over a window:
 *   - worker CPU % of one core (getrusage of the worker process via getResourceUsage),
 *   - our Node process's CPU % (process.cpuUsage: our room/pool code + mediasoup's Node channel),
 *   - packets/s forwarded,
 * and derive the worker CPU per forwarded packet and consumers per core for a nominal 100 pkt/s (~1 Mbit/s) stream.
 * Env: BENCH_STEPS (default "100,200,300"; more on an idle machine, e.g. "250,500,750"), BENCH_SECONDS (default 6).
 * BENCH_SIMULCAST=1: the producer is a simulcast camera as the web app sends it (320x180, 640x360 and 1280x720 VP8
 * encodings, 0.2, 0.6 and 1.5 Mbit/s: three ffmpeg outputs, relayed from one UDP source as a browser sends them) and
 * every consumer prefers spatial layer BENCH_LAYER (default 0: a tile in an eight-person grid).
 * On a CPU-starved machine the worker gets less CPU than it needs and forwards fewer packets than it should; the
 * bench then warns, and the per-packet cost (CPU time / packets actually forwarded) is the figure to trust.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import { ensureWorkerBin, WORKER_MISSING_HELP } from "../../bridge-host/src/worker-bin";
import { freePort } from "../node/helpers/wrangler-dev";

if (ensureWorkerBin().source === "missing") {
  console.error(WORKER_MISSING_HELP);
  process.exit(1);
}
const { WorkerPool } = await import("../../bridge-host/src/worker-pool");
const { BridgeRoom } = await import("../../bridge-host/src/room/bridge-room");
const { createLogger } = await import("../../bridge-host/src/log");
type Consumer = import("mediasoup").types.Consumer;
type PlainTransport = import("mediasoup").types.PlainTransport;

const STEPS = (process.env.BENCH_STEPS ?? "100,200,300").split(",").map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const STEP_BUDGET_MS = 60_000;
const SSRC = 22222222;
const PT = 101;
const SIMULCAST = process.env.BENCH_SIMULCAST === "1";
const LAYER = Number(process.env.BENCH_LAYER ?? 0);
/** The web app's simulcast layers (workers/web/src/call/simulcast.ts), lowest first. */
const LAYERS = [
  { size: "320x180", bitrate: "200k" },
  { size: "640x360", bitrate: "600k" },
  { size: "1280x720", bitrate: "1500k" },
];

const children: ChildProcess[] = [];
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
};
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

/** A UDP port whose socket never reads: the kernel queues a little and then drops. */
async function startSink(): Promise<number> {
  const py =
    "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,4096)\n" +
    "s.bind(('127.0.0.1',0))\nprint(s.getsockname()[1],flush=True)\ntime.sleep(10**9)\n";
  const child = spawn("python3", ["-c", py], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve));
  return Number(line);
}

/**
 * For `layers` RTP streams (each with its RTCP): local ports to send them to, from which they go on to `rtpPort` and
 * `rtcpPort` from one RTP and one RTCP socket.
 */
async function relayTo(rtpPort: number, rtcpPort: number, layers: number): Promise<Array<{ rtp: number; rtcp: number }>> {
  const bound = (): Promise<Socket> =>
    new Promise((resolve) => {
      const sock = createSocket("udp4");
      sock.bind(0, "127.0.0.1", () => resolve(sock));
    });
  const [outRtp, outRtcp] = [await bound(), await bound()];
  const out: Array<{ rtp: number; rtcp: number }> = [];
  for (let i = 0; i < layers; i++) {
    const [inRtp, inRtcp] = [await bound(), await bound()];
    inRtp.on("message", (m) => outRtp.send(m, rtpPort, "127.0.0.1"));
    inRtcp.on("message", (m) => outRtcp.send(m, rtcpPort, "127.0.0.1"));
    out.push({ rtp: inRtp.address().port, rtcp: inRtcp.address().port });
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), ms).unref())]);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

async function main() {
  const log = createLogger("warn");
  const pool = await WorkerPool.create({ count: 1, listenIp: "127.0.0.1", announcedAddress: "127.0.0.1", rtcPort: await freePort(), log });
  const entry = pool.entries[0]!;
  const room = await BridgeRoom.create({ name: "bench", host: entry, maxPeers: 10_000, log });
  const router = room.router;

  // Producer: ffmpeg -> PlainTransport (comedia, separate RTCP port).
  const inT = await router.createPlainTransport({ listenInfo: { protocol: "udp", ip: "127.0.0.1" }, rtcpMux: false, comedia: true });
  const ssrcs = SIMULCAST ? LAYERS.map((_, i) => SSRC + i) : [SSRC];
  const producer = await inT.produce({
    kind: "video",
    rtpParameters: {
      codecs: [{ mimeType: "video/VP8", payloadType: PT, clockRate: 90000, rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }] }],
      encodings: ssrcs.map((ssrc) => ({ ssrc })),
    },
  });
  const vp8 = ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "60", "-threads", "1", "-an", "-f", "rtp", "-payload_type", String(PT)];
  let ffArgs: string[];
  if (!SIMULCAST) {
    ffArgs = ["-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", ...vp8, "-b:v", "1M", "-ssrc", String(SSRC),
      `rtp://127.0.0.1:${inT.tuple.localPort}?rtcpport=${inT.rtcpTuple!.localPort}&pkt_size=1200`];
  } else {
    // A comedia transport takes media from one source address only (a browser sends every layer from one socket):
    // each layer's RTP and RTCP go to a relay that sends them on from one RTP and one RTCP socket.
    const relay = await relayTo(inT.tuple.localPort, inT.rtcpTuple!.localPort, LAYERS.length);
    const split = `[0:v]split=3[l0][l1][l2];[l0]scale=320:180[s0];[l1]scale=640:360[s1];[l2]null[s2]`;
    ffArgs = ["-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30", "-filter_complex", split];
    LAYERS.forEach((l, i) => {
      ffArgs.push("-map", `[s${i}]`, ...vp8, "-b:v", l.bitrate, "-ssrc", String(ssrcs[i]),
        `rtp://127.0.0.1:${relay[i]!.rtp}?rtcpport=${relay[i]!.rtcp}&pkt_size=1200`);
    });
  }
  const ff = spawn("ffmpeg", ["-hide_banner", "-loglevel", "error", "-re", ...ffArgs], { stdio: ["ignore", "ignore", "inherit"] });
  children.push(ff);
  const sinkPort = await startSink();

  // Wait for the producer to receive media.
  for (let i = 0; ; i++) {
    const s = await producer.getStats();
    if ((s[0]?.packetCount ?? 0) > 30) break;
    if (i > 120) throw new Error("ffmpeg produced no RTP within 60 s");
    await sleep(500);
  }

  const consumers: Consumer[] = [];
  const transports: PlainTransport[] = [];
  const addOne = async () => {
    const t = await router.createPlainTransport({ listenInfo: { protocol: "udp", ip: "127.0.0.1" }, rtcpMux: true, comedia: false });
    await t.connect({ ip: "127.0.0.1", port: sinkPort });
    transports.push(t);
    const preferredLayers = SIMULCAST ? { spatialLayer: LAYER } : undefined;
    consumers.push(await t.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities, preferredLayers }));
  };
  const addConsumers = async (n: number) => {
    const t0 = performance.now();
    const start = consumers.length;
    while (consumers.length < n) {
      if (performance.now() - t0 > STEP_BUDGET_MS) return false; // the worker is starved: stop ramping
      const batch = Math.min(10, n - consumers.length);
      await Promise.all(Array.from({ length: batch }, addOne));
      if (process.env.BENCH_VERBOSE) console.log(`  ${consumers.length} consumers (${(performance.now() - t0).toFixed(0)} ms)`);
    }
    if (n > start) console.log(`  added ${n - start} consumers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return true;
  };
  const forwarded = async () => {
    const all = await Promise.all(consumers.map((c) => c.getStats()));
    return all.reduce((sum, s) => sum + (s.find((x) => x.type === "outbound-rtp")?.packetCount ?? 0), 0);
  };

  const rows: { consumers: number; workerCpu: number; nodeCpu: number; pps: number; inPps: number; layerPps: number }[] = [];
  for (const n of [0, ...STEPS]) {
    if (!(await addConsumers(n))) {
      console.log(`  stopped ramping at ${consumers.length} consumers: creating them took over ${STEP_BUDGET_MS / 1000} s (CPU-starved machine)`);
      break;
    }
    await sleep(2000); // settle
    let row;
    try {
      row = await withTimeout(measure(n), STEP_BUDGET_MS + SECONDS * 1000);
    } catch {
      console.log(`  stopped at ${n} consumers: the worker could not answer stats within ${STEP_BUDGET_MS / 1000} s (CPU-starved machine)`);
      break;
    }
    rows.push(row);
    console.log(
      `consumers=${String(n).padStart(4)}  worker CPU=${pct(row.workerCpu).padStart(6)}  node CPU=${pct(row.nodeCpu).padStart(6)}  ` +
        `in=${row.inPps.toFixed(0)} pkt/s  forwarded~${row.pps.toFixed(0)} pkt/s`,
    );
    if (n > 0 && row.pps < row.layerPps * n * 0.8) {
      console.log(`  warning: forwarded ${pct(row.pps / (row.layerPps * n))} of the expected packets: the worker is CPU-starved (machine load ${loadavg()[0]!.toFixed(1)})`);
    }
  }
  if (rows.length < 2) throw new Error("no step with consumers could be measured");

  async function measure(n: number) {
    const f0 = await forwarded();
    const tf0 = performance.now();
    const inPackets = async () => (await producer.getStats()).reduce((sum, x) => sum + (x.packetCount ?? 0), 0);
    // Packets of the layer the consumers get (the whole stream without simulcast).
    const layerPackets = async () => (await producer.getStats()).find((x) => x.ssrc === ssrcs[Math.min(LAYER, ssrcs.length - 1)])?.packetCount ?? 0;
    const p0 = await inPackets();
    const l0 = await layerPackets();
    const u0 = await entry.worker.getResourceUsage();
    const n0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    const u1 = await entry.worker.getResourceUsage();
    const n1 = process.cpuUsage(n0);
    const dt = performance.now() - t0;
    const f1 = await forwarded();
    const tf = performance.now() - tf0; // the packet-count window (stats calls take time on a busy worker)
    const p1 = await inPackets();
    const workerCpu = (u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime) / dt;
    const nodeCpu = (n1.user + n1.system) / 1000 / dt;
    const layerPps = ((await layerPackets()) - l0) * 1000 / dt;
    return { consumers: n, workerCpu, nodeCpu, pps: ((f1 - f0) * 1000) / tf, inPps: ((p1 - p0) * 1000) / dt, layerPps };
  }

  const base = rows[0]!;
  const top = rows[rows.length - 1]!;
  // ffmpeg's packet rate varies on a loaded machine, so normalise by forwarded packets: CPU time per packet.
  const cpuPerPacket = (top.workerCpu - base.workerCpu) / Math.max(1, top.pps); // core-seconds per packet
  const NOMINAL_PPS = 100; // one ~1 Mbit/s video stream in 1200-byte packets
  const perCore = cpuPerPacket > 0 ? Math.floor(1 / (cpuPerPacket * NOMINAL_PPS)) : Infinity;
  const overhead = top.nodeCpu / Math.max(1e-9, top.workerCpu + top.nodeCpu);
  console.log("");
  console.log(
    SIMULCAST
      ? `producer: VP8 simulcast ${LAYERS.map((l) => `${l.size} ${l.bitrate}`).join(", ")} @30 from ffmpeg (${top.inPps.toFixed(0)} pkt/s in during the last step); every consumer prefers layer ${LAYER}`
      : `producer: 1 x VP8 640x360@30 from ffmpeg, -b:v 1M (${top.inPps.toFixed(0)} pkt/s in during the last step)`,
  );
  console.log(`worker CPU per forwarded packet: ${(cpuPerPacket * 1e6).toFixed(2)} µs`);
  console.log(
    `=> ~${perCore} consumers of a ${NOMINAL_PPS} pkt/s stream per worker core at 100% CPU, ~${Math.floor(perCore * 0.8)} at 80% ` +
      `(measured: ${top.consumers} consumers at ${pct(top.workerCpu)} of a core)`,
  );
  console.log(`our Node process at ${top.consumers} consumers: ${pct(top.nodeCpu)} of a core = ${pct(overhead)} of the bridge's CPU (target <= 5%)`);
  console.log(`machine: ${(await import("node:os")).cpus().length} cores (shared; figures are CPU time, not wall time)`);

  for (const t of transports) t.close();
  room.close("deleted");
  inT.close();
  pool.close();
  cleanup();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    cleanup();
    process.exit(1);
  },
);
