/**
 * One mediasoup Worker per CPU core, each with a WebRtcServer listening on ONE UDP + TCP port (RTC_PORT + i), so
 * a host needs only a handful of open ports. New rooms go to the worker with the fewest rooms.
 *
 * A worker that dies is replaced at once, on the same index and port (the kernel freed the dead process's sockets
 * when it exited): by the spare, a worker process started ahead without a port (starting a process is most of a
 * replacement's time), which only has to listen on that port; then a new spare is started. Without a spare, or if
 * the port is still taken, a new worker is spawned, retried with a growing pause (RESPAWN_RETRY_MS). Its
 * rooms close themselves via the router's "workerclose" and the server recreates them on a live worker
 * (bridge-host/PROTOCOL.md "Media worker restarts"); `acquire()` waits for a worker when none is live, so a
 * room recreated while the only worker is being replaced lands on the replacement.
 * Per-worker CPU use is sampled from getResourceUsage() for /health and /metrics.
 */
import * as mediasoup from "mediasoup";
import type { types } from "mediasoup";
import type { Logger } from "./log";

/** Pauses between attempts to replace a dead worker (then the last one, for as long as it takes). */
const RESPAWN_RETRY_MS = [0, 100, 250, 500, 1000, 2000, 5000] as const;

/** How long `acquire()` waits for a live worker by default (a replacement normally takes well under a second). */
const ACQUIRE_TIMEOUT_MS = 10_000;

export interface PoolOptions {
  count: number;
  listenIp: string;
  announcedAddress: string;
  rtcPort: number;
  log: Logger;
  /** called when a worker died (its replacement is started right after) */
  onWorkerDied?: (index: number) => void;
}

export interface PoolEntry {
  index: number;
  worker: types.Worker;
  webRtcServer: types.WebRtcServer;
  rooms: number;
  /** CPU share of one core used in the last sample interval, 0..1 */
  cpu: number;
  lastCpuMs: number;
  lastSampleAt: number;
}

export class WorkerPool {
  readonly entries: PoolEntry[] = [];
  #closed = false;
  /** dead workers being replaced by their first attempt (a spawn: about a second) */
  readonly #firstRespawns = new Set<number>();
  /** A worker process started ahead, without a WebRtcServer: the next dead worker's replacement (#takeSpare). */
  #spare: types.Worker | undefined;
  #spareStarting = false;
  #sampler: NodeJS.Timeout | undefined;
  /** Waiting `acquire()` calls, woken when a replacement worker is up. */
  #waiters = new Set<() => void>();

  private constructor(readonly opts: PoolOptions) {}

  static async create(opts: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(opts);
    for (let i = 0; i < opts.count; i++) pool.entries.push(await pool.#spawn(i));
    await pool.#startSpare();
    pool.#sampler = setInterval(() => void pool.sampleCpu(), 2000);
    pool.#sampler.unref();
    return pool;
  }

  #createWorker(): Promise<types.Worker> {
    return mediasoup.createWorker({ logLevel: "error", disableLiburing: true });
  }

  /** Start a spare worker unless there is one (or one is starting); a spare that dies is started again. */
  async #startSpare(): Promise<void> {
    if (this.#spare || this.#spareStarting || this.#closed) return;
    this.#spareStarting = true;
    try {
      const w = await this.#createWorker();
      if (this.#closed) return void w.close();
      this.#spare = w;
      w.on("died", () => {
        if (this.#spare !== w) return; // taken meanwhile: its entry's own handler speaks for it
        this.#spare = undefined;
        this.opts.log.error("worker.spare_died");
        setTimeout(() => void this.#startSpare(), RESPAWN_RETRY_MS[2]);
      });
    } catch (e) {
      this.opts.log.error("worker.spare_failed", { error: (e as Error).message });
    } finally {
      this.#spareStarting = false;
    }
  }

  async #spawn(index: number, spare?: types.Worker): Promise<PoolEntry> {
    const { listenIp, announcedAddress, rtcPort, log } = this.opts;
    const worker = spare ?? (await this.#createWorker());
    const port = rtcPort + index;
    const announce = announcedAddress !== listenIp ? { announcedAddress } : {};
    let webRtcServer: types.WebRtcServer;
    try {
      webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { protocol: "udp", ip: listenIp, port, ...announce },
          { protocol: "tcp", ip: listenIp, port, ...announce },
        ],
      });
    } catch (err) {
      worker.close();
      throw new Error(`cannot listen on RTC port ${port} (udp+tcp): ${(err as Error).message}`);
    }
    const entry: PoolEntry = { index, worker, webRtcServer, rooms: 0, cpu: 0, lastCpuMs: 0, lastSampleAt: Date.now() };
    worker.on("died", () => {
      log.error("worker.died", { index });
      if (this.#closed) return;
      this.opts.onWorkerDied?.(index);
      if (!this.#takeSpare(index)) this.#replace(index, 0);
    });
    return entry;
  }

  /** Replace the dead worker `index` by the spare, if there is one (false: there is none); then start a new spare. */
  #takeSpare(index: number): boolean {
    const spare = this.#spare;
    if (!spare || spare.closed) return false;
    this.#spare = undefined;
    this.#firstRespawns.add(index);
    this.#spawn(index, spare).then(
      (e) => this.#replaced(index, e, 0, true),
      (e: Error) => {
        // The port is not free yet: a fresh worker, retried as without a spare (this one is closed by #spawn).
        this.#firstRespawns.delete(index);
        this.opts.log.error("worker.respawn_failed", { index, attempt: 1, error: e.message });
        this.#replace(index, 1);
      },
    );
    void this.#startSpare();
    return true;
  }

