/**
 * A network namespace for one participant (its Chromium, or any process), linked to the host through a user-space
 * forwarder, so tests can put a real browser behind a link that fails, moves and degrades:
 *
 *   host stack ── tun "<id>h" ══ netem-forwarder (loss, delay) ══ tun "<id>n" ── namespace stack
 *
 * - The host keeps one stable *service address* (10.X.255.1/32 on `lo`, X chosen per run so no existing route
 *   overlaps). Servers the namespace must reach (wrangler dev, bridge, coturn) listen on it (or on 0.0.0.0); it
 *   does not change when the link moves, as a server's address does not change when a laptop changes network.
 * - The link is a point-to-point pair: host end 10.X.K.1, namespace end 10.X.K.2, namespace default route over it.
 *   `linkUp({ newSubnet: true })` brings it back with K+1: new addresses on both ends (a laptop on another Wi-Fi).
 * - Rate limit: `tc` tbf on each tun device's egress (host end: download, namespace end: upload).
 * - Loss and delay: this kernel has no `netem` qdisc, so the forwarder (netem-forwarder.c, compiled with the
 *   system's cc on first use) drops and holds packets.
 *
 * Teardown is idempotent and also runs from a process `exit` hook; the tun devices belong to the forwarder and
 * vanish with it (it exits when its standard input closes, i.e. when this process dies however it dies). Leftovers
 * of runs whose process is gone (namespace, `lo` address) are removed by the next `createNetns`.
 * Needs root (`ip netns`, tun devices).
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { CHROMIUM } from "./browser";

const execFileAsync = promisify(execFile);

export const isRoot = process.getuid?.() === 0;

const NETNS_PREFIX = "parley-netns-";
const LO_LABEL_PREFIX = "lo:pn"; // + pid; an address label is at most 15 characters

export interface LinkCounters {
  forwarded: number;
  dropped: number;
}

export interface NetnsLink {
  /** The namespace's name (`ip netns exec NAME …`). */
  readonly name: string;
  /** Stable host address the namespace reaches; bind servers here (or on 0.0.0.0). */
  readonly serviceAddress: string;
  /** The host end of the link now (changes with `newSubnet`). */
  readonly hostAddress: string;
  /** The namespace end of the link now: the address the namespace's processes send from. */
  readonly nsAddress: string;
  /** An executable that runs Debian's Chromium inside the namespace (for playwright's `executablePath`). */
  readonly chromiumPath: string;
  /** Run a command inside the namespace to completion. */
  exec(cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
  /** Start a long-running process inside the namespace (the caller ends it). */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Take the link down (both ends): nothing passes, packets in flight are lost. */
  linkDown(): Promise<void>;
  /** Bring the link back, on the same addresses or (`newSubnet`) on new ones at both ends. */
  linkUp(opts?: { newSubnet?: boolean }): Promise<void>;
  /** Down for `ms` milliseconds, then up again (by default on a new subnet). */
  outage(ms: number, opts?: { newSubnet?: boolean }): Promise<void>;
  /** Loss (percent of packets, each direction) and one-way delay (ms, each direction). */
  impair(opts: { lossPercent: number; delayMs: number }): Promise<void>;
  /** tbf rate limit on the given direction(s); `null` removes it. down = host to namespace. */
  rateLimit(limit: { kbit: number; direction?: "down" | "up" | "both" } | null): Promise<void>;
  /** What the forwarder passed and dropped, per direction (down = host to namespace). */
  counters(): Promise<{ down: LinkCounters; up: LinkCounters }>;
  /** Remove everything (idempotent). Processes started with `spawn` or inside the namespace are killed. */
  close(): Promise<void>;
}

