/**
 * Load on the servers, loopback only, bounded (every loop stops by itself): many small rooms of synthetic clients.
 * `npm run bench:load` (test/bench/load.ts) prints the figures; test/node/load.test.ts holds a smaller run to what
 * must stay true (everyone gets in, every message arrives, memory per room).
 *
 * 1. Signaling against `wrangler dev` (started here): ROOMS rooms x OCCUPANTS synthetic XMPP clients (RFC 7395, SASL
 *    ANONYMOUS, XEP-0045 join; raw-xmpp.ts), CONCURRENCY rooms at a time, the occupants of a room one after another.
 *    - join: WebSocket connect -> the room's subject message (XEP-0045 §7.2.15);
 *    - fan-out: MESSAGES rounds in which one occupant of every room sends a groupchat message, RATE messages a second
 *      in all (spread evenly: a steady load, not one burst); latency = arrival at each occupant (the sender included,
 *      XEP-0045 §7.4) - send time (one process, one clock);
 *    - memory: resident set of the workerd process after one warm-up room, and with every room joined.
 *    Each connection presents its own CF-Connecting-IP (a 127/8 string; only a header), so that the per-network
 *    connection limit counts clients, not this one process.
 * 2. One bridge host (real mediasoup, WORKERS=1): ROOMS rooms made with the signed control API, each with PEERS peers
 *    on WebSocket signaling (grant, getRouterRtpCapabilities, a receive and a send transport), all from loopback (its
 *    cap on connections per address is raised to let them in).
 *    - control API POST /v1/rooms and signaling request latency;
 *    - memory: resident set of the bridge process plus its worker, before and after.
 */
import WebSocket from "ws";
import { mintGrant } from "../../../contract/grants";
import { startBridge } from "./bridge-harness";
import { commOf, cpuMsOf, processTree, rssOf } from "./proc";
import { RawXmppClient } from "./raw-xmpp";
import { startEdge } from "./wrangler-dev";

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

export interface SignalingLoad {
  rooms: number;
  occupants: number;
  messages: number;
  /** messages a second, all rooms together */
  rate: number;
  /** rooms joining at a time */
  concurrency: number;
}

export interface SignalingLoadResult {
  /** seconds until every occupant was in */
  joinWallS: number;
  /** each occupant's join, ms */
  joinMs: number[];
  /** workerd's resident set after the warm-up room, and with every room joined (bytes) */
  rssBase: number;
  rssLoaded: number;
  /** each delivery's latency, ms; and those of each room's first message after the joins */
  fanoutMs: number[];
  firstRoundMs: number[];
  delivered: number;
  expected: number;
  /** CPU during the fan-out, % of one core: workerd, and the process running the clients */
  workerdCpuPct: number;
  clientsCpuPct: number;
  /** client connections the server closed */
  closedByServer: number;
}

