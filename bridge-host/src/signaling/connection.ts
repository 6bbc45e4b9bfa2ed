/**
 * One client signaling WebSocket: grant check, then JSON requests handled one at a time (in order), responses and
 * notifications out. Grants come from the room's Durable Object (contract/grants.ts) and are verified
 * *before* the handshake completes (server.ts), so that nothing a client sends is read, let alone kept, before it is
 * known to hold a grant: forged / expired / other-room / malformed / reused grants get the handshake and then at once
 * a close with 4401 and a reason naming the problem (browsers see only close codes), written without ever making a
 * WebSocket of the socket, which is not read again (`refuseUpgrade`). An admitted connection is bounded too: frames ≤ 64 KiB (server.ts), a request rate, a cap on
 * requests waiting their turn, and a cap on what waits to be sent to it.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import { z } from "zod";
import { verifyGrant, type GrantCheck, type GrantPayload } from "../../../contract/grants";
import { BridgeError, ErrorCode } from "../errors";
import type { Logger } from "../log";
import type { BridgeRoom } from "../room/bridge-room";
import type { Peer, PeerLink } from "../room/peer";
import { CloseCode, RequestEnvelope, type Notification, type ResponseMessage } from "./messages";
import { dispatch, isMethodName } from "./methods";
import type { UsedGrants } from "./used-grants";

const GRANT_CLOSE_REASONS = {
  malformed: "grant malformed",
  "bad-signature": "grant forged",
  expired: "grant expired",
  "wrong-room": "grant for another room",
} as const;

/** Requests received and not yet answered, at most (they are handled one at a time): more closes with 4429. */
const MAX_QUEUED_REQUESTS = 32;
/** Bytes queued for sending to a client that does not read them, at most: more and the socket is dropped. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** How long a refused or misbehaving client has to finish the close handshake before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

export interface ConnectionDeps {
  secret: string;
  log: Logger;
  findRoom(name: string): BridgeRoom | undefined;
  grants: UsedGrants;
  /** counters for /metrics */
  count(event: "ws_accepted" | "ws_rejected" | "requests" | "request_errors"): void;
}

