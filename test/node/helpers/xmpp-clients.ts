/**
 * Shared helpers for driving a room server with real XMPP client libraries from Node:
 *  - targets: our edge (`wrangler dev`, one WebSocket URL per room) or Debian's Prosody (the behaviour reference);
 *  - StanzaJS, @xmpp/client (xmpp.js) and Strophe.js (loaded lazily), unmodified, logged in anonymously
 *    (RFC 4505) over RFC 7395;
 *  - `RawXmpp`: a minimal raw `ws` client (subprotocol `xmpp`) for hostile-input tests and precise assertions;
 *  - `turnPassword`: coturn's use-auth-secret password, computed independently with node:crypto.
 *
 * Other test files import this module; keep its exports stable.
 */
import { createHmac, randomUUID } from "node:crypto";
import { client as xmppjsClientFactory, xml as xmppjsXml, type XmppJsClient } from "@xmpp/client";
import * as Stanza from "stanza";
import type * as StropheModule from "strophe.js";
import { parse as parseXml } from "stanza/jxt";
import type XMLElement from "stanza/jxt/Element";
import WebSocket from "ws";
import { startProsody } from "../../bench/prosody/start";
import { startEdge } from "./wrangler-dev";

export type { XMLElement };
export type StanzaAgent = Stanza.Agent;
export { xmppjsXml as xml };

