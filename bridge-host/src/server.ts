/**
 * The bridge host, on top of a WorkerPool, with two HTTP(S) listeners:
 *  - public (HTTP_HOST:HTTP_PORT): only the client signaling WebSocket at /v1/rooms/<room>/ws?grant=...
 *    (signaling/connection.ts). The grant is verified before the handshake completes; connections per IP address
 *    are capped (MAX_CONNECTIONS_PER_ADDRESS); anything else gets 404.
 *  - control (CONTROL_HOST:CONTROL_PORT, loopback by default): the edge's signed control API (control/api.ts, with
 *    this bridge's own key, bridgeControlKey) and GET /metrics.
 * Owns the rooms map; `shutdown()` is the graceful SIGTERM path (roomClosing to clients, signed `draining` event
 * to the edge, then close everything).
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { verifyGrant } from "../../contract/grants";
import { bridgeControlKey, NonceCache, signRequest } from "../../contract/signed-request";
import type { BridgeConfig } from "./config";
import { CONTROL_MAX_BODY, handleControl, type HealthSnapshot } from "./control/api";
import { ROOM_NAME } from "../../contract/room-name";
import type { Logger } from "./log";
import { renderMetrics } from "./metrics";
import { BridgeRoom } from "./room/bridge-room";
import { admission, openConnection, refuseUpgrade } from "./signaling/connection";
import { UsedGrants } from "./signaling/used-grants";
import { WorkerPool } from "./worker-pool";

/** Consumers one worker core forwards comfortably (mediasoup's guidance, see `npm run bench:bridge`). */
const CONSUMERS_PER_WORKER = 500;

type CounterName =
  | "ws_accepted"
  | "ws_rejected"
  | "requests"
  | "request_errors"
  | "control_requests"
  | "control_unauthorized"
  | "connections_dropped";

