/**
 * A small STUN/TURN client over a byte stream (TCP or TLS, e.g. `turns:` RFC 7065), used to check coturn's
 * TCP/TLS listeners end to end from Node (tests, probes). Only what that needs:
 *
 *   - message codec (RFC 8489 §5, §14): header with magic cookie, TLV attributes padded to 4 bytes,
 *     XOR-MAPPED-ADDRESS / XOR-RELAYED-ADDRESS / XOR-PEER-ADDRESS (§14.2, RFC 8656 §18.3/§18.5),
 *     ERROR-CODE (§14.8), MESSAGE-INTEGRITY (§14.5, HMAC-SHA1) with the long-term credential key (§9.2.2:
 *     MD5(username ":" realm ":" password)); coturn's `use-auth-secret` REST credentials are long-term
 *     credentials whose password is the HMAC the edge minted (contract/turn-credentials.ts);
 *   - stream framing (RFC 8489 §6.2.2, RFC 8656 §11.5): over TCP/TLS a STUN message is delimited by its length
 *     field, a ChannelData message by its own length padded to 4 bytes;
 *   - the TURN exchanges: Allocate with the 401 realm/nonce round trip (RFC 8656 §7.1, §7.3; RFC 8489 §9.2.4),
 *     CreatePermission (§9), Send and Data indications (§10).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { Duplex } from "node:stream";

const MAGIC_COOKIE = 0x2112a442;
const HEADER = 20;

export const Method = { Binding: 0x001, Allocate: 0x003, Refresh: 0x004, Send: 0x006, Data: 0x007, CreatePermission: 0x008 } as const;
export type Method = (typeof Method)[keyof typeof Method];

/** RFC 8489 §5: the class bits of the message type. */
export const Class = { Request: 0x000, Indication: 0x010, Success: 0x100, Error: 0x110 } as const;
export type Class = (typeof Class)[keyof typeof Class];

export const Attr = {
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
  XOR_MAPPED_ADDRESS: 0x0020,
  FINGERPRINT: 0x8028,
} as const;

interface StunAttribute {
  type: number;
  value: Buffer;
  /** byte offset of the attribute header inside the message (decoded messages only) */
  offset?: number;
}

export interface StunMessage {
  method: number;
  cls: Class;
  transactionId: Buffer;
  attributes: StunAttribute[];
  /** the encoded message (decoded messages only) */
  raw?: Buffer;
}

export interface TransportAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

export class StunError extends Error {
  override name = "StunError";
}

/** RFC 8489 §5: method bits M0-M11 interleaved with the class bits C0, C1. */
export function messageType(method: number, cls: Class): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | cls;
}

function splitType(t: number): { method: number; cls: Class } {
  return { method: (t & 0x000f) | ((t & 0x00e0) >> 1) | ((t & 0x3e00) >> 2), cls: (t & 0x0110) as Class };
}

/** RFC 8489 §9.2.2: the long-term credential key. */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash("md5").update(`${username}:${realm}:${password}`, "utf8").digest();
}

