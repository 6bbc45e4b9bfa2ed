/**
 * A minimal XMPP-over-WebSocket client for tests inside workerd: real WebSockets through the Worker's fetch
 * (`exports.default.fetch`), frame queue with predicate waits (generous timeouts, no fixed sleeps).
 */
import { exports } from "cloudflare:workers";
import { parseFrame, type XmlElement } from "../../durable/xmpp/xml";

let ipCounter = 1;

export interface Frame {
  raw: string;
  el: XmlElement | undefined;
}

export class TestClient {
  readonly frames: Frame[] = [];
  #waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | undefined;
  jid = "";
  constructor(
    readonly ws: WebSocket,
    readonly domain: string,
  ) {
    ws.addEventListener("message", (ev) => {
      const raw = typeof ev.data === "string" ? ev.data : "";
      let el: XmlElement | undefined;
      try {
        el = parseFrame(raw)[0];
      } catch {
        el = undefined;
      }
      this.frames.push({ raw, el });
      this.#wake();
    });
    ws.addEventListener("close", (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
      this.#wake();
    });
  }
  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
  send(xml: string): void {
    this.ws.send(xml);
  }
  /** Wait for (and consume) the first frame matching `pred`. */
  async next(pred: (f: Frame) => boolean = () => true, timeoutMs = 10_000, what = "frame"): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) while waiting for ${what}; got: ${this.frames.map((f) => f.raw).join("\n")}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${what}; got: ${this.frames.map((f) => f.raw).join("\n")}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.min(left, 250));
        this.#waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }
  /** Wait for a frame whose raw text contains all of `parts`. */
  expect(...parts: string[]): Promise<Frame> {
    return this.next((f) => parts.every((p) => f.raw.includes(p)), 10_000, JSON.stringify(parts));
  }
  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("socket did not close");
      await new Promise<void>((res) => {
        const t = setTimeout(res, 250);
        this.#waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    return this.closed;
  }
  close(): void {
    try {
      this.ws.close(1000, "bye");
    } catch {
      /* closed */
    }
  }
}

export async function connect(room: string, opts: { host?: string; ip?: string; protocol?: boolean } = {}): Promise<TestClient> {
  const host = opts.host ?? "localhost";
  const headers: Record<string, string> = { Upgrade: "websocket", "CF-Connecting-IP": opts.ip ?? `10.0.${(ipCounter >> 8) & 255}.${ipCounter++ & 255}` };
  if (opts.protocol !== false) headers["Sec-WebSocket-Protocol"] = "xmpp";
  let res = await exports.default.fetch(`http://${host}/xmpp-websocket/${room}`, { headers });
  // A room admits ROOM_NEW_SESSIONS_PER_MINUTE new sessions a minute (durable/features/session-admission.ts); tests
  // that reconnect more often than that wait as told, like a well-behaved client.
  for (let tries = 0; res.status === 429 && res.headers.get("retry-after") !== null && tries < 60; tries++) {
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, Number(res.headers.get("retry-after")) * 1000));
    res = await exports.default.fetch(`http://${host}/xmpp-websocket/${room}`, { headers });
  }
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
  const ws = res.webSocket;
  ws.accept();
  return new TestClient(ws, host);
}

/** Open, SASL ANONYMOUS, restart, bind. */
export async function login(c: TestClient): Promise<string> {
  c.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="${c.domain}" version="1.0"/>`);
  await c.expect("<open ");
  await c.expect("ANONYMOUS");
  c.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS"/>`);
  await c.expect("<success");
  c.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="${c.domain}" version="1.0"/>`);
  await c.expect("<open ");
  await c.expect("urn:ietf:params:xml:ns:xmpp-bind");
  c.send(`<iq xmlns="jabber:client" type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>`);
  const f = await c.expect("<jid>");
  c.jid = /<jid>([^<]+)<\/jid>/.exec(f.raw)![1]!;
  return c.jid;
}

/** Join room/nick; resolves with the self-presence frame (after the subject arrived). */
export async function join(c: TestClient, room: string, nick: string, password?: string): Promise<Frame> {
  const pw = password !== undefined ? `<password>${password}</password>` : "";
  c.send(`<presence xmlns="jabber:client" id="j-${nick}" to="${room}@conference.${c.domain}/${nick}"><x xmlns="http://jabber.org/protocol/muc">${pw}</x></presence>`);
  const self = await c.expect('code="110"');
  await c.expect("<subject/>");
  return self;
}

export async function connected(room: string, nick: string, opts: { ip?: string; host?: string } = {}): Promise<TestClient> {
  const c = await connect(room, opts);
  await login(c);
  await join(c, room, nick);
  return c;
}

/** As the room's owner, set its password (XEP-0045 §10.2 muc#roomconfig_roomsecret) and wait for the result. */
export async function lockRoom(owner: TestClient, room: string, secret: string): Promise<void> {
  owner.send(
    `<iq xmlns="jabber:client" type="set" id="cfg" to="${room}@conference.${owner.domain}"><query xmlns="http://jabber.org/protocol/muc#owner">` +
      `<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
      `<field var="muc#roomconfig_roomsecret"><value>${secret}</value></field></x></query></iq>`,
  );
  await owner.expect('id="cfg"', 'type="result"');
}

/** A fresh connection from `ip` that logs in and tries one wrong password (answered not-authorized). */
export async function wrongGuess(room: string, ip: string): Promise<TestClient> {
  const c = await connect(room, { ip });
  await login(c);
  c.send(`<presence xmlns="jabber:client" to="${room}@conference.${c.domain}/guesser"><x xmlns="http://jabber.org/protocol/muc"><password>wrong</password></x></presence>`);
  await c.expect("not-authorized");
  return c;
}