async function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${err.stderr?.trim() || err.message}`);
  }
}

function runSyncQuiet(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 }).toString();
  } catch {
    return "";
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Remove namespaces and `lo` addresses left by runs whose process no longer exists. */
function removeLeftovers(): void {
  for (const line of runSyncQuiet("ip", ["netns", "list"]).split("\n")) {
    const m = new RegExp(`^(${NETNS_PREFIX}(\\d+)-[0-9a-f]+)`).exec(line);
    if (m && !pidAlive(Number(m[2]))) runSyncQuiet("ip", ["netns", "del", m[1]!]);
  }
  for (const line of runSyncQuiet("ip", ["-4", "-o", "addr", "show", "dev", "lo"]).split("\n")) {
    const m = /inet (\S+) .*? (lo:pn(\d+))\b/.exec(line);
    if (m && !pidAlive(Number(m[3]))) runSyncQuiet("ip", ["addr", "del", m[1]!, "dev", "lo"]);
  }
}

/** A 10.X.0.0/16 block that no address or route of the host touches. */
function freeBlock(): number {
  const used = runSyncQuiet("ip", ["-4", "-o", "addr"]) + runSyncQuiet("ip", ["-4", "route", "show", "table", "all"]);
  for (let tries = 0; tries < 200; tries++) {
    const x = 64 + Math.floor(Math.random() * 190);
    if (!new RegExp(`\\b10\\.${x}\\.`).test(used)) return x;
  }
  throw new Error("no free 10.X.0.0/16 block for the test namespace");
}

/** Compile the forwarder once per source version (cached in the temp dir). */
function forwarderBinary(): string {
  const src = new URL("./netem-forwarder.c", import.meta.url).pathname;
  const hash = createHash("sha256").update(readFileSync(src)).digest("hex").slice(0, 16);
  const dir = join(tmpdir(), "parley-netem-forwarder");
  const bin = join(dir, `netem-forwarder-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}`;
    execFileSync("cc", ["-O2", "-Wall", "-o", tmp, src], { stdio: ["ignore", "ignore", "pipe"] });
    execFileSync("mv", ["-f", tmp, bin]);
  }
  return bin;
}

/** The forwarder process and its line protocol (one answer line per command, in order). */
class Forwarder {
  private readonly waiting: Array<(line: string) => void> = [];
  private chain: Promise<unknown> = Promise.resolve();
  readonly ready: Promise<void>;
  private stderr = "";

  private constructor(private readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! });
    let onReady: () => void;
    let onFail: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => ((onReady = res), (onFail = rej)));
    child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    child.once("exit", (code) => {
      onFail(new Error(`netem-forwarder exited (${code}): ${this.stderr.trim()}`));
      for (const w of this.waiting.splice(0)) w("error forwarder exited");
    });
    lines.on("line", (line) => {
      if (line === "ready") onReady();
      else this.waiting.shift()?.(line);
    });
  }

  static start(a: string, b: string): Forwarder {
    const seed = String(randomBytes(4).readUInt32LE(0));
    return new Forwarder(spawn(forwarderBinary(), [a, b, seed], { stdio: ["pipe", "pipe", "pipe"] }));
  }

  command(cmd: string): Promise<string> {
    const next = this.chain.then(
      () =>
        new Promise<string>((resolve) => {
          this.waiting.push(resolve);
          this.child.stdin!.write(cmd + "\n");
        }),
    );
    this.chain = next.catch(() => undefined);
    return next;
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin!.end();
      this.child.kill("SIGKILL");
    }
  }
}

/** Create a namespace linked to the host (see the file comment). Call `close()` when done. */
export async function createNetns(): Promise<NetnsLink> {
  if (!isRoot) throw new Error("network namespaces need root");
  removeLeftovers();
  const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const name = NETNS_PREFIX + id;
  const short = `pn${randomBytes(4).toString("hex")}`; // device names are at most 15 characters
  const hostDev = `${short}h`;
  const nsDev = `${short}n`;
  const block = freeBlock();
  const serviceAddress = `10.${block}.255.1`;
  const loLabel = LO_LABEL_PREFIX + process.pid;
  const dir = mkdtempSync(join(tmpdir(), "parley-netns-"));
  const chromiumPath = join(dir, "chromium");
  let subnet = 1;
  let closed = false;

  const inNs = (args: string[]) => run("ip", ["netns", "exec", name, ...args]);
  const forwarder = Forwarder.start(hostDev, nsDev);

  const teardownSync = () => {
    if (closed) return;
    closed = true;
    forwarder.stop();
    for (const pid of runSyncQuiet("ip", ["netns", "pids", name]).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    runSyncQuiet("ip", ["netns", "del", name]);
    runSyncQuiet("ip", ["addr", "del", `${serviceAddress}/32`, "dev", "lo"]);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", teardownSync);

  const addressLink = async () => {
    await run("ip", ["addr", "add", `10.${block}.${subnet}.1`, "peer", `10.${block}.${subnet}.2`, "dev", hostDev]);
    await run("ip", ["link", "set", hostDev, "up"]);
    await inNs(["ip", "addr", "add", `10.${block}.${subnet}.2`, "peer", `10.${block}.${subnet}.1`, "dev", nsDev]);
    await inNs(["ip", "link", "set", nsDev, "up"]);
    await inNs(["ip", "route", "replace", "default", "via", `10.${block}.${subnet}.1`, "dev", nsDev]);
  };

  try {
    await forwarder.ready;
    await run("ip", ["netns", "add", name]);
    await run("ip", ["link", "set", nsDev, "netns", name]);
    await inNs(["ip", "link", "set", "lo", "up"]);
    await run("ip", ["addr", "add", `${serviceAddress}/32`, "dev", "lo", "label", loLabel]);
    await addressLink();
    writeFileSync(chromiumPath, `#!/bin/sh\nexec ip netns exec '${name}' '${CHROMIUM}' "$@"\n`);
    chmodSync(chromiumPath, 0o755);
  } catch (e) {
    teardownSync();
    process.removeListener("exit", teardownSync);
    throw e;
  }

  const tbf = async (dev: string, inside: boolean, kbit: number | null) => {
    const base = inside ? ["ip", "netns", "exec", name, "tc"] : ["tc"];
    if (kbit === null) {
      await run(base[0]!, [...base.slice(1), "qdisc", "del", "dev", dev, "root"]).catch(() => undefined);
      return;
    }
    // Burst: at least a few full packets, and ~20 ms of traffic at the rate (a small bucket starves TCP).
    const burstBytes = Math.max(6000, Math.round((kbit * 1000) / 8 / 50));
    await run(base[0]!, [...base.slice(1), "qdisc", "replace", "dev", dev, "root", "tbf", "rate", `${kbit}kbit`, "burst", String(burstBytes), "latency", "200ms"]);
  };

  const link: NetnsLink = {
    name,
    serviceAddress,
    get hostAddress() {
      return `10.${block}.${subnet}.1`;
    },
    get nsAddress() {
      return `10.${block}.${subnet}.2`;
    },
    chromiumPath,
    exec: (cmd, args, opts) => run("ip", ["netns", "exec", name, cmd, ...args], opts?.timeoutMs ?? 60_000),
    spawn: (cmd, args, opts) => spawn("ip", ["netns", "exec", name, cmd, ...args], opts ?? {}),
    async linkDown() {
      await run("ip", ["link", "set", hostDev, "down"]);
      await inNs(["ip", "link", "set", nsDev, "down"]);
    },
    async linkUp(opts = {}) {
      if (opts.newSubnet) {
        await run("ip", ["addr", "flush", "dev", hostDev]);
        await inNs(["ip", "addr", "flush", "dev", nsDev]);
        subnet++;
        if (subnet > 254) throw new Error("out of link subnets");
      } else {
        await run("ip", ["link", "set", hostDev, "up"]);
        await inNs(["ip", "link", "set", nsDev, "up"]);
        await inNs(["ip", "route", "replace", "default", "via", `10.${block}.${subnet}.1`, "dev", nsDev]);
        return;
      }
      await addressLink();
    },
    async outage(ms, opts = {}) {
      await link.linkDown();
      await new Promise((r) => setTimeout(r, ms));
      await link.linkUp({ newSubnet: opts.newSubnet ?? true });
    },
    async impair({ lossPercent, delayMs }) {
      const answer = await forwarder.command(`set ${lossPercent} ${delayMs}`);
      if (answer !== "ok") throw new Error(`netem-forwarder refused set ${lossPercent} ${delayMs}: ${answer}`);
    },
    async rateLimit(limit) {
      const dir = limit?.direction ?? "both";
      const kbit = limit ? limit.kbit : null;
      if (limit === null || dir !== "up") await tbf(hostDev, false, kbit);
      if (limit === null || dir !== "down") await tbf(nsDev, true, kbit);
    },
    async counters() {
      const m = /^stats (\d+) (\d+) (\d+) (\d+)$/.exec(await forwarder.command("stats"));
      if (!m) throw new Error("netem-forwarder gave no stats");
      return {
        down: { forwarded: Number(m[1]), dropped: Number(m[2]) },
        up: { forwarded: Number(m[3]), dropped: Number(m[4]) },
      };
    },
    async close() {
      teardownSync();
      process.removeListener("exit", teardownSync);
    },
  };
  return link;
}