export async function signalingLoad(o: SignalingLoad): Promise<SignalingLoadResult> {
  const edge = await startEdge({ vars: { MAX_OCCUPANTS: String(Math.max(20, o.occupants)) }, timeoutMs: 120_000 });
  const clients: RawXmppClient[] = [];
  let ip = 0;
  const nextIp = () => (ip++, `127.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`);
  try {
    const workerd = processTree(edge.process.pid!).find((p) => commOf(p) === "workerd");
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
    for (let i = 0; i < o.occupants; i++) await joinOne("load-warmup", `w${i}`);
    await settle();
    const rssBase = rssOf(workerd);

    const rooms = Array.from({ length: o.rooms }, (_, r) => `load-${r}`);
    const t0 = performance.now();
    const joined = await pool(rooms, o.concurrency, async (room) => {
      const members: Array<{ c: RawXmppClient; ms: number }> = [];
      for (let i = 0; i < o.occupants; i++) members.push(await joinOne(room, `u${i}`));
      return members;
    });
    const joinWallS = (performance.now() - t0) / 1000;
    await settle();
    const rssLoaded = rssOf(workerd);

    // Fan-out: each round, occupant (round mod occupants) of every room sends one message; all of the room receive it.
    const roomClients = joined.map((members) => members.map((j) => j.c));
    const marks = new Map(roomClients.flat().map((c) => [c, c.frames.length]));
    const sendStart = performance.now();
    const cpu0 = { workerd: cpuMsOf([workerd]), clients: process.cpuUsage() };
    for (let n = 0; n < o.rooms * o.messages; n++) {
      const wait = sendStart + (n * 1000) / o.rate - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const r = n % o.rooms;
      const round = Math.floor(n / o.rooms);
      roomClients[r]![round % o.occupants]!.send(
        `<message xmlns="jabber:client" to="${rooms[r]}@conference.${domain}" type="groupchat"><body>LOAD|${performance.now().toFixed(3)}|${round}</body></message>`,
      );
    }
    const expected = o.rooms * o.messages * o.occupants;
    const received = () =>
      roomClients.flat().reduce((n, c) => n + c.frames.slice(marks.get(c)).filter((f) => f.text.includes("LOAD|")).length, 0);
    for (const until = Date.now() + 20_000; received() < expected && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    const fanWall = performance.now() - sendStart;
    const cpu = { workerd: cpuMsOf([workerd]) - cpu0.workerd, clients: process.cpuUsage(cpu0.clients) };
    const fanoutMs: number[] = [];
    const firstRoundMs: number[] = []; // each room's first message after the joins (a room that hibernated wakes up)
    for (const c of roomClients.flat()) {
      for (const f of c.frames.slice(marks.get(c))) {
        for (const m of f.text.matchAll(/LOAD\|([\d.]+)\|(\d+)/g)) {
          fanoutMs.push(f.at - Number(m[1]));
          if (m[2] === "0") firstRoundMs.push(f.at - Number(m[1]));
        }
      }
    }
    return {
      joinWallS,
      joinMs: joined.flat().map((j) => j.ms),
      rssBase,
      rssLoaded,
      fanoutMs,
      firstRoundMs,
      delivered: fanoutMs.length,
      expected,
      workerdCpuPct: (cpu.workerd / fanWall) * 100,
      clientsCpuPct: ((cpu.clients.user + cpu.clients.system) / 1000 / fanWall) * 100,
      closedByServer: clients.filter((c) => c.closed).length,
    };
  } finally {
    for (const c of clients) c.close();
    await edge.stop();
  }
}

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

export interface BridgeLoadResult {
  /** control POST /v1/rooms, ms each */
  createMs: number[];
  /** control GET /health with every room up, ms each; and its last answer */
  healthMs: number[];
  health: unknown;
  /** signaling requests (getRouterRtpCapabilities, createWebRtcTransport), ms each */
  requestMs: number[];
  /** resident set of the bridge and its worker together, and of the worker alone, before and with every room (bytes) */
  rssBase: number;
  rssLoaded: number;
  workerBase: number;
  workerLoaded: number;
}

export async function bridgeHostLoad(o: { rooms: number; peers: number }): Promise<BridgeLoadResult> {
  // Every peer connects from this one address: the bridge's cap on connections per address must let them all in.
  const bridge = await startBridge({ env: { WORKERS: "1", MAX_CONNECTIONS_PER_ADDRESS: String(o.rooms * o.peers + 10) } });
  const peers: BridgeClient[] = [];
  try {
    const tree = () => processTree(bridge.process.pid!).reduce((n, p) => n + rssOf(p), 0);
    const worker = () => processTree(bridge.process.pid!).find((p) => commOf(p).startsWith("mediasoup-work"));
    await bridge.call("GET", "/health");
    await settle();
    const rssBase = tree();
    const workerBase = rssOf(worker() ?? 0);
    const createMs: number[] = [];
    for (let r = 0; r < o.rooms; r++) {
      const room = `load-${r}`;
      const t0 = performance.now();
      const res = await bridge.call("POST", "/v1/rooms", { room });
      createMs.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`POST /v1/rooms ${res.status}: ${await res.text()}`);
      const { wsUrl } = (await res.json()) as { wsUrl: string };
      for (let p = 0; p < o.peers; p++) {
        const c = await BridgeClient.open(`${wsUrl}?grant=${encodeURIComponent(await mintGrant(bridge.secret, room, `p${p}`))}`);
        peers.push(c);
        await c.request("getRouterRtpCapabilities");
        await c.request("createWebRtcTransport", { direction: "recv" });
        await c.request("createWebRtcTransport", { direction: "send" });
      }
    }
    const healthMs: number[] = [];
    let health: unknown;
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      health = await (await bridge.call("GET", "/health")).json();
      healthMs.push(performance.now() - t0);
    }
    await settle();
    return {
      createMs,
      healthMs,
      health,
      requestMs: peers.flatMap((p) => p.latencies),
      rssBase,
      rssLoaded: tree(),
      workerBase,
      workerLoaded: rssOf(worker() ?? 0),
    };
  } finally {
    for (const p of peers) p.ws.terminate();
    await bridge.stop();
  }
}
