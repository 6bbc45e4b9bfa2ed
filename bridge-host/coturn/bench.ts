/**
 * `npm run bench:turn`: relay throughput and round-trip time through our coturn config on loopback.
 *
 * Starts coturn (launcher, loopback peers allowed) and a `turnutils_peer` echo peer on free ports, then runs Debian's
 * `turnutils_uclient` with C concurrent clients (uclient opens two allocations per client), each sending N messages of L bytes every I ms to the peer through
 * the relay (client -> coturn -> peer -> coturn -> client). Prints what uclient measured (messages relayed, loss,
 * average/min/max RTT, jitter) and coturn's CPU use over the run (from /proc/<pid>/stat).
 *
 * Flags: --clients C (default 50), --messages N (200), --length L (200 bytes, an audio-sized packet),
 * --interval I (20 ms, i.e. 50 packets/s per client), --tcp (client <-> coturn over TCP), --json.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { mintTurnCredentials } from "../../contract/turn-credentials";
import { loadCoturnConfig } from "./config";
import { startCoturn } from "./launcher";
import { freeUdpTcpPort } from "./ports";

const Args = z.object({
  clients: z.coerce.number().int().min(1).max(1000),
  messages: z.coerce.number().int().min(1).max(100000),
  length: z.coerce.number().int().min(20).max(1400),
  interval: z.coerce.number().int().min(1).max(1000),
  tcp: z.boolean(),
  json: z.boolean(),
});

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "50" },
    messages: { type: "string", default: "200" },
    length: { type: "string", default: "200" },
    interval: { type: "string", default: "20" },
    tcp: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const args = Args.parse(values);

const freePort = () => freeUdpTcpPort({ min: 42000, max: 49999 });

/** utime + stime of a process in clock ticks (proc(5)); assumes 100 Hz. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

async function main(): Promise<void> {
  const secret = "bench-" + "x".repeat(40);
  const min = 42000 + 1000 * Math.floor(Math.random() * 7);
  const cfg = loadCoturnConfig({
    TURN_ENV: "development",
    TURN_SECRET: secret,
    TURN_LISTEN_IPS: "127.0.0.1",
    TURN_RELAY_IPS: "127.0.0.1",
    TURN_PORT: String(await freePort()),
    TURN_MIN_PORT: String(min),
    TURN_MAX_PORT: String(min + 999),
    TURN_ALLOW_LOOPBACK_PEERS: "1",
    TURN_USER_QUOTA: "0",
  });
  const server = await startCoturn(cfg, { onLog: () => {} });
  const peerPort = await freePort();
  const peer = spawn("turnutils_peer", ["-L", "127.0.0.1", "-p", String(peerPort)], { stdio: "ignore" });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const creds = await mintTurnCredentials(secret, 3600);
    const uargs = [
      "-c",
      "-m", String(args.clients),
      "-n", String(args.messages),
      "-l", String(args.length),
      "-z", String(args.interval),
      ...(args.tcp ? ["-t"] : []),
      "-u", creds.username, "-w", creds.password,
      "-e", "127.0.0.1", "-r", String(peerPort),
      "-p", String(cfg.port), "127.0.0.1",
    ];
    const cpu0 = cpuTicks(server.pid);
    const t0 = performance.now();
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn("turnutils_uclient", uargs, { stdio: ["ignore", "pipe", "pipe"] });
      let o = "";
      c.stdout.on("data", (d: Buffer) => (o += d.toString()));
      c.stderr.on("data", (d: Buffer) => (o += d.toString()));
      c.once("error", reject);
      c.once("close", () => resolve(o));
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = (cpuTicks(server.pid) - cpu0) / 100;
    const num = (re: RegExp) => {
      const all = [...out.matchAll(re)];
      const m = all[all.length - 1];
      return m ? m.slice(1).map(Number) : [];
    };
    const [sent = 0, recv = 0] = num(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g);
    const [lost = 0, lossPct = 0] = num(/Total lost packets (\d+) \(([\d.]+)%\)/g);
    const [rttAvg = 0, rttMin = 0, rttMax = 0] = num(/Average round trip delay ([\d.]+) ms; min = (\d+) ms, max = (\d+) ms/g);
    const [jitter = 0] = num(/Average jitter ([\d.]+) ms/g);
    const result = {
      transport: args.tcp ? "tcp" : "udp",
      clients: args.clients,
      messagesPerClient: args.messages,
      bytes: args.length,
      intervalMs: args.interval,
      sent,
      echoed: recv,
      lost,
      lossPct,
      rttAvgMs: rttAvg,
      rttMinMs: rttMin,
      rttMaxMs: rttMax,
      jitterMs: jitter,
      wallSeconds: Number(seconds.toFixed(2)),
      relayedPacketsPerSecond: Math.round((2 * recv) / seconds),
      coturnCpuPercentOfOneCore: Number(((100 * cpuSeconds) / seconds).toFixed(1)),
      loadAverage1m: Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]),
    };
    if (sent === 0) throw new Error(`turnutils_uclient reported nothing:\n${out.slice(-2000)}`);
    if (args.json) console.log(JSON.stringify(result));
    else {
      console.log(
        `coturn relay, ${result.transport}, ${args.clients} clients (${2 * args.clients} allocations) x ${args.messages} msgs x ${args.length} B every ${args.interval} ms`,
      );
      console.log(`  echoed ${recv}/${sent} (lost ${lost}, ${lossPct}%), ~${result.relayedPacketsPerSecond} relayed packets/s incl. both legs`);
      console.log(`  RTT avg ${rttAvg} ms (min ${rttMin}, max ${rttMax}), jitter ${jitter} ms`);
      console.log(`  coturn CPU ${result.coturnCpuPercentOfOneCore}% of one core over ${result.wallSeconds} s (load avg ${result.loadAverage1m})`);
    }
  } finally {
    peer.kill("SIGTERM");
    await server.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
