/**
 * The room server's core: one WebSocket frame in -> effects out (core/effects.ts). No I/O, no platform APIs:
 * room-do.ts decodes, calls `handleFrame`, runs the effects. Steps must run one at a time per room (the shell
 * serializes them), because a few (password hashing, HMAC) await WebCrypto.
 *
 * Per frame: size limit (MAX_STANZA_BYTES) -> byte budget -> strict XML parse (xmpp/xml.ts) -> per element: token bucket ->
 * negotiation (xmpp/stream.ts) or stanza routing by the addressed entity (`target`). Any stream error: the error,
 * `<close/>`, socket closed, occupant removed with an unavailable broadcast; other connections are unaffected.
 */
import { mucDomain } from "../../contract/jid";
import { StreamErrorException, streamErrorXml, unreachable, type StanzaError, type StreamError } from "../xmpp/errors";
import { classify, openXml } from "../xmpp/framing";
import { parseJid } from "../xmpp/jid";
import { NS } from "../xmpp/ns";
import { handleBind, handleOpen, handleSasl } from "../xmpp/stream";
import { XmlError, childElements, parseFrame, type XmlElement } from "../xmpp/xml";
import { handleDisco } from "../features/disco";
import { handleExtdisco } from "../features/extdisco";
import { handleMediaIq } from "../features/media";
import { handleAdmin } from "../features/muc-admin";
import { handleOwner } from "../features/muc-config";
import { handleJoin, handlePresenceUpdate, presenceError } from "../features/muc-join";
import { presencePayload, removeOccupant } from "../features/muc-occupant";
import { expired, maxUnjoined, touch, unjoinedOthers } from "../features/idle";
import { IqRoutes } from "../features/iq-routes";
import { NS_MLS, handleMlsIq, mlsTick, newDs, syncMls, type DsState } from "../features/mls-room";
import { isPing } from "../features/ping";
import { BYTE_BURST_STANZAS, BYTE_RATE_PER_SECOND, TokenBucket, utf8Length } from "../features/rate-limit";
import { handleGroupchat, routeToOccupant } from "../features/routing";
import { validateNick } from "../features/nick";
import type { Deps } from "./deps";
import { Out, type Effect } from "./effects";
import { errorReply, iqResult } from "./reply";
import type { ConnState, RoomState } from "./state";

export interface Limits {
  maxStanzaBytes: number;
  ratePerSecond: number;
  burst: number;
  /** byte budget per connection (features/rate-limit.ts); defaults BYTE_RATE_PER_SECOND, BYTE_BURST_STANZAS frames */
  bytesPerSecond?: number;
  byteBurst?: number;
}

/** In-memory companions of a RoomState that are not persisted. */
export interface Runtime {
  room: RoomState;
  deps: Deps;
  limits: Limits;
  buckets: Map<string, TokenBucket>;
  byteBuckets: Map<string, TokenBucket>;
  /** IQs routed between occupants awaiting their answer (features/iq-routes.ts) */
  iqs: IqRoutes;
  /** the room's MLS Delivery Service (features/mls-room.ts) */
  mls: DsState;
}

export function newRuntime(room: RoomState, deps: Deps, limits: Limits, mls: DsState = newDs()): Runtime {
  return { room, deps, limits, buckets: new Map(), byteBuckets: new Map(), iqs: new IqRoutes(), mls };
}

const enc = new TextEncoder();

/** UTF-8 byte length without allocating when the answer is obvious. */
function overLimit(s: string, max: number): boolean {
  if (s.length > max) return true;
  if (s.length * 3 <= max) return false;
  return enc.encode(s).length > max;
}

/** Handle one text frame from connection `connId`. */
export async function handleFrame(rt: Runtime, connId: string, data: string): Promise<Effect[]> {
  const out = new Out();
  const c = rt.room.conns.get(connId);
  if (!c) return out.effects;
  try {
    if (overLimit(data, rt.limits.maxStanzaBytes)) {
      // RFC 6120 §13.12: servers may limit stanza size; policy-violation is the stream error for it.
      throw new StreamErrorException({ condition: "policy-violation", text: `stanza larger than ${rt.limits.maxStanzaBytes} bytes` });
    }
    chargeBytes(rt, connId, data);
    let els: XmlElement[];
    try {
      els = parseFrame(data, { defaultNs: NS.CLIENT });
    } catch (e) {
      if (e instanceof XmlError) throw new StreamErrorException({ condition: e.condition, text: e.message });
      throw e;
    }
    let bucket = rt.buckets.get(connId);
    if (!bucket) rt.buckets.set(connId, (bucket = new TokenBucket(rt.limits.ratePerSecond, rt.limits.burst, rt.deps.now())));
    for (const el of els) {
      if (!bucket.take(rt.deps.now())) {
        throw new StreamErrorException({ condition: "policy-violation", text: "too many stanzas: slow down" });
      }
      const done = await handleElement(rt, c, el, out);
      if (done) break;
    }
    if (rt.room.conns.has(connId)) touch(c, rt.deps.now(), out);
  } catch (e) {
    if (!(e instanceof StreamErrorException)) throw e;
    failStream(rt, c, e.error, out);
  }
  syncMls(rt.room, rt.mls, out, rt.deps.now());
  return out.effects;
}