/** Encode a message; with `integrityKey`, MESSAGE-INTEGRITY is appended last (RFC 8489 §14.5). */
export function encode(msg: Omit<StunMessage, "raw">, integrityKey?: Buffer): Buffer {
  if (msg.transactionId.length !== 12) throw new TypeError("STUN transaction id must be 12 bytes");
  const parts: Buffer[] = [];
  for (const a of msg.attributes) {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(a.type, 0);
    h.writeUInt16BE(a.value.length, 2);
    parts.push(h, a.value, Buffer.alloc((4 - (a.value.length % 4)) % 4));
  }
  let body = Buffer.concat(parts);
  const header = Buffer.alloc(HEADER);
  header.writeUInt16BE(messageType(msg.method, msg.cls), 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  msg.transactionId.copy(header, 8);
  if (integrityKey) {
    // §14.5: the HMAC covers the message up to MESSAGE-INTEGRITY with the length already counting it (24 bytes).
    header.writeUInt16BE(body.length + 24, 2);
    const mac = createHmac("sha1", integrityKey).update(Buffer.concat([header, body])).digest();
    const h = Buffer.alloc(4);
    h.writeUInt16BE(Attr.MESSAGE_INTEGRITY, 0);
    h.writeUInt16BE(20, 2);
    body = Buffer.concat([body, h, mac]);
  }
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

/** Decode one complete message; throws StunError on anything malformed. */
export function decode(buf: Buffer): StunMessage {
  if (buf.length < HEADER) throw new StunError("STUN message shorter than its header");
  const t = buf.readUInt16BE(0);
  if (t & 0xc000) throw new StunError("not a STUN message (first two bits set)");
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) throw new StunError("bad magic cookie");
  const len = buf.readUInt16BE(2);
  if (len % 4 !== 0 || buf.length !== HEADER + len) throw new StunError("STUN length does not match the message");
  const attributes: StunAttribute[] = [];
  for (let off = HEADER; off < buf.length; ) {
    if (off + 4 > buf.length) throw new StunError("truncated attribute header");
    const type = buf.readUInt16BE(off);
    const alen = buf.readUInt16BE(off + 2);
    if (off + 4 + alen > buf.length) throw new StunError("truncated attribute value");
    attributes.push({ type, value: buf.subarray(off + 4, off + 4 + alen), offset: off });
    off += 4 + alen + ((4 - (alen % 4)) % 4);
  }
  return { ...splitType(t), transactionId: Buffer.from(buf.subarray(8, 20)), attributes, raw: buf };
}

function attr(msg: StunMessage, type: number): Buffer | undefined {
  return msg.attributes.find((a) => a.type === type)?.value;
}

/** RFC 8489 §14.5: check a decoded message's MESSAGE-INTEGRITY with `key` (false when absent or wrong). */
export function verifyIntegrity(msg: StunMessage, key: Buffer): boolean {
  const mi = msg.attributes.find((a) => a.type === Attr.MESSAGE_INTEGRITY);
  if (!mi || mi.offset === undefined || !msg.raw || mi.value.length !== 20) return false;
  const covered = Buffer.from(msg.raw.subarray(0, mi.offset));
  covered.writeUInt16BE(mi.offset + 24 - HEADER, 2);
  const mac = createHmac("sha1", key).update(covered).digest();
  return timingSafeEqual(mac, mi.value);
}

/** RFC 8489 §14.2 / RFC 8656 §18.3, §18.5: the XOR'd address attributes. */
export function encodeXorAddress(a: { address: string; port: number }, transactionId: Buffer): Buffer {
  const family = isIP(a.address);
  if (family === 0) throw new TypeError(`not an IP address: ${a.address}`);
  const mask = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), transactionId]);
  const raw = family === 4 ? Buffer.from(a.address.split(".").map(Number)) : ipv6Bytes(a.address);
  const out = Buffer.alloc(4 + raw.length);
  out[1] = family === 4 ? 0x01 : 0x02;
  out.writeUInt16BE(a.port ^ (MAGIC_COOKIE >>> 16), 2);
  for (let i = 0; i < raw.length; i++) out[4 + i] = raw[i]! ^ mask[i]!;
  return out;
}

export function decodeXorAddress(v: Buffer, transactionId: Buffer): TransportAddress {
  const fam = v[1];
  const n = fam === 0x01 ? 4 : fam === 0x02 ? 16 : 0;
  if (n === 0 || v.length !== 4 + n) throw new StunError("bad XOR address attribute");
  const mask = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), transactionId]);
  const raw = Buffer.alloc(n);
  for (let i = 0; i < n; i++) raw[i] = v[4 + i]! ^ mask[i]!;
  const port = v.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  if (n === 4) return { family: 4, address: [...raw].join("."), port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
  return { family: 6, address: normalizeIpv6(groups.join(":")), port };
}

