/**
 * A hostile visitor of the bridge's public listener: raw TCP sockets that upgrade to a room's signaling WebSocket
 * with no grant, ignore the close frame and keep writing large text frames for as long as the socket lets them,
 * reconnecting whenever the bridge drops them. Plus the resident memory (RSS) of a process, from /proc.
 */
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { waitFor } from "./bridge-harness";

export interface FloodStats {
  /** connections opened (the first of each slot, then every reconnection) */
  connections: number;
  /** bytes of frames the bridge accepted from us (written to the kernel) */
  bytesWritten: number;
}

export interface Flood {
  stats: FloodStats;
  stop(): Promise<FloodStats>;
}

/** One masked (RFC 6455 §5.3: client frames are masked; a zero key leaves the payload as it is) text frame. */
function textFrame(bytes: number): Buffer {
  if (bytes > 0xffff) throw new Error("frame too large for a 16-bit length");
  const head = Buffer.from([0x81, 0x80 | 126, bytes >> 8, bytes & 0xff, 0, 0, 0, 0]);
  return Buffer.concat([head, Buffer.alloc(bytes, "a")]);
}

/**
 * `sockets` connections to `wsUrl` (ws://host:port/path, no grant), each writing `frameBytes`-byte frames without
 * pause, from `localAddress` (any 127.x.y.z address on Linux: the bridge sees another visitor than the tests' own).
 */
function startFlood(opts: { wsUrl: string; sockets: number; frameBytes?: number; localAddress?: string }): Flood {
  const u = new URL(opts.wsUrl);
  const frame = textFrame(opts.frameBytes ?? 64_000);
  const request =
    `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${Buffer.from("0123456789abcdef").toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const stats: FloodStats = { connections: 0, bytesWritten: 0 };
  const open = new Set<Socket>();
  let stopped = false;

  const slot = () => {
    if (stopped) return;
    stats.connections++;
    const s = connect({ host: u.hostname, port: Number(u.port), localAddress: opts.localAddress });
    open.add(s);
    s.on("data", () => undefined); // read and ignore everything, the close frame included
    s.on("error", () => undefined);
    s.on("close", () => {
      open.delete(s);
      if (!stopped) setTimeout(slot, 20);
    });
    const pump = () => {
      while (!stopped && !s.destroyed) {
        const ok = s.write(frame, (err) => {
          if (!err) stats.bytesWritten += frame.length;
        });
        if (!ok) return void s.once("drain", pump);
      }
    };
    s.once("connect", () => {
      s.write(request);
      pump();
    });
  };
  for (let i = 0; i < opts.sockets; i++) slot();

  return {
    stats,
    async stop() {
      stopped = true;
      for (const s of open) s.destroy();
      return { ...stats };
    },
  };
}

/** Resident set size of process `pid` in bytes (VmRSS in /proc/PID/status). */
function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * Flood for `ms` while sampling `pid`'s RSS every 250 ms; stops early (and says so) once RSS grew by more than
 * `abortAboveBytes` over the baseline taken first, so that a bridge without the defences does not eat the machine.
 * Returns the baseline, the highest sample (during the flood and for `settleMs` after) and the flood's figures.
 */
async function floodAndWatch(
  pid: number,
  flood: () => Flood,
  o: { ms: number; settleMs?: number; abortAboveBytes: number },
): Promise<{ baseline: number; peak: number; aborted: boolean; stats: FloodStats }> {
  const baseline = rssBytes(pid);
  let peak = baseline;
  let aborted = false;
  const f = flood();
  const end = Date.now() + o.ms;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 250));
    peak = Math.max(peak, rssBytes(pid));
    if (peak - baseline > o.abortAboveBytes) {
      aborted = true;
      break;
    }
  }
  const stats = await f.stop();
  const settle = Date.now() + (o.settleMs ?? 2000);
  while (!aborted && Date.now() < settle) {
    await new Promise((r) => setTimeout(r, 250));
    peak = Math.max(peak, rssBytes(pid));
  }
  return { baseline, peak, aborted, stats };
}

type Inbound = { kind: string; packetsReceived?: number };
type PageApi = { join(o: { wsUrl: string; grant: string; produce: boolean }): Promise<void>; inbound(): Promise<Inbound[]> };

/**
 * A call of two through the bridge test client (bridge-host/test-client/page.ts) in `newPage()`s: Alice sends fake
 * camera and microphone, Bob receives. `received()`: Bob's packet counts per kind (the best stream of each).
 */
export async function startTwoPartyCall(
  newPage: () => Promise<import("playwright-core").Page>,
  wsUrl: string,
  grant: (nick: string) => Promise<string>,
): Promise<{ received(): Promise<{ video: number; audio: number }> }> {
  const [alice, bob] = [await newPage(), await newPage()];
  const join = (p: import("playwright-core").Page, o: { wsUrl: string; grant: string; produce: boolean }) =>
    p.evaluate((o) => (globalThis as unknown as { parley: PageApi }).parley.join(o), o);
  await join(alice, { wsUrl, grant: await grant("alice"), produce: true });
  await join(bob, { wsUrl, grant: await grant("bob"), produce: false });
  return {
    async received() {
      const s = await bob.evaluate(() => (globalThis as unknown as { parley: PageApi }).parley.inbound());
      const most = (kind: string) => Math.max(0, ...s.filter((x) => x.kind === kind).map((x) => x.packetsReceived ?? 0));
      return { video: most("video"), audio: most("audio") };
    },
  };
}

const MB = 1024 * 1024;

/**
 * Once `call` carries audio and video, flood the bridge at `wsUrl` (60 grantless sockets from 127.0.0.2, 20 s) while
 * watching the bridge process `pid`'s RSS; returns the flood's figures and what the call had received before and after.
 */
export async function floodDuringCall(pid: number, wsUrl: string, call: Awaited<ReturnType<typeof startTwoPartyCall>>) {
  const before = await waitFor("the call to flow", async () => {
    const r = await call.received();
    return r.video > 50 && r.audio > 50 ? r : undefined;
  }, 90_000, 500);
  const flood = await floodAndWatch(pid, () => startFlood({ wsUrl, sockets: 60, localAddress: "127.0.0.2" }), {
    ms: 20_000,
    abortAboveBytes: 100 * MB,
  });
  const s = flood.stats;
  console.log(`flood: ${s.connections} connections, ${Math.round(s.bytesWritten / MB)} MB written; bridge RSS ${Math.round(flood.baseline / MB)} -> peak ${Math.round(flood.peak / MB)} MB`);
  return { before, flood, after: await call.received() };
}