/** Take the frame's bytes from the connection's byte budget (before parsing: parsing is the work to spare). */
function chargeBytes(rt: Runtime, connId: string, data: string): void {
  const { limits } = rt;
  let bucket = rt.byteBuckets.get(connId);
  if (!bucket) {
    const rate = limits.bytesPerSecond ?? BYTE_RATE_PER_SECOND;
    // never below one largest frame, or such a frame could never pass
    const burst = Math.max(limits.byteBurst ?? BYTE_BURST_STANZAS * limits.maxStanzaBytes, limits.maxStanzaBytes);
    rt.byteBuckets.set(connId, (bucket = new TokenBucket(rate, burst, rt.deps.now())));
  }
  if (!bucket.take(rt.deps.now(), utf8Length(data))) {
    throw new StreamErrorException({ condition: "policy-violation", text: `more than ${bucket.ratePerSecond} bytes per second: slow down` });
  }
}

/** Stream error: (open first if none was sent, RFC 6120 §4.9.1.3), error, close, removal. */
export function failStream(rt: Runtime, c: ConnState, err: StreamError, out: Out): void {
  if (c.phase === "init") out.send(c.id, openXml(c.domain, rt.deps.randomId()));
  out.send(c.id, streamErrorXml(err));
  dropConn(rt, c, out);
  out.close(c.id, err.condition === "policy-violation" ? 1008 : 1000, err.condition);
}

/**
 * Timer (the shell's alarm): end the streams of sessions that stayed silent without joining (features/idle.ts);
 * ask the next member for a commit when the asked one let its turn pass (features/mls-room.ts).
 */
export function expireIdle(rt: Runtime): Effect[] {
  const out = new Out();
  for (const c of expired(rt.room, rt.deps.now())) {
    failStream(rt, c, { condition: "connection-timeout", text: "no activity and not in the room" }, out);
  }
  syncMls(rt.room, rt.mls, out, rt.deps.now());
  mlsTick(rt.room, rt.mls, out, rt.deps.now());
  return out.effects;
}

/** The socket closed or errored without `<close/>`: remove the occupant (XEP-0045 §7.14: unavailable to the others). */
export function handleDisconnect(rt: Runtime, connId: string): Effect[] {
  const out = new Out();
  const c = rt.room.conns.get(connId);
  if (c) dropConn(rt, c, out);
  syncMls(rt.room, rt.mls, out, rt.deps.now());
  return out.effects;
}

function dropConn(rt: Runtime, c: ConnState, out: Out): void {
  if (c.occ) removeOccupant(rt.room, c, out, { notifySelf: false });
  if (c.phase === "ready") out.sessionGone(c.id);
  rt.room.conns.delete(c.id);
  rt.buckets.delete(c.id);
  rt.byteBuckets.delete(c.id);
  rt.iqs.forget(c.id);
}

/** Returns true when the stream ended (stop processing the frame). */
async function handleElement(rt: Runtime, c: ConnState, el: XmlElement, out: Out): Promise<boolean> {
  const inc = classify(el);
  switch (inc.kind) {
    case "bad-namespace":
      throw new StreamErrorException({ condition: "invalid-namespace", text: `<${el.name}> in namespace '${el.ns}'` });
    case "bad-prefix":
      throw new StreamErrorException({ condition: "bad-namespace-prefix", text: `stanzas are sent without a prefix, not as <${el.name}>` });
    case "close":
      // RFC 7395 §3.6: answer <close/> with <close/> and close the WebSocket.
      dropConn(rt, c, out);
      out.close(c.id, 1000, "closed");
      return true;
    case "open":
      if (c.phase === "init" && unjoinedOthers(rt.room, c) >= maxUnjoined(rt.deps.cfg)) {
        throw new StreamErrorException({ condition: "resource-constraint", text: "too many sessions are waiting in this room; try again later" });
      }
      handleOpen(c, inc, out, rt.deps);
      return false;
    case "nonza":
    case "stanza":
      break;
    default:
      unreachable(inc);
  }
  switch (c.phase) {
    case "init":
    case "restart":
      throw new StreamErrorException({ condition: "not-authorized", text: "send <open/> first (RFC 7395 §3.4)" });
    case "sasl":
      handleSasl(c, el, out);
      return false;
    case "bind":
      handleBind(c, el, out, rt.deps);
      return false;
    case "ready":
      break;
    default:
      unreachable(c.phase);
  }
  if (inc.kind === "nonza") {
    throw new StreamErrorException({ condition: "unsupported-stanza-type", text: `<${el.name}> is not supported` });
  }
  await handleStanza(rt, c, inc.stanza, el, out);
  return false;
}