  #replaced(index: number, e: PoolEntry, attempt: number, spare: boolean): void {
    this.#firstRespawns.delete(index);
    if (this.#closed) return void e.worker.close();
    this.entries[index] = e;
    this.opts.log.info("worker.replaced", { index, attempts: attempt + 1, spare });
    for (const wake of [...this.#waiters]) wake();
  }

  /**
   * Workers being replaced by their first attempt: the bridge is recovering, not down (its health stays ok, so that
   * the edge does not move its rooms away meanwhile; they are recreated here within about a second).
   */
  get respawning(): number {
    return this.#firstRespawns.size;
  }

  #replace(index: number, attempt: number): void {
    const pause = RESPAWN_RETRY_MS[Math.min(attempt, RESPAWN_RETRY_MS.length - 1)]!;
    if (attempt === 0) this.#firstRespawns.add(index);
    setTimeout(() => {
      if (this.#closed) return;
      this.#spawn(index).then(
        (e) => this.#replaced(index, e, attempt, false),
        (e: Error) => {
          this.#firstRespawns.delete(index);
          this.opts.log.error("worker.respawn_failed", { index, attempt: attempt + 1, error: e.message });
          this.#replace(index, attempt + 1);
        },
      );
    }, pause);
  }

  /** A live worker (as `pick()`), waiting up to `timeoutMs` for a replacement when none is live. */
  async acquire(timeoutMs = ACQUIRE_TIMEOUT_MS): Promise<PoolEntry> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#closed) throw new Error("worker pool closed");
      if (this.entries.some((e) => !e.worker.closed)) return this.pick();
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no mediasoup worker available");
      await new Promise<void>((resolve) => {
        const wake = () => (clearTimeout(timer), this.#waiters.delete(wake), resolve());
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  /** Least-loaded live worker (fewest rooms, then lowest CPU). */
  pick(): PoolEntry {
    const live = this.entries.filter((e) => !e.worker.closed);
    if (live.length === 0) throw new Error("no mediasoup worker available");
    return live.reduce((a, b) => (b.rooms < a.rooms || (b.rooms === a.rooms && b.cpu < a.cpu) ? b : a));
  }

  async sampleCpu(): Promise<void> {
    await Promise.all(
      this.entries.map(async (e) => {
        if (e.worker.closed) return;
        try {
          const u = await e.worker.getResourceUsage();
          const cpuMs = u.ru_utime + u.ru_stime;
          const now = Date.now();
          if (e.lastCpuMs > 0 && now > e.lastSampleAt) e.cpu = Math.min(1, (cpuMs - e.lastCpuMs) / (now - e.lastSampleAt));
          e.lastCpuMs = cpuMs;
          e.lastSampleAt = now;
        } catch {
          /* worker closing */
        }
      }),
    );
  }

  /** Mean CPU share across workers, 0..1. */
  cpu(): number {
    if (this.entries.length === 0) return 0;
    return this.entries.reduce((s, e) => s + e.cpu, 0) / this.entries.length;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sampler) clearInterval(this.#sampler);
    for (const wake of [...this.#waiters]) wake();
    for (const e of this.entries) e.worker.close();
    this.#spare?.close();
  }
}