// xmpp.js uses the WHATWG WebSocket global, which Node 20 does not have; `ws` implements the same API.
if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === "undefined") {
  (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
}

// ---------------------------------------------------------------------------------------------------------------
// Targets

export type TargetKind = "edge" | "prosody";

export interface XmppTarget {
  kind: TargetKind;
  /** XMPP domain of the service (the request host name for the edge). */
  domain: string;
  /** MUC service domain: conference.<domain>. */
  mucDomain: string;
  /** WebSocket URL that reaches `room` (the edge routes by path; Prosody has one endpoint). */
  wsUrl(room: string): string;
  /** Bare JID of a room. */
  roomJid(room: string): string;
  turnSecret: string;
  maxStanzaBytes: number;
  /** Server-side log/output, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface TargetOptions {
  turnSecret?: string;
  maxStanzaBytes?: number;
  /** Extra `wrangler dev --var`s (edge only). */
  vars?: Record<string, string>;
}

/** The target chosen by the `TARGET` env var: `edge` (default, what CI runs) or `prosody` (harness debugging). */
export function targetKindFromEnv(): TargetKind {
  const t = (process.env.TARGET ?? "edge").toLowerCase();
  if (t !== "edge" && t !== "prosody") throw new Error(`TARGET must be "edge" or "prosody", got "${t}"`);
  return t;
}

export async function startTarget(kind: TargetKind, opts: TargetOptions = {}): Promise<XmppTarget> {
  const turnSecret = opts.turnSecret ?? `interop-turn-secret-${randomUUID()}`;
  const maxStanzaBytes = opts.maxStanzaBytes ?? 65_536;
  switch (kind) {
    case "edge": {
      const edge = await startEdge({
        vars: { TURN_SECRET: turnSecret, MAX_STANZA_BYTES: String(maxStanzaBytes), ...(opts.vars ?? {}) },
        // Bundling + workerd start can take a while on a loaded 2-core box; vitest's hookTimeout is 120 s.
        timeoutMs: 110_000,
      });
      const domain = "127.0.0.1";
      const mucDomain = `conference.${domain}`;
      return {
        kind,
        domain,
        mucDomain,
        wsUrl: (room) => `${edge.wsUrl}/xmpp-websocket/${room}`,
        roomJid: (room) => `${room}@${mucDomain}`,
        turnSecret,
        maxStanzaBytes,
        output: edge.output,
        stop: edge.stop,
      };
    }
    case "prosody": {
      const p = await startProsody({ turnSecret, stanzaLimit: maxStanzaBytes });
      return {
        kind,
        domain: p.domain,
        mucDomain: p.mucDomain,
        wsUrl: () => p.wsUrl,
        roomJid: (room) => `${room}@${p.mucDomain}`,
        turnSecret,
        maxStanzaBytes,
        output: () => p.output() + p.log(),
        stop: p.stop,
      };
    }
    default:
      throw new Error(`unknown target ${kind satisfies never}`);
  }
}

/** A fresh room name matching `^[a-z0-9-]{1,64}$`. */
export function uniqueRoom(prefix = "room"): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Small async utilities

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Resolve with the first event `name` emitted by `emitter` whose payload satisfies `pred`. */
function nextEvent<T>(
  emitter: { on(name: string, fn: (x: T) => void): unknown; off(name: string, fn: (x: T) => void): unknown },
  name: string,
  pred: (x: T) => boolean = () => true,
  ms = 15_000,
): Promise<T> {
  let handler: ((x: T) => void) | undefined;
  const p = new Promise<T>((resolve) => {
    handler = (x: T) => {
      if (pred(x)) resolve(x);
    };
    emitter.on(name, handler);
  });
  return withTimeout(p, ms, `event ${name}`).finally(() => handler && emitter.off(name, handler));
}

// ---------------------------------------------------------------------------------------------------------------
// StanzaJS

/** Resolve with the first StanzaJS event `name` whose payload satisfies `pred` (typed by StanzaJS's AgentEvents). */
export function nextStanzaEvent<K extends keyof Stanza.AgentEvents>(
  client: Stanza.Agent,
  name: K,
  pred: (x: Stanza.AgentEvents[K]) => boolean = () => true,
  ms = 15_000,
): Promise<Stanza.AgentEvents[K]> {
  return nextEvent<Stanza.AgentEvents[K]>(
    client as unknown as {
      on(n: string, fn: (x: Stanza.AgentEvents[K]) => void): unknown;
      off(n: string, fn: (x: Stanza.AgentEvents[K]) => void): unknown;
    },
    name,
    pred,
    ms,
  );
}

/** Log in anonymously with StanzaJS and resolve once the session started (bound JID in `client.jid`). */
export async function connectStanza(target: XmppTarget, room: string, timeoutMs = 20_000): Promise<Stanza.Agent> {
  const client = Stanza.createClient({
    jid: target.domain,
    server: target.domain,
    transports: { websocket: target.wsUrl(room), bosh: false },
    useStreamManagement: false,
    timeout: 15,
  });
  const started = new Promise<void>((resolve, reject) => {
    client.once("session:started", () => resolve());
    client.once("stream:error", (e) => reject(new Error(`stream error: ${JSON.stringify(e)}`)));
    client.once("auth:failed", () => reject(new Error("SASL ANONYMOUS failed")));
    client.once("disconnected", () => reject(new Error("disconnected before the session started")));
  });
  client.connect();
  try {
    await withTimeout(started, timeoutMs, "StanzaJS session start");
  } catch (e) {
    client.disconnect();
    throw e;
  }
  return client;
}

/** Disconnect a StanzaJS client and wait (bounded) for the transport to close. */
export async function disconnectStanza(client: Stanza.Agent): Promise<void> {
  if (!client.sessionStarted && !client.transport) return;
  const gone = new Promise<void>((r) => client.once("disconnected", () => r()));
  client.disconnect();
  await withTimeout(gone, 10_000, "StanzaJS disconnect").catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------------------------
// xmpp.js (@xmpp/client)

export interface XmppJs {
  xmpp: XmppJsClient;
  /** full JID bound by the server */
  jid: string;
  /** every stanza received, in order */
  received: XmppJsElement[];
  /** resolve with the first received stanza (already received or future) matching `pred` */
  waitFor(pred: (el: XmppJsElement) => boolean, ms?: number, what?: string): Promise<XmppJsElement>;
  stop(): Promise<void>;
}
export type XmppJsElement = ReturnType<typeof xmppjsXml>;

export async function connectXmppJs(target: XmppTarget, room: string, timeoutMs = 20_000): Promise<XmppJs> {
  const xmpp = xmppjsClientFactory({ service: target.wsUrl(room), domain: target.domain });
  xmpp.on("error", () => {
    /* surfaced through start()/waitFor; an unhandled 'error' event would crash the test process */
  });
  const received: XmppJsElement[] = [];
  const waiters = new Set<() => void>();
  xmpp.on("stanza", (el: XmppJsElement) => {
    received.push(el);
    for (const w of [...waiters]) w();
  });
  const jid = await withTimeout(xmpp.start(), timeoutMs, "xmpp.js start");
  return {
    xmpp,
    jid: jid.toString(),
    received,
    waitFor(pred, ms = 15_000, what = "stanza") {
      let check: (() => void) | undefined;
      const p = new Promise<XmppJsElement>((resolve) => {
        check = () => {
          const hit = received.find(pred);
          if (hit) resolve(hit);
        };
        waiters.add(check);
        check();
      });
      return withTimeout(p, ms, `xmpp.js ${what}`).finally(() => check && waiters.delete(check));
    },
    async stop() {
      await withTimeout(xmpp.stop(), 10_000, "xmpp.js stop").catch(() => undefined);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Strophe.js (Node entry: @xmldom/xmldom DOM shim + `ws`)

/** The DOM-ish element Strophe hands to handlers (an @xmldom/xmldom Element). */
interface StropheElement {
  tagName: string;
  getAttribute(name: string): string | null;
  getElementsByTagName(name: string): ArrayLike<StropheElement>;
  textContent: string | null;
  toString(): string;
}

type StropheLib = typeof StropheModule;

let stropheLib: Promise<StropheLib> | undefined;
/**
 * Strophe's Node entry installs DOM globals (`document`, `DOMParser`, `WebSocket`, `$msg`, ...) when imported, so it
 * is loaded lazily: only suites that use Strophe get those globals.
 */
function loadStrophe(): Promise<StropheLib> {
  stropheLib ??= import("strophe.js").then((lib) => {
    // Strophe logs connection progress at INFO to the console by default; keep test output readable.
    lib.Strophe.setLogLevel(lib.Strophe.LogLevel.ERROR);
    return lib;
  });
  return stropheLib;
}

export interface StropheClient {
  conn: InstanceType<StropheLib["Strophe"]["Connection"]>;
  /** Strophe's stanza builders ($msg, $pres, $iq) */
  lib: StropheLib;
  jid: string;
  received: StropheElement[];
  waitFor(pred: (el: StropheElement) => boolean, ms?: number, what?: string): Promise<StropheElement>;
  /** XEP-0045 join; resolves with the self-presence (or the error presence). */
  join(roomJid: string, nick: string): Promise<StropheElement>;
  /** Strophe's own disconnect: a global unavailable presence and <close/> in one go. */
  disconnect(): Promise<void>;
}

export async function connectStrophe(target: XmppTarget, room: string, timeoutMs = 20_000): Promise<StropheClient> {
  const lib = await loadStrophe();
  const { Strophe, $pres } = lib;
  const conn = new Strophe.Connection(target.wsUrl(room), { protocol: "ws" } as never);
  const received: StropheElement[] = [];
  const waiters = new Set<() => void>();
  let status = -1;
  const statusWaiters = new Set<() => void>();
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      conn.connect(target.domain, "", (s: number, cond?: string | null) => {
        status = s;
        for (const w of [...statusWaiters]) w();
        if (s === Strophe.Status.CONNECTED) resolve();
        else if (s === Strophe.Status.CONNFAIL || s === Strophe.Status.AUTHFAIL || s === Strophe.Status.ERROR) {
          reject(new Error(`Strophe connect failed: status ${s} ${cond ?? ""}`));
        }
      });
    }),
    timeoutMs,
    "Strophe connect",
  );
  const collect = (el: StropheElement) => {
    received.push(el);
    for (const w of [...waiters]) w();
    return true;
  };
  conn.addHandler(collect as never, null, "message", null);
  conn.addHandler(collect as never, null, "presence", null);
  const waitFor: StropheClient["waitFor"] = (pred, ms = 15_000, what = "stanza") => {
    let check: (() => void) | undefined;
    const p = new Promise<StropheElement>((resolve) => {
      check = () => {
        const hit = received.find(pred);
        if (hit) resolve(hit);
      };
      waiters.add(check);
      check();
    });
    return withTimeout(p, ms, `Strophe ${what}`).finally(() => check && waiters.delete(check));
  };
  return {
    conn,
    lib,
    jid: conn.jid,
    received,
    waitFor,
    async join(roomJid, nick) {
      conn.send($pres({ to: `${roomJid}/${nick}` }).c("x", { xmlns: NS.muc }));
      return waitFor(
        (el) =>
          el.tagName === "presence" &&
          el.getAttribute("from") === `${roomJid}/${nick}` &&
          (el.getAttribute("type") === "error" ||
            Array.from(el.getElementsByTagName("status")).some((st) => st.getAttribute("code") === "110")),
        15_000,
        `Strophe self-presence ${roomJid}/${nick}`,
      );
    },
    async disconnect() {
      if (status === Strophe.Status.DISCONNECTED) return;
      const done = new Promise<void>((r) => {
        const w = () => {
          if (status === Strophe.Status.DISCONNECTED) r();
        };
        statusWaiters.add(w);
      });
      conn.disconnect("done");
      await withTimeout(done, 10_000, "Strophe disconnect").catch(() => undefined);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Raw WebSocket client (RFC 7395) for hostile inputs and exact assertions

export const NS = {
  framing: "urn:ietf:params:xml:ns:xmpp-framing",
  streams: "http://etherx.jabber.org/streams",
  sasl: "urn:ietf:params:xml:ns:xmpp-sasl",
  bind: "urn:ietf:params:xml:ns:xmpp-bind",
  client: "jabber:client",
  stanzas: "urn:ietf:params:xml:ns:xmpp-stanzas",
  streamErrors: "urn:ietf:params:xml:ns:xmpp-streams",
  muc: "http://jabber.org/protocol/muc",
  mucUser: "http://jabber.org/protocol/muc#user",
  mucOwner: "http://jabber.org/protocol/muc#owner",
  discoInfo: "http://jabber.org/protocol/disco#info",
  extdisco: "urn:xmpp:extdisco:2",
  dataForms: "jabber:x:data",
  sid: "urn:xmpp:sid:0",
} as const;

export interface RawFrame {
  text: string;
  /** parsed element, or undefined if the frame is not well-formed XML */
  el: XMLElement | undefined;
  at: number;
}

export interface RawClose {
  code: number;
  reason: string;
}

/** Escape text for XML character data / attribute values. */
function esc(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]!);
}

export class RawXmpp {
  readonly frames: RawFrame[] = [];
  /** index of the first frame `next()` may still return */
  private cursor = 0;
  /** indexes of frames already returned by `next()` */
  private consumed = new Set<number>();
  private waiters = new Set<() => void>();
  readonly closed: Promise<RawClose>;
  isClosed = false;
  jid = "";

  private constructor(
    readonly ws: WebSocket,
    readonly domain: string,
  ) {
    ws.on("message", (data: WebSocket.RawData) => {
      const text = data.toString();
      let el: XMLElement | undefined;
      try {
        el = parseXml(text);
      } catch {
        el = undefined;
      }
      this.frames.push({ text, el, at: performance.now() });
      for (const w of [...this.waiters]) w();
    });
    this.closed = new Promise((resolve) => {
      ws.once("close", (code: number, reason: Buffer) => {
        this.isClosed = true;
        resolve({ code, reason: reason.toString() });
        for (const w of [...this.waiters]) w();
      });
    });
    ws.on("error", () => {
      /* reported through `closed` */
    });
  }

  /** Open the WebSocket (subprotocol `xmpp`); rejects if the handshake fails or the subprotocol is not echoed. */
  static async connect(url: string, domain: string, timeoutMs = 15_000): Promise<RawXmpp> {
    const ws = new WebSocket(url, ["xmpp"]);
    const c = new RawXmpp(ws, domain);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
        ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode} instead of 101`)));
      }),
      timeoutMs,
      `WebSocket open ${url}`,
    );
    if (ws.protocol !== "xmpp") throw new Error(`server did not echo subprotocol xmpp (got "${ws.protocol}")`);
    return c;
  }

  /** Connect, log in anonymously and bind: a ready-to-use client. */
  static async login(url: string, domain: string): Promise<RawXmpp> {
    const c = await RawXmpp.connect(url, domain);
    await c.authenticate();
    return c;
  }

  send(xml: string): void {
    this.ws.send(xml);
  }

  /**
   * Resolve with the next not-yet-consumed frame satisfying `pred` (frames before it stay available for later
   * calls). Rejects on timeout, or when the socket closed and no buffered frame matches.
   */
  next(pred: (f: RawFrame) => boolean, ms = 15_000, what = "frame"): Promise<RawFrame> {
    let check: (() => void) | undefined;
    const p = new Promise<RawFrame>((resolve, reject) => {
      check = () => {
        for (let i = this.cursor; i < this.frames.length; i++) {
          const f = this.frames[i]!;
          if (pred(f)) {
            this.consumed.add(i);
            while (this.consumed.has(this.cursor)) this.cursor++;
            resolve(f);
            return;
          }
        }
        if (this.isClosed) reject(new Error(`socket closed while waiting for ${what}; got:\n${this.dump()}`));
      };
      this.waiters.add(check);
      check();
    });
    return withTimeout(p, ms, `${what}; frames so far:\n${this.dump()}`).finally(
      () => check && this.waiters.delete(check),
    );
  }
  /** Like `next` but matches on the parsed element. */
  nextEl(pred: (el: XMLElement) => boolean, ms = 15_000, what = "stanza"): Promise<XMLElement> {
    return this.next((f) => f.el !== undefined && pred(f.el), ms, what).then((f) => f.el!);
  }

  /** All frames received so far, for failure messages. */
  dump(): string {
    return this.frames
      .slice(-30)
      .map((f) => `  << ${f.text.length > 400 ? f.text.slice(0, 400) + "…" : f.text}`)
      .join("\n");
  }

  openStream(): void {
    this.send(`<open xmlns='${NS.framing}' to='${this.domain}' version='1.0'/>`);
  }

  /** RFC 7395 §3.3 opening, RFC 4505 SASL ANONYMOUS, RFC 6120 §7 resource binding. */
  async authenticate(): Promise<string> {
    this.openStream();
    await this.nextEl((e) => e.name === "open", 15_000, "<open/>");
    await this.nextEl((e) => e.name.endsWith("features"), 15_000, "pre-auth <features/>");
    this.send(`<auth xmlns='${NS.sasl}' mechanism='ANONYMOUS'/>`);
    await this.nextEl((e) => e.name === "success", 15_000, "SASL <success/>");
    this.openStream();
    await this.nextEl((e) => e.name === "open", 15_000, "second <open/>");
    await this.nextEl((e) => e.name.endsWith("features"), 15_000, "post-auth <features/>");
    const id = `bind-${randomUUID()}`;
    this.send(`<iq xmlns='${NS.client}' type='set' id='${id}'><bind xmlns='${NS.bind}'/></iq>`);
    const res = await this.nextEl((e) => e.name === "iq" && e.getAttribute("id") === id, 15_000, "bind result");
    const jid = res.getChild("bind", NS.bind)?.getChild("jid")?.getText();
    if (res.getAttribute("type") !== "result" || !jid) throw new Error(`bind failed: ${res.toString()}`);
    this.jid = jid;
    return jid;
  }

  /** XEP-0045 §7.2 join; resolves with the self-presence once the join's subject message arrived. */
  async join(roomJid: string, nick: string, password?: string): Promise<XMLElement> {
    const pw = password === undefined ? "" : `<password>${esc(password)}</password>`;
    this.send(
      `<presence xmlns='${NS.client}' to='${roomJid}/${esc(nick)}'><x xmlns='${NS.muc}'><history maxstanzas='0'/>${pw}</x></presence>`,
    );
    const self = await this.nextEl(
      (e) =>
        e.name === "presence" &&
        e.getAttribute("from") === `${roomJid}/${nick}` &&
        (e.getAttribute("type") === "error" ||
          hasStatus(e, "110")),
      15_000,
      `self-presence in ${roomJid}`,
    );
    if (self.getAttribute("type") === "error") throw new Error(`join refused: ${self.toString()}`);
    await this.nextEl(
      (e) => e.name === "message" && e.getAttribute("from") === roomJid && !!e.getChild("subject"),
      15_000,
      "join subject",
    );
    return self;
  }

  groupchat(roomJid: string, body: string, id = randomUUID()): string {
    this.send(
      `<message xmlns='${NS.client}' to='${roomJid}' type='groupchat' id='${id}'><body>${esc(body)}</body></message>`,
    );
    return id;
  }

  /** Wait for a groupchat message with this body (from anyone). */
  nextGroupchat(body: string, ms = 15_000): Promise<XMLElement> {
    return this.nextEl(
      (e) => e.name === "message" && e.getAttribute("type") === "groupchat" && e.getChild("body")?.getText() === body,
      ms,
      `groupchat "${body}"`,
    );
  }

  /** RFC 7395 §3.6: send <close/> and wait for the server to close the WebSocket. */
  async close(): Promise<RawClose> {
    if (!this.isClosed) {
      try {
        this.send(`<close xmlns='${NS.framing}'/>`);
      } catch {
        /* already closing */
      }
    }
    return withTimeout(this.closed, 10_000, "server close").catch(() => {
      this.ws.terminate();
      return { code: 1006, reason: "terminated" };
    });
  }

  /** Drop the TCP connection without a WebSocket close frame. */
  drop(): void {
    this.ws.terminate();
  }
}

/** Does this MUC presence/message carry `<x xmlns='muc#user'><status code=CODE/>`? */
export function hasStatus(el: XMLElement, code: string): boolean {
  return statusCodes(el).includes(code);
}

function statusCodes(el: XMLElement): string[] {
  return el
    .getChildren("x", NS.mucUser)
    .flatMap((x) => x.getChildren("status"))
    .map((s) => s.getAttribute("code") ?? "");
}

/**
 * The defined condition of an error: `el` is a stream error (`<stream:error>`, or unprefixed `<error>` in the
 * streams namespace) or a stanza carrying an `<error>` child; the condition is its first child in `ns`.
 */
export function errorCondition(el: XMLElement, ns: string = NS.stanzas): string | undefined {
  const isStreamError = el.name === "stream:error" || (el.name === "error" && el.getNamespace() === NS.streams);
  const err = isStreamError ? el : el.getChild("error");
  for (const c of err?.children ?? []) {
    if (typeof c !== "string" && c.getNamespace() === ns) return c.name;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// TURN REST credentials (coturn use-auth-secret)

/** base64(HMAC-SHA1(secret, username)), the password coturn derives for a time-limited username. */
export function turnPassword(secret: string, username: string): string {
  return createHmac("sha1", secret).update(username).digest("base64");
}