/** Who a stanza is addressed to, from this connection's point of view. */
type Target =
  | { kind: "server" }
  | { kind: "muc-service" }
  | { kind: "room" }
  | { kind: "occupant"; nick: string }
  | { kind: "other-room"; room: string }
  | { kind: "elsewhere" }
  | { kind: "malformed" };

function target(room: RoomState, c: ConnState, to: string | undefined): Target {
  if (to === undefined) return { kind: "server" };
  const j = parseJid(to);
  if (!j) return { kind: "malformed" };
  if (j.domain === c.domain) {
    // RFC 6120 §10.3: the server handles stanzas to its domain and (no roster here) to the user's own bare JID
    if (j.local === "" && j.resource === "") return { kind: "server" };
    if (j.local === c.local && (j.resource === "" || j.resource === c.resource)) return { kind: "server" };
    return { kind: "elsewhere" };
  }
  if (j.domain === mucDomain(c.domain)) {
    if (j.local === "") return j.resource === "" ? { kind: "muc-service" } : { kind: "elsewhere" };
    // room localparts compare case-insensitively (RFC 7622 §3.3.1 UsernameCaseMapped); room names are lower case
    const local = j.local.toLowerCase();
    if (local !== room.name) return { kind: "other-room", room: local };
    return j.resource === "" ? { kind: "room" } : { kind: "occupant", nick: j.resource };
  }
  return { kind: "elsewhere" };
}

/**
 * An unavailable presence from `c` leaves the room if `c` is an occupant (otherwise it is ignored).
 * XEP-0045 §7.14: the leaver gets its own unavailable presence (110, id echoed); its status goes to everyone.
 */
function leave(room: RoomState, c: ConnState, el: XmlElement, out: Out): void {
  if (!c.occ) return;
  const id = el.attrs["id"];
  removeOccupant(room, c, out, { notifySelf: true, leavePayload: presencePayload(el), ...(id !== undefined ? { id } : {}) });
}

function reply(c: ConnState, el: XmlElement, out: Out, err: StanzaError): void {
  const e = errorReply(c, el, err);
  if (e) out.send(c.id, e);
}

async function handleStanza(rt: Runtime, c: ConnState, kind: "message" | "presence" | "iq", el: XmlElement, out: Out): Promise<void> {
  const { room } = rt;
  const t = target(room, c, el.attrs["to"]);
  const type = el.attrs["type"];
  if (kind === "iq") {
    // RFC 6120 §8.2.3: id is required; get/set carry exactly one payload element.
    if (el.attrs["id"] === undefined || !["get", "set", "result", "error"].includes(type ?? "")) {
      return reply(c, el, out, { type: "modify", condition: "bad-request", text: "an iq needs an id and a type of get, set, result or error" });
    }
    if ((type === "get" || type === "set") && childElements(el).length !== 1) {
      return reply(c, el, out, { type: "modify", condition: "bad-request", text: "an iq get/set carries exactly one child element" });
    }
  }
  switch (t.kind) {
    case "malformed":
      return reply(c, el, out, { type: "modify", condition: "jid-malformed", text: "malformed 'to' address" });
    case "elsewhere":
      if (kind === "presence" && type !== "error") {
        return reply(c, el, out, { type: "cancel", condition: "service-unavailable", text: "this server only serves the room" });
      }
      if (kind === "iq" && (type === "result" || type === "error")) return;
      return reply(c, el, out, { type: "cancel", condition: "service-unavailable", text: "no such entity on this server" });
    case "other-room":
      // one room per connection: a clear error, never a silent drop
      if (kind === "iq" && (type === "result" || type === "error")) return;
      return reply(c, el, out, {
        type: "cancel",
        condition: "not-allowed",
        text: `this connection serves room '${room.name}' only; connect to /xmpp-websocket/${t.room} for that room`,
      });
    case "server":
      return handleServer(rt, c, kind, el, out);
    case "muc-service":
      if (kind === "iq" && (type === "get" || type === "set")) {
        const q = childElements(el)[0]!;
        if (isPing(el)) return out.send(c.id, iqResult(c, el));
        const d = handleDisco("muc-service", room, c, el, q);
        if (d) return out.send(c.id, d);
        return reply(c, el, out, { type: "cancel", condition: "service-unavailable" });
      }
      if (kind === "iq") return;
      return reply(c, el, out, { type: "cancel", condition: "service-unavailable", text: "address a room on this service" });
    case "room":
      return handleRoom(rt, c, kind, el, out);
    case "occupant":
      return handleOccupantTarget(rt, c, kind, el, t.nick, out);
    default:
      unreachable(t);
  }
}

