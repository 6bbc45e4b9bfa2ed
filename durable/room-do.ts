/**
 * RoomDO: one SQLite-backed, hibernating Durable Object per room; a small XMPP server for that room.
 * Thin shell (partyserver-style): platform entry points -> pure core (core/step.ts) -> run effects
 * (send / fanout / close / persist). No protocol rules live here.
 *
 * Hibernation (WebSocket Hibernation API, `ctx.acceptWebSocket`): each socket's ConnState (stream phase, JID,
 * nick, role, affiliation, last presence) is its attachment; room meta and password back-off are in SQLite. The
 * constructor (which reruns on every wake) migrates storage and rebuilds the room from `ctx.getWebSockets()`.
 */
import { DurableObject } from "cloudflare:workers";
import { ROOM_HEADERS } from "../contract/headers";
import { ROOM_NAME } from "../contract/room-name";
import { loadConfig } from "./config";
import { BridgeControl } from "./bridge/control-client";
import { lobbyIdFor } from "../contract/grants";
import { MediaCoordinator, type MediaHost, type MediaRecord } from "./bridge/media-coordinator";
import { defaultRandomId, type Deps } from "./core/deps";
import { Out, renderFor, type Effect } from "./core/effects";
import { failStream, handleDisconnect, handleFrame, newRuntime, type Runtime } from "./core/step";
import { ConnStateSchema, addConn, fullJidAttr, newRoom, occupants, waitingCount, type ConnState, type MediaMode } from "./core/state";
import { setMediaMode, tellWaiting } from "./features/media";
import { expireFailures } from "./features/muc-password";
import { RoomStore } from "./room-store";

export interface RoomInfo {
  room: string;
  occupantCount: number;
  occupants: { nick: string; role: string; affiliation: string }[];
  passwordProtected: boolean;
  /** ISO 8601, or null when the room is empty */
  createdAt: string | null;
  mediaMode: MediaMode;
}

const DOMAIN_RE = /^(?:[a-z0-9.-]{1,253}|\[[0-9a-f:.]+\])$/;

