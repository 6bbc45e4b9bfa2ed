/**
 * RoomDO: one SQLite-backed, hibernating Durable Object per room; a small XMPP server for that room.
 * Thin shell (partyserver-style): platform entry points -> pure core (core/step.ts) -> run effects
 * (send / fanout / close / persist). No protocol rules live here.
 *
 * Hibernation (WebSocket Hibernation API, `ctx.acceptWebSocket`): each socket's ConnState (stream phase, JID,
 * nick, role, affiliation, last presence) is its attachment; room meta and password back-off are in SQLite. The
 * constructor (which reruns on every wake) migrates storage and rebuilds the room from `ctx.getWebSockets()`.
 *
 * Storage lifecycle (PRIVACY.md "Rooms"): nothing is stored before the first session is accepted; when the last
 * session ends (and the room is back to peer-to-peer media) every row and the alarm are deleted (`deleteAll`), so
 * an unused room leaves neither its name nor any back-off record behind. While in use, the one alarm serves both
 * the media bridge's health check and the expiry of password-failure records.
 */
import { DurableObject } from "cloudflare:workers";
import { ROOM_HEADERS } from "../contract/headers";
import { ROOM_NAME } from "../contract/room-name";
import { loadConfig } from "./config";
import { networkKey } from "../contract/client-address";
import { BridgeControl } from "./bridge/control-client";
import { lobbyIdFor } from "../contract/grants";
import { MediaCoordinator, type MediaHost, type MediaRecord } from "./bridge/media-coordinator";
import { defaultRandomId, type Deps } from "./core/deps";
import { Out, renderFor, type Effect } from "./core/effects";
import { expireIdle, failStream, handleDisconnect, handleFrame, newRuntime, type Runtime } from "./core/step";
import { nextDeadline } from "./features/idle";
import { mlsDeadline, mlsSnapshot, mlsThaw, newDs } from "./features/mls-room";
import { ConnStateSchema, addConn, emptyMeta, fullJidAttr, newRoom, occupants, waitingCount, type ConnState, type MediaMode } from "./core/state";
import { setMediaMode, tellWaiting } from "./features/media";
import { ROOM_KEY, expireFailures, nextExpiry } from "./features/muc-password";
import { SessionAdmission } from "./features/session-admission";
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
  readonly #control: BridgeControl | undefined;
  /** whether this object has storage now (created with the first accepted session, deleted when the room empties) */
  #stored = false;
  /** sessions being accepted (between admission and addConn): the room is not empty while any are */
  #accepting = 0;
  /** the room's own limit on new sessions per minute */
  readonly #admission: SessionAdmission;
  /** when the media coordinator wants its check: null none, undefined unknown (woken from hibernation) */
  #checkAt: number | null | undefined;
  /** set while storage is being deleted: a session arriving then waits for it */
  #wiping: Promise<void> | undefined;

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
    this.#admission = new SessionAdmission(cfg.ROOM_NEW_SESSIONS_PER_MINUTE, Date.now());
    this.#ready = ctx.blockConcurrencyWhile(async () => {
      this.#stored = this.#store.exists();
      if (this.#stored) this.#store.migrate();
      const { name, meta, ipSalt } = this.#stored ? this.#store.load() : { name: null, meta: emptyMeta(), ipSalt: "" };
      this.#ipSalt = ipSalt;
      const room = newRoom(name ?? "", meta);
      if (this.#stored) room.pwFailures = this.#store.loadFailures();
      this.#rt = newRuntime(room, deps, limits);
      this.#locked = meta.pwHash !== null;
      const savedMls = this.#stored ? this.#store.loadMls() : null;
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
      this.#rt.mls = mlsThaw(room, savedMls);
    });
    this.#queue = this.#ready;
    if (cfg.BRIDGES.length > 0) {
      this.#control = new BridgeControl({ secret: cfg.BRIDGE_SECRET });
      this.#media = new MediaCoordinator(this.#mediaHost(), {
        bridges: cfg.BRIDGES,
        control: this.#control,
        lobbyId: (session) => lobbyIdFor(cfg.BRIDGE_SECRET, this.#rt.room.name, session),
      });
    } else this.#checkAt = null;
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
    const admitted = this.#admission.admit(Date.now());
    if (!admitted.ok) {
      return Response.json(
        { error: "rate-limited", reason: "too many new sessions for this room; retry later" },
        { status: 429, headers: { "Retry-After": String(admitted.retryAfterSeconds) } },
      );
    }
    this.#accepting++;
    try {
      await this.#ready;
      await this.#wiping;
      return await this.#accept(request, room, domain, ip);
    } finally {
      this.#accepting--;
    }
  }

  async #accept(request: Request, room: string, domain: string, ip: string): Promise<Response> {
    if (!this.#stored) {
      this.#store.migrate();
      this.#ipSalt = this.#store.load().ipSalt;
      this.#stored = true;
    }
    const r = this.#rt.room;
    if (r.name === "") {
      r.name = room;
      this.#store.saveName(room);
    } else if (r.name !== room) {
      return Response.json({ error: "bad-request", reason: "room mismatch" }, { status: 400 });
    }
    const pair = new WebSocketPair();
    const client = pair[0];
    const server = pair[1];
    const id = defaultRandomId();
    const c: ConnState = { v: 1, id, domain, ipKey: await this.#ipKey(networkKey(ip)), phase: "init", seen: Date.now() };
    this.ctx.acceptWebSocket(server, [id]);
    server.serializeAttachment(c);
    addConn(r, c);
    this.#sockets.set(id, server);
    this.#ids.set(server, id);
    void this.#arm(); // its negotiation timeout (features/idle.ts)
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

  /**
   * Alarm: sessions that stayed silent without joining end (features/idle.ts); expired password-failure records are
   * forgotten (PRIVACY.md: an hour after the last failure, whether or not the room is visited again); the bridge
   * health check while the room keeps a bridge room (media-coordinator.ts), when due; the next MLS committer asked
   * when the asked one let its turn pass (features/mls-room.ts). One alarm serves all (#arm).
   */
  override async alarm(): Promise<void> {
    await this.#ready;
    await this.#enqueue(async () => {
      this.#run(expireIdle(this.#rt));
      if (!this.#stored) return;
      for (const k of expireFailures(this.#rt.room, Date.now())) this.#store.saveFailure(k, undefined);
    });
    if (this.#checkAt === undefined || (this.#checkAt !== null && this.#checkAt <= Date.now())) await this.#media?.checkBridge();
    await this.#arm();
  }

  /**
   * Set the alarm for the earliest of the media check, the next idle deadline and the next failure record's expiry
   * (a pending alarm is kept when the media check is unknown and the alarm is earlier).
   */
  async #arm(): Promise<void> {
    const now = Date.now();
    let at = nextDeadline(this.#rt.room, now) ?? null;
    const expiry = this.#stored ? nextExpiry(this.#rt.room) : undefined;
    if (expiry !== undefined && (at === null || expiry < at)) at = expiry;
    const commitBy = mlsDeadline(this.#rt.mls);
    if (commitBy !== undefined && (at === null || commitBy < at)) at = commitBy;
    // unknown: keep a pending alarm that is earlier (it may be the coordinator's), never one already past
    const pending = this.#checkAt === undefined ? await this.ctx.storage.getAlarm() : this.#checkAt;
    const check = pending !== null && (this.#checkAt !== undefined || pending > now) ? pending : null;
    if (check !== null && (at === null || check < at)) at = check;
    await (at === null ? this.ctx.storage.deleteAlarm() : this.ctx.storage.setAlarm(at));
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
        if (this.#stored) this.#store.saveMeta(m);
        // back to peer-to-peer after the last session ended: now the room can be forgotten
        if (r.mode === "p2p") void this.#enqueue(() => this.#forgetIfEmpty());
      },
      scheduleCheck: (at) => {
        this.#checkAt = at ?? null;
        void this.#arm();
      },
    };
  }

  #gone(ws: WebSocket): Promise<void> {
    const id = this.#idOf(ws);
    if (id === undefined) return Promise.resolve();
    return this.#enqueue(async () => {
      this.#run(handleDisconnect(this.#rt, id));
      this.#sockets.delete(id);
      await this.#forgetIfEmpty();
    });
  }

  /**
   * The last session has ended and no bridge room is held: delete every row and the alarm (PRIVACY.md "Rooms").
   * The in-memory room starts over too (new name on the next session, new salt, no back-off records).
   */
  async #forgetIfEmpty(): Promise<void> {
    const r = this.#rt.room;
    if (!this.#stored || this.#accepting > 0 || r.conns.size > 0 || r.meta.mediaMode !== "p2p" || r.meta.bridgeBase !== null) return;
    this.#stored = false;
    r.name = "";
    Object.assign(r.meta, emptyMeta());
    r.pwFailures.clear();
    this.#rt.mls = newDs();
    this.#ipSalt = "";
    this.#checkAt = null;
    this.#wiping = (async () => {
      await this.ctx.storage.deleteAll();
      await this.ctx.storage.deleteAlarm();
    })();
    try {
      await this.#wiping;
    } finally {
      this.#wiping = undefined;
    }
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
        case "save-mls":
          if (this.#stored) this.#store.saveMls(mlsSnapshot(this.#rt.mls));
          void this.#arm(); // the commit request's deadline (features/mls-room.ts)
          break;
        case "save-pw-failure":
          // the room-wide record changes with every failure (features/muc-password.ts)
          for (const k of [e.ipKey, ROOM_KEY]) this.#store.saveFailure(k, r.pwFailures.get(k));
          void this.#arm();
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
        case "bridge-unreachable":
          void this.#media?.bridgeUnreachable(e.conn);
          break;
        default: {
          const never: never = e;
          throw new Error(`unknown effect ${JSON.stringify(never)}`);
        }
      }
    }
  }
}
