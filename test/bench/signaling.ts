/**
 * Signaling benchmark: N raw XMPP-over-WebSocket clients (RFC 7395) in one MUC room (XEP-0045).
 *
 *   npm run bench:signaling                      # starts `wrangler dev` itself (rate limits raised), then stops it
 *   npm run bench:signaling -- --prosody         # same against Debian's Prosody (comparison)
 *   npm run bench:signaling -- --url ws://127.0.0.1:8787/xmpp-websocket/bench --domain 127.0.0.1
 *
 * Flags: --url, --domain, --room, --clients N (10), --messages M per client in burst mode (500),
 *        --window W in-flight messages per client in burst mode (64), --rate R aggregate msg/s (500),
 *        --seconds T of fixed-rate mode (10), --prosody, --json (print one JSON line at the end too).
 *
 * Phases:
 *  1. join: every client connects, logs in (SASL ANONYMOUS), binds and joins, one after the other;
 *     join time = WebSocket connect -> the join's empty subject message.
 *  2. burst: every client sends M groupchat messages as fast as the server takes them (at most W un-echoed at a
 *     time); deliveries/s = groupchat messages actually received by all clients / elapsed.
 *  3. fixed-rate: R msg/s in aggregate for T s, round-robin over the clients; every delivery's latency =
 *     receive time - send time (embedded in the body; one process, one clock).
 *
 * The hot path uses no XML library: SASL/bind/join use minimal raw XML, and received frames are only scanned for a
 * marker, so the bench client itself is not the bottleneck (its CPU share is printed).
 */
import { randomUUID } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { startEdge, type EdgeHandle } from "../node/helpers/wrangler-dev";
import { startProsody, type ProsodyHandle } from "./prosody/start";