export class RoomDO extends DurableObject<Env> {
  readonly #store: RoomStore;
  #rt!: Runtime;
  #ipSalt = "";
  /** connection id -> socket, and back */
  readonly #sockets = new Map<string, WebSocket>();
  readonly #ids = new WeakMap<WebSocket, string>();
  /** resolves once storage is migrated and the room rebuilt (the runtime also gates events on it) */
  readonly #ready: Promise<void>;
  /** steps run one at a time (some await WebCrypto); starts with #ready */
  #queue: Promise<void>;
  /** media path (P2P / bridge) orchestration; undefined when no bridges are configured (rooms stay P2P) */
  readonly #media: MediaCoordinator | undefined;
  /** whether the room was password-protected at the last save (a lock closes the bridge room's lobby) */
  #locked = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new RoomStore(ctx.storage.sql);
    const cfg = loadConfig(env);
    const deps: Deps = {
      cfg: {
        maxOccupants: cfg.MAX_OCCUPANTS,
        turnHost: cfg.TURN_HOST,
        turnPort: cfg.TURN_PORT,
        turnTlsPort: cfg.TURN_TLS_PORT,
        turnTtlSeconds: cfg.TURN_TTL_SECONDS,
        turnSecret: cfg.TURN_SECRET,
        bridgeSecret: cfg.BRIDGE_SECRET,
      },
      now: () => Date.now(),
      randomId: defaultRandomId,
    };
    const limits = { maxStanzaBytes: cfg.MAX_STANZA_BYTES, ratePerSecond: cfg.STANZA_RATE_PER_SECOND, burst: cfg.STANZA_BURST };
    this.#ready = ctx.blockConcurrencyWhile(async () => {
      this.#store.migrate();
      const { name, meta, ipSalt } = this.#store.load();
      this.#ipSalt = ipSalt;
      const room = newRoom(name ?? "", meta);
      room.pwFailures = this.#store.loadFailures();
      this.#rt = newRuntime(room, deps, limits);
      this.#locked = meta.pwHash !== null;
      // Thaw: every hibernated socket's attachment is an occupant/connection (checked: external input).
      for (const ws of ctx.getWebSockets()) {
        const att = ConnStateSchema.safeParse(ws.deserializeAttachment());
        if (!att.success) {
          try {
            ws.close(1011, "state lost");
          } catch {
            /* already closing */
          }
          continue;
        }
        const c = att.data as ConnState;
        addConn(room, c);
        this.#sockets.set(c.id, ws);
        this.#ids.set(ws, c.id);
      }
    });
    this.#queue = this.#ready;
    if (cfg.BRIDGES.length > 0) {
      this.#media = new MediaCoordinator(this.#mediaHost(), {
        bridges: cfg.BRIDGES,
        control: new BridgeControl({ secret: cfg.BRIDGE_SECRET }),
        lobbyId: (session) => lobbyIdFor(cfg.BRIDGE_SECRET, this.#rt.room.name, session),
      });
    }
  }

  override async fetch(request: Request): Promise<Response> {
    const room = request.headers.get(ROOM_HEADERS.room) ?? "";
    const domain = (request.headers.get(ROOM_HEADERS.domain) ?? "").toLowerCase();
    const ip = request.headers.get(ROOM_HEADERS.ip) ?? "";
    if (!ROOM_NAME.test(room) || !DOMAIN_RE.test(domain)) {
      return Response.json({ error: "bad-request", reason: "missing or invalid room/domain" }, { status: 400 });
    }
    if ((request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
      return Response.json({ error: "upgrade-required", reason: "WebSocket only" }, { status: 426, headers: { Upgrade: "websocket" } });
    }
    await this.#ready;
    const r = this.#rt.room;
    if (r.name === "") {
      r.name = room;
      this.#store.saveName(room);
    } else if (r.name !== room) {
      return Response.json({ error: "bad-request", reason: "room mismatch" }, { status: 400 });
    }
    // forget password-failure records an hour after the last failure (PRIVACY: salted IP hashes, kept briefly)
    for (const k of expireFailures(r, Date.now())) this.#store.saveFailure(k, undefined);
    const pair = new WebSocketPair();
    const client = pair[0];
    const server = pair[1];
    const id = defaultRandomId();
    const c: ConnState = { v: 1, id, domain, ipKey: await this.#ipKey(ip), phase: "init" };
    this.ctx.acceptWebSocket(server, [id]);
    server.serializeAttachment(c);
    addConn(r, c);
    this.#sockets.set(id, server);
    this.#ids.set(server, id);
    // RFC 7395 §3.1: echo the subprotocol only when the client asked for it.
    const asked = (request.headers.get("sec-websocket-protocol") ?? "").split(",").map((s) => s.trim());
    const headers = asked.includes("xmpp") ? { "Sec-WebSocket-Protocol": "xmpp" } : undefined;
    return new Response(null, { status: 101, webSocket: client, ...(headers ? { headers } : {}) });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const id = this.#idOf(ws);
    if (id === undefined) return Promise.resolve();
    return this.#enqueue(async () => {
      if (typeof message !== "string") {
        // RFC 7395 §3.2: XMPP uses text frames only
        const c = this.#rt.room.conns.get(id);
        if (!c) return;
        const out = new Out();
        failStream(this.#rt, c, { condition: "unsupported-encoding", text: "binary frames are not used (RFC 7395 §3.2)" }, out);
        this.#run(out.effects);
        return;
      }
      this.#run(await handleFrame(this.#rt, id, message));
    });
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string, _wasClean: boolean): Promise<void> {
    // Complete the closing handshake ourselves: the runtime does not, and the client would wait for a close frame.
    try {
      ws.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code, reason);
    } catch {
      /* already closed */
    }
    return this.#gone(ws);
  }

  override webSocketError(ws: WebSocket, _error: unknown): Promise<void> {
    return this.#gone(ws);
  }

  /** Typed RPC for GET /admin/rooms/<room>. Never exposes real JIDs or IPs. */
  async getInfo(room: string): Promise<RoomInfo> {
    await this.#queue;
    const r = this.#rt.room;
    const occ = occupants(r)
      .map((c) => ({ nick: c.occ!.nick, role: c.occ!.role, affiliation: c.occ!.affiliation }))
      .sort((a, b) => (a.nick < b.nick ? -1 : a.nick > b.nick ? 1 : 0));
    return {
      room: r.name || room,
      occupantCount: occ.length,
      occupants: occ,
      passwordProtected: r.meta.pwHash !== null,
      createdAt: r.meta.createdAt === null ? null : new Date(r.meta.createdAt).toISOString(),
      mediaMode: r.meta.mediaMode,
    };
  }

  /** RPC for the edge's /bridge-events: the bridge at `base` is draining; move this room off it. */
  async bridgeDraining(base: string): Promise<void> {
    await this.#ready;
    await this.#media?.bridgeDraining(base);
  }

  /** Alarm: bridge health check while the room is on the media bridge (media-coordinator.ts). */
  override async alarm(): Promise<void> {
    await this.#ready;
    await this.#media?.checkBridge();
  }

  // -------------------------------------------------------------------------------------------------------------

  /** MediaCoordinator's view of this room: occupant count, persisted media record, announcements, the alarm. */
  #mediaHost(): MediaHost {
    const meta = () => this.#rt.room.meta;
    const roomName = () => this.#rt.room.name;
    return {
      get room() {
        return roomName();
      },
      occupantCount: () => this.#rt.room.nicks.size,
      waitingCount: () => waitingCount(this.#rt.room),
      announce: (mode, wsUrl) => this.#step((out) => setMediaMode(this.#rt.room, mode, wsUrl, out, this.#rt.deps)),
      load: (): MediaRecord => {
        const m = meta();
        return m.bridgeBase && m.bridgeUrl ? { mode: m.mediaMode, bridge: { base: m.bridgeBase, wsUrl: m.bridgeUrl } } : { mode: "p2p" };
      },
      save: (r) => {
        const m = meta();
        m.mediaMode = r.mode;
        m.bridgeBase = r.bridge?.base ?? null;
        m.bridgeUrl = r.bridge?.wsUrl ?? null;
        this.#store.saveMeta(m);
      },
      scheduleCheck: (at) => {
        void (at === undefined ? this.ctx.storage.deleteAlarm() : this.ctx.storage.setAlarm(at));
      },
    };
  }

  #gone(ws: WebSocket): Promise<void> {
    const id = this.#idOf(ws);
    if (id === undefined) return Promise.resolve();
    return this.#enqueue(async () => {
      this.#run(handleDisconnect(this.#rt, id));
      this.#sockets.delete(id);
    });
  }

  /** Enqueue a step that writes its effects to an Out, and run them. */
  #step(fn: (out: Out) => Promise<void>): Promise<void> {
    return this.#enqueue(async () => {
      const out = new Out();
      await fn(out);
      this.#run(out.effects);
    });
  }

  #enqueue(fn: () => Promise<void>): Promise<void> {
    const p = this.#queue.then(fn).catch((e: unknown) => {
      console.error("room step failed", e instanceof Error ? e.stack : e);
    });
    this.#queue = p;
    return p;
  }

  #idOf(ws: WebSocket): string | undefined {
    const known = this.#ids.get(ws);
    if (known !== undefined) return known;
    const att = ConnStateSchema.safeParse(ws.deserializeAttachment());
    if (!att.success) return undefined;
    const id = att.data.id;
    this.#ids.set(ws, id);
    this.#sockets.set(id, ws);
    if (!this.#rt.room.conns.has(id)) addConn(this.#rt.room, att.data as ConnState);
    return id;
  }

  async #ipKey(ip: string): Promise<string> {
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(this.#ipSalt + "|" + ip)));
    let s = "";
    for (let i = 0; i < 12; i++) s += d[i]!.toString(16).padStart(2, "0");
    return s;
  }

  #send(id: string, xml: string): void {
    const ws = this.#sockets.get(id);
    if (!ws) return;
    try {
      ws.send(xml);
    } catch {
      // closing socket (getWebSockets can include CLOSING ones): its close event removes it
    }
  }

  #run(effects: Effect[]): void {
    const r = this.#rt.room;
    for (const e of effects) {
      switch (e.kind) {
        case "send":
          this.#send(e.conn, e.xml);
          break;
        case "fanout": {
          const cache = new Map<string, [string, string | null]>();
          for (const id of e.conns) {
            const c = r.conns.get(id);
            if (c) this.#send(id, renderFor(e.tpl, fullJidAttr(c), c.domain, cache));
          }
          break;
        }
        case "close": {
          const ws = this.#sockets.get(e.conn);
          this.#sockets.delete(e.conn);
          try {
            // a closing socket can still be listed by getWebSockets() after a wake: make it carry no occupant
            ws?.serializeAttachment(null);
            ws?.close(e.code, e.reason);
          } catch {
            /* already closed */
          }
          break;
        }
        case "save-conn": {
          const c = r.conns.get(e.conn);
          const ws = this.#sockets.get(e.conn);
          if (c && ws) {
            try {
              ws.serializeAttachment(c);
            } catch (err) {
              console.error("attachment not saved", err);
            }
          }
          break;
        }
        case "save-room": {
          this.#store.saveMeta(r.meta);
          const locked = r.meta.pwHash !== null;
          if (locked && !this.#locked) void this.#media?.lobbyLocked();
          this.#locked = locked;
          break;
        }
        case "save-pw-failure":
          this.#store.saveFailure(e.ipKey, r.pwFailures.get(e.ipKey));
          break;
        case "sessions-changed": {
          void this.#media?.reconcile(); // someone started or stopped waiting on the hair check (standby)
          if (e.gone !== undefined) void this.#media?.removed(e.gone);
          const c = e.bound === undefined ? undefined : r.conns.get(e.bound);
          // A newcomer to a room that already has a bridge room: its lobby grant (a room without one says nothing).
          if (c && this.#media && r.meta.bridgeUrl) void this.#step((out) => tellWaiting(this.#rt.room, c, out, this.#rt.deps));
          break;
        }
        case "occupants-changed":
          // not awaited: the coordinator serializes itself and enqueues its announcements after this step
          void this.#media?.reconcile();
          if (e.kicked !== undefined && e.kickedConn !== undefined) void this.#media?.removed(e.kickedConn, e.kicked);
          break;
        default: {
          const never: never = e;
          throw new Error(`unknown effect ${JSON.stringify(never)}`);
        }
      }
    }
  }
}