export class BridgeServer {
  readonly rooms = new Map<string, BridgeRoom>();
  readonly #pending = new Map<string, Promise<BridgeRoom>>();
  readonly #nonces = new NonceCache();
  readonly #counters: Record<CounterName, number> = {
    ws_accepted: 0,
    ws_rejected: 0,
    requests: 0,
    request_errors: 0,
    control_requests: 0,
    control_unauthorized: 0,
    connections_dropped: 0,
  };
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  readonly #grants = new UsedGrants();
  /** open public connections per remote address */
  readonly #perAddress = new Map<string, number>();
  #shuttingDown = false;
  controlUrl = "";
  wsBaseUrl = "";
  /** this bridge's control key and authority (signed-request.ts): set once listening */
  #controlKey = "";
  #controlHost = "";

  private constructor(
    readonly config: BridgeConfig,
    readonly pool: WorkerPool,
    /** the public listener (client WebSockets) */
    readonly http: Server,
    /** the control listener (control API, /metrics) */
    readonly control: Server,
    readonly log: Logger,
  ) {}

  static async start(config: BridgeConfig, log: Logger): Promise<BridgeServer> {
    const pool = await WorkerPool.create({
      count: config.workers,
      listenIp: config.listenIp,
      announcedAddress: config.announcedAddress,
      rtcPort: config.rtcPort,
      log,
    });
    const tls = config.tls && { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
    const listener = () => (tls ? createHttpsServer(tls) : createHttpServer());
    const http = listener();
    const control = listener();
    const server = new BridgeServer(config, pool, http, control, log);
    // Slow or idle clients on the public listener give up their slot soon (Node's defaults are 60 s and 300 s).
    http.headersTimeout = 10_000;
    http.requestTimeout = 15_000;
    http.on("connection", (socket: Socket) => server.#onPublicConnection(socket));
    http.on("request", (_req, res) => {
      res.writeHead(404, { "content-type": "text/plain", connection: "close" }).end("not found\n");
    });
    http.on("upgrade", (req, socket, head) => server.#onUpgrade(req, socket, head));
    control.on("request", (req, res) => void server.#onRequest(req, res));
    const listen = (s: Server, port: number, host: string) =>
      new Promise<number>((resolve, reject) => {
        s.once("error", reject);
        s.listen(port, host, () => resolve((s.address() as AddressInfo).port));
      });
    const port = await listen(http, config.httpPort, config.httpHost);
    const controlPort = await listen(control, config.controlPort, config.controlHost);
    const scheme = config.tls ? "https" : "http";
    server.controlUrl = config.publicControlUrl ?? `${scheme}://${config.controlUrlHost}:${controlPort}`;
    server.wsBaseUrl = config.publicWsUrl ?? `${config.tls ? "wss" : "ws"}://${config.urlHost}:${port}`;
    server.#controlKey = await bridgeControlKey(config.secret, server.controlUrl);
    server.#controlHost = new URL(server.controlUrl).host;
    log.info("bridge.started", { workers: pool.entries.length, port, controlPort, tls: !!config.tls });
    return server;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get controlPort(): number {
    return (this.control.address() as AddressInfo).port;
  }

  #count(c: CounterName) {
    this.#counters[c]++;
  }

  // ---- rooms -----------------------------------------------------------------------------------------------------

  async createRoom(name: string): Promise<{ wsUrl: string }> {
    const wsUrl = `${this.wsBaseUrl}/v1/rooms/${name}/ws`;
    if (this.rooms.has(name)) return { wsUrl };
    let p = this.#pending.get(name);
    if (!p) {
      p = this.pool.acquire().then(async (entry) => {
        entry.rooms++;
        let room: BridgeRoom;
        try {
          room = await BridgeRoom.create({
            name,
            host: entry,
            maxPeers: this.config.maxPeersPerRoom,
            firstKeyFrameHoldMs: this.config.firstKeyFrameHoldMs,
            maxIncomingBitrate: this.config.maxIncomingBitrate,
            log: this.log,
            traceKeyFrames: this.config.logLevel === "debug",
          });
        } catch (err) {
          entry.rooms--;
          throw err;
        }
        this.rooms.set(name, room);
        room.on("close", (reason) => {
          entry.rooms--;
          if (this.rooms.get(name) === room) this.rooms.delete(name);
          // PROTOCOL.md "Media worker restarts": the room comes back at once, same name and URL, on a live worker.
          if (reason === "worker-died" && !this.#shuttingDown) {
            this.createRoom(name).then(
              () => this.log.info("room.recreated"),
              (e: Error) => this.log.error("room.recreate_failed", { error: e.message }),
            );
          }
        });
        this.log.info("room.created", { rooms: this.rooms.size });
        return room;
      });
      this.#pending.set(name, p);
      p.finally(() => this.#pending.delete(name)).catch(() => undefined);
    }
    await p;
    return { wsUrl };
  }

  deleteRoom(name: string): void {
    this.rooms.get(name)?.close("deleted");
    // Being (re)created (e.g. after its worker died): the deletion wins once it exists.
    this.#pending.get(name)?.then((room) => room.close("deleted"), () => undefined);
  }

  health(): HealthSnapshot {
    let peers = 0;
    let transports = 0;
    let producers = 0;
    let consumers = 0;
    for (const r of this.rooms.values()) {
      const c = r.counts();
      peers += c.peers;
      transports += c.transports;
      producers += c.producers;
      consumers += c.consumers;
    }
    const workers = this.pool.entries.filter((e) => !e.worker.closed).length;
    const cpu = this.pool.cpu();
    const load = workers === 0 ? 1 : Math.min(1, Math.max(cpu, consumers / (workers * CONSUMERS_PER_WORKER)));
    return {
      // a worker that died and is being replaced (worker-pool.ts `respawning`) leaves the bridge ok: its rooms come back here
      ok: workers + this.pool.respawning > 0 && !this.#shuttingDown,
      workers,
      rooms: this.rooms.size,
      peers,
      transports,
      producers,
      consumers,
      cpu: round(cpu),
      load: round(load),
    };
  }

  // ---- HTTP ------------------------------------------------------------------------------------------------------

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body?: unknown, type = "application/json") => {
      const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(status, {
        ...(text ? { "content-type": type } : {}),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      });
      res.end(text);
    };
    try {
      const path = req.url ?? "/";
      const method = req.method ?? "GET";
      if (path === "/metrics" && method === "GET") return send(200, this.#metrics(), "text/plain; version=0.0.4");
      const body = await readBody(req, CONTROL_MAX_BODY);
      if (body === undefined) return send(413, { error: `body larger than ${CONTROL_MAX_BODY} bytes` });
      this.#count("control_requests");
      const headers = { get: (n: string) => headerValue(req, n) };
      const r = await handleControl(method, path, body, headers, {
        key: this.#controlKey,
        host: this.#controlHost,
        nonces: this.#nonces,
        createRoom: (room) => {
          if (this.#shuttingDown) throw new ShuttingDown();
          return this.createRoom(room);
        },
        deleteRoom: (room) => this.deleteRoom(room),
        kick: (room, nick) => this.rooms.get(room)?.kick(nick) ?? "no-room",
        evictLobby: (room, lids) => this.rooms.get(room)?.evictLobby(lids) ?? "no-room",
        health: () => this.health(),
      });
      if (r.status === 401) {
        this.#count("control_unauthorized");
        res.setHeader("www-authenticate", 'Parley-HMAC realm="bridge"');
      }
      send(r.status, r.body);
    } catch (err) {
      if (err instanceof ShuttingDown) return send(503, { error: "bridge is shutting down" });
      this.log.error("http.error", { error: (err as Error)?.name ?? "Error" });
      if (!res.headersSent) send(500, { error: "internal error" });
      else res.destroy();
    }
  }

  /** Caps open connections per remote address: beyond MAX_CONNECTIONS_PER_ADDRESS they are dropped unread. */
  #onPublicConnection(socket: Socket): void {
    const addr = socket.remoteAddress ?? "";
    const n = this.#perAddress.get(addr) ?? 0;
    if (n >= this.config.maxConnectionsPerAddress) {
      this.#count("connections_dropped");
      socket.destroy();
      return;
    }
    this.#perAddress.set(addr, n + 1);
    socket.once("close", () => {
      const left = (this.#perAddress.get(addr) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(addr, left);
      else this.#perAddress.delete(addr);
    });
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    const url = new URL(req.url ?? "/", "http://bridge.invalid");
    const m = /^\/v1\/rooms\/([^/]+)\/ws$/.exec(url.pathname);
    if (!m || !ROOM_NAME.test(m[1] ?? "") || this.#shuttingDown) {
      socket.end(`HTTP/1.1 ${this.#shuttingDown ? "503 Service Unavailable" : "404 Not Found"}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const room = m[1] as string;
    const grant = url.searchParams.get("grant");
    // The grant is checked before the handshake completes: until then nothing the client sends is read (it stays in
    // the socket's buffers). A refused client gets the handshake and a close frame with the reason (browsers only see
    // WebSocket close codes and reasons, not HTTP errors), and is never read (refuseUpgrade).
    // A room being (re)created, e.g. after its media worker died: the connection waits for it instead of a 4404.
    const pending = this.#pending.get(room);
    const ready: Promise<unknown> = pending ? pending.catch(() => undefined) : Promise.resolve();
    void ready.then(() => (grant ? verifyGrant(this.config.secret, grant, room) : undefined)).then(
      (check) => {
        if (socket.destroyed) return;
        if (this.#shuttingDown) return void socket.destroy();
        const deps = {
          secret: this.config.secret,
          log: this.log,
          findRoom: (name: string) => this.rooms.get(name),
          grants: this.#grants,
          count: (c: CounterName) => this.#count(c),
        };
        // Decided and completed in one tick (handleUpgrade calls back synchronously): nothing changes in between.
        const a = admission(room, check, deps);
        if (!a.ok) {
          this.#count("ws_rejected");
          this.log.info("ws.rejected", { code: a.code });
          return refuseUpgrade(req, socket, a.code, a.reason);
        }
        this.#wss.handleUpgrade(req, socket, head, (ws) => openConnection(ws, room, a.room, a.grant, deps));
      },
      (err: unknown) => {
        this.log.error("ws.error", { error: (err as Error)?.name ?? "Error" });
        socket.destroy();
      },
    );
  }

  #metrics(): string {
    const h = this.health();
    return renderMetrics({
      gauges: {
        workers: { help: "live mediasoup workers", value: h.workers },
        rooms: { help: "rooms on this bridge", value: h.rooms },
        peers: { help: "connected peers", value: h.peers },
        transports: { help: "WebRTC transports", value: h.transports },
        producers: { help: "producers", value: h.producers },
        consumers: { help: "consumers", value: h.consumers },
        load: { help: "load 0..1 used by the edge to pick a bridge", value: h.load },
        ws_connections: { help: "open signaling WebSockets", value: this.#wss.clients.size },
      },
      counters: {
        ws_accepted: { help: "signaling connections accepted", value: this.#counters.ws_accepted },
        ws_rejected: { help: "signaling connections refused (grant, room, kick, full)", value: this.#counters.ws_rejected },
        signaling_requests: { help: "signaling requests", value: this.#counters.requests },
        signaling_request_errors: { help: "signaling requests answered with an error", value: this.#counters.request_errors },
        control_requests: { help: "control API requests", value: this.#counters.control_requests },
        control_unauthorized: { help: "control API requests refused with 401", value: this.#counters.control_unauthorized },
        connections_dropped: {
          help: "public connections dropped unread (MAX_CONNECTIONS_PER_ADDRESS reached)",
          value: this.#counters.connections_dropped,
        },
      },
      perWorkerCpu: this.pool.entries.map((e) => e.cpu),
    });
  }

  // ---- shutdown --------------------------------------------------------------------------------------------------

  /**
   * Graceful shutdown: stop accepting, tell the edge which rooms must move (signed POST EDGE_URL/bridge-events),
   * tell clients `roomClosing`, close all rooms, sockets, workers and the HTTP server.
   */
  async shutdown(): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    const rooms = [...this.rooms.keys()];
    this.log.info("bridge.draining", { rooms: rooms.length });
    const notify = this.config.edgeUrl && rooms.length > 0 ? this.#postDraining(rooms) : Promise.resolve();
    for (const room of [...this.rooms.values()]) room.close("shutdown");
    await notify;
    for (const ws of this.#wss.clients) ws.close(1001, "bridge shutting down");
    // Let the close handshakes finish (bounded), so clients see the code and reason.
    const deadline = Date.now() + 3000;
    while (this.#wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const ws of this.#wss.clients) ws.terminate();
    this.pool.close();
    await Promise.all(
      [this.http, this.control].map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    this.log.info("bridge.stopped");
  }

  async #postDraining(rooms: string[]): Promise<void> {
    const target = new URL(`${this.config.edgeUrl}/bridge-events`);
    const body = JSON.stringify({ type: "draining", bridge: this.controlUrl, rooms });
    const path = target.pathname + target.search;
    try {
      const headers = await signRequest(this.#controlKey, "POST", target.host, path, body);
      const res = await fetch(target, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(5000),
      });
      this.log.info("bridge.draining_sent", { status: res.status });
    } catch (err) {
      this.log.warn("bridge.draining_failed", { error: (err as Error)?.name ?? "Error" });
    }
  }
}

class ShuttingDown extends Error {}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads the body as UTF-8; undefined if it exceeds `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) tooBig = true;
      else chunks.push(c);
    });
    req.on("end", () => resolve(tooBig ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