const { values: flags } = parseArgs({
  options: {
    url: { type: "string" },
    domain: { type: "string" },
    room: { type: "string" },
    clients: { type: "string", default: "10" },
    messages: { type: "string", default: "500" },
    window: { type: "string", default: "64" },
    rate: { type: "string", default: "500" },
    seconds: { type: "string", default: "10" },
    prosody: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
  strict: true,
});

function intFlag(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
}
const N = intFlag("clients", flags.clients, 1);
const M = intFlag("messages", flags.messages, 1);
const W = intFlag("window", flags.window, 1);
const RATE = intFlag("rate", flags.rate, 1);
const SECONDS = intFlag("seconds", flags.seconds, 1);

const FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
const MARK_BURST = "BNCH|B|";
const MARK_FIXED = "BNCH|F|";

/** Burst bookkeeping shared by all clients (one process): total deliveries and the moment the last one landed. */
const burst = { received: 0, expected: Infinity, endAt: 0, done: undefined as (() => void) | undefined };

class BenchClient {
  ws!: WebSocket;
  /** text frames waiting for `waitFor` during setup */
  private pending: string[] = [];
  private waiter: (() => void) | undefined;
  closed = false;
  // hot-path counters
  burstReceived = 0;
  ownInFlight = 0;
  onOwnEcho: (() => void) | undefined;
  fixedLatencies: number[] = [];
  fixedReceived = 0;
  hot = false;

  constructor(
    readonly index: number,
    readonly url: string,
    readonly domain: string,
  ) {}

  async connect(): Promise<void> {
    this.ws = new WebSocket(this.url, ["xmpp"], { perMessageDeflate: false });
    this.ws.on("message", (data: Buffer) => this.onFrame(data));
    this.ws.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    await new Promise<void>((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode} instead of 101`)));
    });
    if (this.ws.protocol !== "xmpp") throw new Error("server did not accept subprotocol xmpp");
  }

  private onFrame(data: Buffer): void {
    const now = performance.now();
    if (!this.hot) {
      this.pending.push(data.toString());
      this.waiter?.();
      return;
    }
    // Hot path: count markers; several stanzas per frame are allowed, so count every occurrence.
    const s = data.toString("latin1");
    let i = s.indexOf("BNCH|");
    while (i !== -1) {
      const kind = s.charCodeAt(i + 5); // 'B' or 'F'
      if (kind === 66 /* B */) {
        this.burstReceived++;
        if (++burst.received === burst.expected) {
          burst.endAt = now;
          burst.done?.();
        }
        // body: BNCH|B|<sender>|<seq>
        const senderEnd = s.indexOf("|", i + 7);
        if (Number(s.slice(i + 7, senderEnd)) === this.index) {
          this.ownInFlight--;
          this.onOwnEcho?.();
        }
      } else if (kind === 70 /* F */) {
        // body: BNCH|F|<sentAtMs>|<seq>
        const tEnd = s.indexOf("|", i + 7);
        this.fixedReceived++;
        this.fixedLatencies.push(now - Number(s.slice(i + 7, tEnd)));
      }
      i = s.indexOf("BNCH|", i + 5);
    }
  }

  /** Setup only: wait for a frame containing `needle`; frames before it are dropped. */
  async waitFor(needle: string, ms = 30_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const idx = this.pending.findIndex((f) => f.includes(needle));
      if (idx !== -1) {
        const f = this.pending[idx]!;
        this.pending.splice(0, idx + 1);
        return f;
      }
      if (this.closed) throw new Error(`client ${this.index}: socket closed waiting for ${needle}`);
      if (Date.now() > deadline) throw new Error(`client ${this.index}: timeout waiting for ${needle}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = undefined;
    }
  }

  send(s: string): void {
    this.ws.send(s);
  }

  async login(): Promise<void> {
    const open = `<open xmlns='${FRAMING}' to='${this.domain}' version='1.0'/>`;
    this.send(open);
    await this.waitFor("mechanisms");
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>`);
    await this.waitFor("success");
    this.send(open);
    await this.waitFor("urn:ietf:params:xml:ns:xmpp-bind");
    this.send(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    await this.waitFor("<jid>");
  }

  async join(roomJid: string, nick: string): Promise<void> {
    this.send(
      `<presence xmlns='jabber:client' to='${roomJid}/${nick}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`,
    );
    // The join ends with the room's subject message (XEP-0045 §7.2.15).
    await this.waitFor("subject");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((r) => this.ws.once("close", () => r()));
    try {
      this.send(`<close xmlns='${FRAMING}'/>`);
    } catch {
      /* closing */
    }
    await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
    if (!this.closed) this.ws.terminate();
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

async function main(): Promise<void> {
  let edge: EdgeHandle | undefined;
  let prosody: ProsodyHandle | undefined;
  const room = flags.room ?? `bench-${randomUUID().slice(0, 8)}`;
  let url: string;
  let domain: string;
  let targetName: string;
  if (flags.prosody) {
    prosody = await startProsody({ logLevel: "error" });
    url = prosody.wsUrl;
    domain = prosody.domain;
    targetName = "Prosody 0.12 (Debian, mod_websocket + MUC, epoll, nagle off)";
  } else if (flags.url) {
    url = flags.url;
    domain = flags.domain ?? new URL(url).hostname;
    targetName = url;
  } else {
    edge = await startEdge({
      vars: {
        // Measure the room server, not the per-connection limiter (defaults: 50/s, burst 200).
        STANZA_RATE_PER_SECOND: "10000",
        STANZA_BURST: "100000",
        MAX_OCCUPANTS: String(Math.max(20, N)),
      },
      timeoutMs: 120_000,
    });
    url = `${edge.wsUrl}/xmpp-websocket/${room}`;
    domain = "127.0.0.1";
    targetName = "wrangler dev (workerd, Parley RoomDO)";
  }
  const roomJid = `${room}@conference.${domain}`;
  const clients: BenchClient[] = [];
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    target: targetName,
    machine: `${cpus().length}x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`,
    clients: N,
  };
  try {
    console.log(`target: ${targetName}\nroom:   ${roomJid} via ${url}\nclients: ${N}`);

    // ---- join
    const joinTimes: number[] = [];
    for (let i = 0; i < N; i++) {
      const c = new BenchClient(i, url, domain);
      const t0 = performance.now();
      await c.connect();
      await c.login();
      await c.join(roomJid, `u${i}`);
      joinTimes.push(performance.now() - t0);
      clients.push(c);
    }
    const js = [...joinTimes].sort((a, b) => a - b);
    console.log(`join (connect+SASL+bind+MUC join, sequential): p50 ${f1(pct(js, 50))} ms, max ${f1(js.at(-1)!)} ms`);
    result.joinP50Ms = +f1(pct(js, 50));
    result.joinMaxMs = +f1(js.at(-1)!);
    for (const c of clients) c.hot = true;

    // ---- burst
    {
      const expected = N * M * N;
      burst.expected = expected;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let lastProgress = t0;
      let lastTotal = 0;
      const sent = new Array<number>(N).fill(0);
      const pump = (c: BenchClient) => {
        while (c.ownInFlight < W && sent[c.index]! < M) {
          const seq = sent[c.index]!++;
          c.ownInFlight++;
          c.send(
            `<message xmlns='jabber:client' to='${roomJid}' type='groupchat' id='b${c.index}-${seq}'><body>${MARK_BURST}${c.index}|${seq}</body></message>`,
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
          if (burst.received !== lastTotal) {
            lastTotal = burst.received;
            lastProgress = performance.now();
          }
          if (performance.now() - lastProgress > 10_000) burst.done?.();
        }, 50);
        burst.done = () => {
          clearInterval(iv);
          resolve();
        };
        if (burst.received >= expected) burst.done();
      });
      const received = burst.received;
      const tEnd = received >= expected ? burst.endAt : lastProgress;
      const elapsed = (tEnd - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const cpuShare = (cpu.user + cpu.system) / 1000 / (tEnd - t0);
      for (const c of clients) c.onOwnEcho = undefined;
      const rate = received / elapsed;
      console.log(
        `burst: ${N}x${M} messages, window ${W}: ${received}/${expected} deliveries in ${f2(elapsed)} s = ` +
          `${Math.round(rate)} deliveries/s (${Math.round(received / N / elapsed)} msg/s in); bench client CPU ${Math.round(cpuShare * 100)}% of one core`,
      );
      result.burstDeliveriesPerSec = Math.round(rate);
      result.burstReceived = received;
      result.burstExpected = expected;
      result.burstClientCpuPct = Math.round(cpuShare * 100);
    }

    // ---- fixed rate
    {
      const total = RATE * SECONDS;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let sentCount = 0;
      await new Promise<void>((resolve) => {
        const tick = () => {
          const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
          while (sentCount < due) {
            const c = clients[sentCount % N]!;
            const at = performance.now();
            c.send(
              `<message xmlns='jabber:client' to='${roomJid}' type='groupchat'><body>${MARK_FIXED}${at.toFixed(3)}|${sentCount}</body></message>`,
            );
            sentCount++;
          }
          if (sentCount >= total) resolve();
          else setTimeout(tick, 1);
        };
        tick();
      });
      const sendElapsed = performance.now() - t0;
      const expected = total * N;
      const got = () => clients.reduce((s, c) => s + c.fixedReceived, 0);
      const drainDeadline = performance.now() + 15_000;
      while (got() < expected && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 20));
      const cpu = process.cpuUsage(cpu0);
      const lat = clients.flatMap((c) => c.fixedLatencies).sort((a, b) => a - b);
      console.log(
        `fixed-rate: ${RATE} msg/s for ${SECONDS} s (actual send rate ${Math.round(total / (sendElapsed / 1000))}/s), ` +
          `${lat.length}/${expected} deliveries; fan-out latency p50 ${f2(pct(lat, 50))} ms, p95 ${f2(pct(lat, 95))} ms, ` +
          `p99 ${f2(pct(lat, 99))} ms, max ${f2(lat.at(-1) ?? NaN)} ms; bench client CPU ${Math.round(((cpu.user + cpu.system) / 1000 / sendElapsed) * 100)}% of one core`,
      );
      Object.assign(result, {
        fixedRate: RATE,
        fixedSeconds: SECONDS,
        fixedReceived: lat.length,
        fixedExpected: expected,
        latencyP50Ms: +f2(pct(lat, 50)),
        latencyP95Ms: +f2(pct(lat, 95)),
        latencyP99Ms: +f2(pct(lat, 99)),
        latencyMaxMs: +f2(lat.at(-1) ?? NaN),
      });
    }
    const dropped = clients.filter((c) => c.closed).length;
    if (dropped > 0) {
      console.log(`WARNING: the server closed ${dropped} of ${N} client connections during the run (stanza limiter?)`);
    }
    result.droppedClients = dropped;
    result.loadavg = loadavg().map((x) => +x.toFixed(2));
    console.log(`machine: ${result.machine}; load average ${(result.loadavg as number[]).join(" ")}`);
    if (flags.json) console.log(JSON.stringify(result));
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await edge?.stop();
    await prosody?.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
  },
);