/** Token bucket: sustained 50 requests/s, burst 200 (a call set-up needs about 10). */
class RateLimit {
  #tokens = 200;
  #last = Date.now();
  take(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(200, this.#tokens + ((now - this.#last) / 1000) * 50);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Close with `code`/`reason` and destroy the socket if the client has not finished the close handshake within
 * CLOSE_GRACE_MS (ws would wait 30 s). The close frame has been sent by then, so the client learns code and reason.
 */
function closeSoon(ws: WebSocket, code: CloseCode, reason: string): void {
  if (ws.readyState !== ws.OPEN) return;
  ws.close(code, reason);
  const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
  timer.unref();
  ws.once("close", () => clearTimeout(timer));
}

/**
 * Close a client that is refused or misbehaves, and stop reading its socket: what it sends from now on stays in the
 * kernel's buffers and then in its own, costing the bridge nothing.
 */
function refuse(ws: WebSocket, code: CloseCode, reason: string): void {
  ws.removeAllListeners("message");
  closeSoon(ws, code, reason);
  ws.pause();
}

/**
 * Whether a client whose grant was checked (`check`; undefined: no grant given) may connect to `roomName` now: the
 * room and grant it may use, or why not. Taking the grant (single use) is part of it, so call this only right before
 * completing the handshake, in the same tick.
 */
export function admission(
  roomName: string,
  check: GrantCheck | undefined,
  deps: Pick<ConnectionDeps, "findRoom" | "grants">,
): { ok: true; room: BridgeRoom; grant: GrantPayload } | { ok: false; code: CloseCode; reason: string } {
  const no = (code: CloseCode, reason: string) => ({ ok: false, code, reason }) as const;
  if (!check) return no(CloseCode.Unauthorized, "grant missing");
  if (!check.ok) return no(CloseCode.Unauthorized, GRANT_CLOSE_REASONS[check.reason]);
  const room = deps.findRoom(roomName);
  if (!room) return no(CloseCode.RoomNotFound, "room not found");
  const g = check.payload;
  const refused = g.lobby ? room.lobbyAdmissionError(g.lid ?? "", g.exp) : room.admissionError(g.nick, g.exp);
  if (refused) return no(refused.code, refused.reason);
  if (!deps.grants.take(g.jti, g.exp)) return no(CloseCode.Unauthorized, "grant already used");
  return { ok: true, room, grant: g };
}

/**
 * Refuse a WebSocket upgrade without making a WebSocket of it: the handshake response and a close frame with `code`
 * and `reason` (browsers only see those, not HTTP errors), written straight to the socket, which is then not read
 * (what the client sends stays in the kernel's buffers) and destroyed after CLOSE_GRACE_MS. A refusal costs the
 * bridge no parser, no buffers and no frame it would read.
 */
export function refuseUpgrade(req: IncomingMessage, socket: Duplex, code: CloseCode, reason: string): void {
  socket.pause();
  const key = req.headers["sec-websocket-key"];
  if (typeof key !== "string" || !/^[A-Za-z0-9+/]{22}==$/.test(key) || req.headers["sec-websocket-version"] !== "13") {
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  } else {
    const accept = createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64"); // RFC 6455 §4.2.2
    const why = Buffer.from(reason, "utf8").subarray(0, 123);
    const frame = Buffer.concat([Buffer.from([0x88, 2 + why.length, code >> 8, code & 0xff]), why]); // §5.5.1
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.end(frame);
  }
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
}

/** A client admitted to `room` with `g` just completed the handshake: it joins (or waits in the lobby). */
export function openConnection(ws: WebSocket, roomName: string, room: BridgeRoom, g: GrantPayload, deps: ConnectionDeps): void {
  const send = (msg: ResponseMessage | ({ notification: true } & Notification)) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      deps.log.info("ws.dropped", { not_reading: true });
      ws.terminate();
      return;
    }
    ws.send(JSON.stringify(msg));
  };
  const link: PeerLink = {
    notify: (n) => send({ notification: true, ...n }),
    close: (code, reason) => closeSoon(ws, code, reason),
  };
  const peer: Peer = g.lobby ? room.joinLobby(link, g.lid ?? "") : room.join(g.nick, link);
  deps.count("ws_accepted");
  deps.log.info(g.lobby ? "peer.lobby" : "peer.joined", { peers: room.peers.size });
  const ctx = {
    room,
    peer,
    checkGrant: (grant: string) => verifyGrant(deps.secret, grant, roomName),
    takeGrant: (jti: string, exp: number) => deps.grants.take(jti, exp),
  };

  const limiter = new RateLimit();
  let queued = 0;
  let queue: Promise<void> = Promise.resolve();
  const handle = async (text: string): Promise<void> => {
    if (peer.closed) return;
    let env: RequestEnvelope;
    try {
      env = RequestEnvelope.parse(JSON.parse(text));
    } catch {
      refuse(ws, CloseCode.BadRequest, "malformed request (expected JSON {id, method, data})");
      return;
    }
    deps.count("requests");
    try {
      if (!isMethodName(env.method)) throw new BridgeError(ErrorCode.BadRequest, `unknown method "${env.method}"`);
      const data = await dispatch(env.method, env.data, ctx);
      send({ response: true, id: env.id, ok: true, data: data ?? {} });
    } catch (err) {
      deps.count("request_errors");
      send({ response: true, id: env.id, ok: false, error: toWireError(err) });
    }
  };
  ws.on("message", (d: Buffer, isBinary: boolean) => {
    if (ws.readyState !== ws.OPEN) return;
    if (isBinary) return refuse(ws, CloseCode.BadRequest, "binary frames are not supported");
    if (!limiter.take() || queued >= MAX_QUEUED_REQUESTS) return refuse(ws, CloseCode.RateLimited, "too many requests");
    const text = d.toString("utf8");
    queued++;
    queue = queue.then(() => handle(text)).finally(() => void queued--);
  });
  ws.on("close", () => {
    room.leave(peer);
    deps.log.info("peer.left", { peers: room.peers.size });
  });
}

function toWireError(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof BridgeError) return { code: err.code, message: err.message };
  if (err instanceof z.ZodError) {
    const i = err.issues[0];
    return { code: ErrorCode.BadRequest, message: `invalid data${i ? ` at ${i.path.join(".") || "(root)"}: ${i.message}` : ""}` };
  }
  // mediasoup validates RTP/DTLS parameters itself and throws TypeError / UnsupportedError with a useful message.
  if (err instanceof TypeError || (err instanceof Error && err.name === "UnsupportedError")) {
    return { code: ErrorCode.BadRequest, message: err.message.slice(0, 200) };
  }
  if (err instanceof Error && err.name === "InvalidStateError") return { code: ErrorCode.InvalidState, message: err.message.slice(0, 200) };
  return { code: ErrorCode.Internal, message: "internal error" };
}