async function handleServer(rt: Runtime, c: ConnState, kind: "message" | "presence" | "iq", el: XmlElement, out: Out): Promise<void> {
  const type = el.attrs["type"];
  if (kind === "presence") {
    // RFC 6121 §4.5.2 / XEP-0045 §7.14: a global unavailable presence also leaves the room.
    if (type === "unavailable") leave(rt.room, c, el, out);
    return; // initial/global available presence: no roster to broadcast to
  }
  if (kind === "message") return reply(c, el, out, { type: "cancel", condition: "service-unavailable", text: "the server takes no messages" });
  if (type === "result" || type === "error") return;
  const q = childElements(el)[0]!;
  if (isPing(el)) return out.send(c.id, iqResult(c, el));
  if (type === "set" && q.local === "session" && q.ns === NS.SESSION) return out.send(c.id, iqResult(c, el));
  if (type === "get" && q.ns === NS.EXTDISCO) {
    const r = await handleExtdisco(q, c, rt.deps);
    if ("payload" in r) return out.send(c.id, iqResult(c, el, r.payload));
    return reply(c, el, out, r.error);
  }
  const d = handleDisco("server", rt.room, c, el, q);
  if (d) return out.send(c.id, d);
  // RFC 6120 §8.4: an unsupported IQ payload -> service-unavailable
  return reply(c, el, out, { type: "cancel", condition: "service-unavailable" });
}

async function handleRoom(rt: Runtime, c: ConnState, kind: "message" | "presence" | "iq", el: XmlElement, out: Out): Promise<void> {
  const { room } = rt;
  const type = el.attrs["type"];
  if (kind === "presence") {
    if (type === "unavailable") return leave(room, c, el, out);
    if (type === "error") return;
    // XEP-0045 §7.2.1: a join must name a nickname (room/nick)
    const e = presenceError(room, c, el, { type: "modify", condition: "jid-malformed", text: "join room/nickname (no nickname given)" });
    if (e) out.send(c.id, e);
    return;
  }
  if (kind === "message") {
    if (type === "groupchat") return handleGroupchat(room, c, el, out);
    if (type === "error") return;
    return reply(c, el, out, { type: "cancel", condition: "feature-not-implemented", text: "only groupchat messages go to the room" });
  }
  if (type === "result" || type === "error") return;
  const q = childElements(el)[0]!;
  if (isPing(el)) return out.send(c.id, iqResult(c, el));
  if (q.local === "query" && q.ns === NS.MUC_OWNER) return handleOwner(room, c, el, q, out);
  if (q.local === "query" && q.ns === NS.MUC_ADMIN) {
    const k = handleAdmin(room, c, el, q, out);
    if (k) out.kicked(k.nick, k.conn);
    return;
  }
  if (q.local === "media" && q.ns === NS.PARLEY_MEDIA) return handleMediaIq(room, c, el, out, rt.deps);
  if (q.ns === NS_MLS) return handleMlsIq(room, rt.mls, c, el, q, out, rt.deps.now());
  const d = handleDisco("room", room, c, el, q);
  if (d) return out.send(c.id, d);
  return reply(c, el, out, { type: "cancel", condition: "service-unavailable" });
}

async function handleOccupantTarget(
  rt: Runtime,
  c: ConnState,
  kind: "message" | "presence" | "iq",
  el: XmlElement,
  nick: string,
  out: Out,
): Promise<void> {
  const { room } = rt;
  const type = el.attrs["type"];
  if (kind === "presence") {
    if (type === "unavailable") return leave(room, c, el, out);
    if (type !== undefined) return; // error/subscription/probe presences to an occupant JID are ignored
    if (!c.occ) return handleJoin(room, c, el, nick, out, rt.deps);
    const v = validateNick(nick);
    if (v.ok && v.key === c.occ.key) return handlePresenceUpdate(room, c, el, out);
    // XEP-0045 §7.6 nickname change: not offered (leave and rejoin instead)
    const e = presenceError(room, c, el, { type: "cancel", condition: "not-acceptable", text: "changing nickname is not supported; leave and rejoin" });
    if (e) out.send(c.id, e);
    return;
  }
  // XEP-0410 §3.2 self-ping: answered by the room itself
  if (kind === "iq" && isPing(el)) {
    const v = validateNick(nick);
    if (v.ok && c.occ && v.key === c.occ.key) return out.send(c.id, iqResult(c, el));
    if (!c.occ) return reply(c, el, out, { type: "cancel", condition: "not-acceptable", text: "not an occupant" });
  }
  routeToOccupant(room, rt.iqs, rt.deps, c, el, nick, out);
}