function ipv6Bytes(a: string): Buffer {
  const [head, tail] = a.includes("::") ? a.split("::") : [a, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Canonical text form (RFC 5952) via the URL parser. */
function normalizeIpv6(a: string): string {
  return new URL(`http://[${a}]/`).hostname.slice(1, -1);
}

/** RFC 8489 §14.8: class * 100 + number, and the reason phrase. */
export function errorCode(msg: StunMessage): { code: number; reason: string } | undefined {
  const v = attr(msg, Attr.ERROR_CODE);
  if (!v || v.length < 4) return undefined;
  return { code: (v[2]! & 0x07) * 100 + v[3]!, reason: v.subarray(4).toString("utf8") };
}

const str = (type: number, s: string): StunAttribute => ({ type, value: Buffer.from(s, "utf8") });

/**
 * STUN over a stream: frames incoming bytes into messages, matches responses to requests by transaction id and
 * queues indications. Anything that is not a well-formed STUN or ChannelData message fails every waiter.
 */
export class StunStream {
  readonly #sock: Duplex;
  #buf = Buffer.alloc(0);
  readonly #pending = new Map<string, { resolve: (m: StunMessage) => void; reject: (e: Error) => void }>();
  readonly #indications: StunMessage[] = [];
  #indicationWaiters: Array<() => void> = [];
  #failed: Error | undefined;

  constructor(sock: Duplex) {
    this.#sock = sock;
    sock.on("data", (d: Buffer) => this.#onData(d));
    sock.on("error", (e: Error) => this.#fail(e));
    sock.on("close", () => this.#fail(new StunError("connection closed")));
  }

  #fail(e: Error): void {
    this.#failed ??= e;
    for (const p of this.#pending.values()) p.reject(this.#failed);
    this.#pending.clear();
    for (const w of this.#indicationWaiters) w();
    this.#indicationWaiters = [];
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    for (;;) {
      if (this.#buf.length < 4) return;
      const first = this.#buf[0]!;
      // RFC 8656 §12: ChannelData starts 0b01 (channel numbers 0x4000-0x4FFF); padded to 4 bytes over streams.
      const size =
        first >= 0x40 && first < 0x80
          ? 4 + Math.ceil(this.#buf.readUInt16BE(2) / 4) * 4
          : first < 0x40
            ? HEADER + this.#buf.readUInt16BE(2)
            : -1;
      if (size < 0) return this.#fail(new StunError(`neither STUN nor ChannelData (first byte 0x${first.toString(16)})`));
      if (this.#buf.length < size) return;
      const frame = this.#buf.subarray(0, size);
      this.#buf = this.#buf.subarray(size);
      if (first >= 0x40) continue; // ChannelData: not used by this client
      let msg: StunMessage;
      try {
        msg = decode(Buffer.from(frame));
      } catch (e) {
        return this.#fail(e as Error);
      }
      if (msg.cls === Class.Indication) {
        this.#indications.push(msg);
        for (const w of this.#indicationWaiters) w();
        this.#indicationWaiters = [];
        continue;
      }
      const key = msg.transactionId.toString("hex");
      const p = this.#pending.get(key);
      if (p && (msg.cls === Class.Success || msg.cls === Class.Error)) {
        this.#pending.delete(key);
        p.resolve(msg);
      }
    }
  }

  /** Send a request; resolves with its success or error response. */
  request(msg: Omit<StunMessage, "raw">, integrityKey?: Buffer, timeoutMs = 10_000): Promise<StunMessage> {
    if (this.#failed) return Promise.reject(this.#failed);
    const key = msg.transactionId.toString("hex");
    return new Promise<StunMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(key);
        reject(new StunError(`no response to STUN method 0x${msg.method.toString(16)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(key, {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.#sock.write(encode(msg, integrityKey));
    });
  }

  /** Send an indication (no response). */
  indicate(msg: Omit<StunMessage, "raw" | "cls">): void {
    this.#sock.write(encode({ ...msg, cls: Class.Indication }));
  }

  /** The next received indication matching `pred` (earlier ones that match are consumed first). */
  async indication(pred: (m: StunMessage) => boolean, timeoutMs = 10_000): Promise<StunMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#indications.findIndex(pred);
      if (i >= 0) return this.#indications.splice(i, 1)[0]!;
      if (this.#failed) throw this.#failed;
      const left = deadline - Date.now();
      if (left <= 0) throw new StunError(`no matching indication within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#indicationWaiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  /** RFC 8489 §6 Binding: the server-reflexive address the server saw (XOR-MAPPED-ADDRESS). */
  async binding(timeoutMs?: number): Promise<{ response: StunMessage; mapped: TransportAddress }> {
    const tid = randomBytes(12);
    const response = await this.request({ method: Method.Binding, cls: Class.Request, transactionId: tid, attributes: [] }, undefined, timeoutMs);
    if (response.cls !== Class.Success) throw new StunError(`Binding failed: ${JSON.stringify(errorCode(response))}`);
    const x = attr(response, Attr.XOR_MAPPED_ADDRESS);
    if (!x) throw new StunError("Binding success without XOR-MAPPED-ADDRESS");
    return { response, mapped: decodeXorAddress(x, tid) };
  }
}

export type AllocateResult =
  | {
      ok: true;
      relayed: TransportAddress;
      mapped: TransportAddress | undefined;
      lifetime: number | undefined;
      /** the server's success response carried a MESSAGE-INTEGRITY valid under our key */
      integrityOk: boolean;
      session: TurnSession;
    }
  | { ok: false; code: number; reason: string; stage: "unauthenticated" | "authenticated" };

/** What an authenticated TURN session needs for its further requests. */
export interface TurnSession {
  stream: StunStream;
  username: string;
  realm: string;
  nonce: string;
  key: Buffer;
}

/**
 * RFC 8656 §7.1-§7.3 Allocate of a UDP relay (REQUESTED-TRANSPORT 17) with long-term credentials: the first,
 * unauthenticated request draws 401 with REALM and NONCE (RFC 8489 §9.2.4), the second carries USERNAME, REALM,
 * NONCE and MESSAGE-INTEGRITY.
 */
export async function allocate(stream: StunStream, creds: { username: string; password: string }, timeoutMs?: number): Promise<AllocateResult> {
  const transport = { type: Attr.REQUESTED_TRANSPORT, value: Buffer.from([17, 0, 0, 0]) };
  const first = await stream.request({ method: Method.Allocate, cls: Class.Request, transactionId: randomBytes(12), attributes: [transport] }, undefined, timeoutMs);
  const e1 = errorCode(first);
  const realm = attr(first, Attr.REALM)?.toString("utf8");
  const nonce = attr(first, Attr.NONCE)?.toString("utf8");
  if (first.cls !== Class.Error || e1?.code !== 401 || realm === undefined || nonce === undefined) {
    return { ok: false, code: e1?.code ?? 0, reason: e1?.reason ?? "expected 401 with REALM and NONCE", stage: "unauthenticated" };
  }
  const key = longTermKey(creds.username, realm, creds.password);
  const tid = randomBytes(12);
  const second = await stream.request(
    {
      method: Method.Allocate,
      cls: Class.Request,
      transactionId: tid,
      attributes: [transport, str(Attr.USERNAME, creds.username), str(Attr.REALM, realm), str(Attr.NONCE, nonce)],
    },
    key,
    timeoutMs,
  );
  if (second.cls !== Class.Success) {
    const e2 = errorCode(second);
    return { ok: false, code: e2?.code ?? 0, reason: e2?.reason ?? "no ERROR-CODE", stage: "authenticated" };
  }
  const relayed = attr(second, Attr.XOR_RELAYED_ADDRESS);
  if (!relayed) throw new StunError("Allocate success without XOR-RELAYED-ADDRESS");
  const mapped = attr(second, Attr.XOR_MAPPED_ADDRESS);
  const lifetime = attr(second, Attr.LIFETIME);
  return {
    ok: true,
    relayed: decodeXorAddress(relayed, tid),
    mapped: mapped ? decodeXorAddress(mapped, tid) : undefined,
    lifetime: lifetime && lifetime.length === 4 ? lifetime.readUInt32BE(0) : undefined,
    integrityOk: verifyIntegrity(second, key),
    session: { stream, username: creds.username, realm, nonce, key },
  };
}

/** RFC 8656 §9: install a permission for `peer` on the allocation; resolves with the response. */
export function createPermission(s: TurnSession, peer: { address: string; port: number }, timeoutMs?: number): Promise<StunMessage> {
  const tid = randomBytes(12);
  return s.stream.request(
    {
      method: Method.CreatePermission,
      cls: Class.Request,
      transactionId: tid,
      attributes: [
        { type: Attr.XOR_PEER_ADDRESS, value: encodeXorAddress(peer, tid) },
        str(Attr.USERNAME, s.username),
        str(Attr.REALM, s.realm),
        str(Attr.NONCE, s.nonce),
      ],
    },
    s.key,
    timeoutMs,
  );
}

/** RFC 8656 §10.1: a Send indication carrying `data` to `peer` through the relay. */
export function sendTo(s: TurnSession, peer: { address: string; port: number }, data: Buffer): void {
  const tid = randomBytes(12);
  s.stream.indicate({
    method: Method.Send,
    transactionId: tid,
    attributes: [
      { type: Attr.XOR_PEER_ADDRESS, value: encodeXorAddress(peer, tid) },
      { type: Attr.DATA, value: data },
    ],
  });
}

/** RFC 8656 §10.4: the next Data indication (from any peer): its peer address and payload. */
export async function receiveData(s: TurnSession, timeoutMs?: number): Promise<{ peer: TransportAddress; data: Buffer }> {
  const m = await s.stream.indication((x) => x.method === Method.Data, timeoutMs);
  const peer = attr(m, Attr.XOR_PEER_ADDRESS);
  const data = attr(m, Attr.DATA);
  if (!peer || !data) throw new StunError("Data indication without XOR-PEER-ADDRESS or DATA");
  return { peer: decodeXorAddress(peer, m.transactionId), data: Buffer.from(data) };
}
