/**
 * One client signaling WebSocket: grant check at connect, then JSON requests handled one at a time (in order),
 * responses and notifications out. Grants come from the room's Durable Object (contract/grants.ts):
 * forged / expired / other-room / malformed grants close the socket with 4401 and a reason naming the problem.
 */
import type { WebSocket } from "ws";
import { z } from "zod";
import { verifyGrant } from "../../../contract/grants";
import { BridgeError, ErrorCode } from "../errors";
import type { Logger } from "../log";
import type { BridgeRoom } from "../room/bridge-room";
import type { Peer, PeerLink } from "../room/peer";
import { CloseCode, RequestEnvelope, type Notification, type ResponseMessage } from "./messages";
import { dispatch, isMethodName } from "./methods";

export const GRANT_CLOSE_REASONS = {
  malformed: "grant malformed",
  "bad-signature": "grant forged",
  expired: "grant expired",
  "wrong-room": "grant for another room",
} as const;

export interface ConnectionDeps {
  secret: string;
  log: Logger;
  findRoom(name: string): BridgeRoom | undefined;
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

export async function acceptConnection(ws: WebSocket, roomName: string, grant: string | null, deps: ConnectionDeps): Promise<void> {
  const reject = (code: CloseCode, reason: string) => {
    deps.count("ws_rejected");
    deps.log.info("ws.rejected", { code });
    ws.close(code, reason);
  };
  // Buffer anything the client sends while the grant is being checked.
  const early: string[] = [];
  const onEarly = (d: Buffer, isBinary: boolean) => early.push(isBinary ? "" : d.toString("utf8"));
  ws.on("message", onEarly);

  if (!grant) return reject(CloseCode.Unauthorized, "grant missing");
  const check = await verifyGrant(deps.secret, grant, roomName);
  if (!check.ok) return reject(CloseCode.Unauthorized, GRANT_CLOSE_REASONS[check.reason]);
  const room = deps.findRoom(roomName);
  if (!room) return reject(CloseCode.RoomNotFound, "room not found");
  const lobby = check.payload.lobby === true;
  const refused = lobby ? room.lobbyAdmissionError() : room.admissionError(check.payload.nick, check.payload.exp);
  if (refused) return reject(refused.code, refused.reason);
  if (ws.readyState !== ws.OPEN) return;

  const send = (msg: ResponseMessage | ({ notification: true } & Notification)) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  };
  const link: PeerLink = {
    notify: (n) => send({ notification: true, ...n }),
    close: (code, reason) => ws.close(code, reason),
  };
  const peer: Peer = lobby ? room.joinLobby(link) : room.join(check.payload.nick, link);
  deps.count("ws_accepted");
  deps.log.info(lobby ? "peer.lobby" : "peer.joined", { peers: room.peers.size });
  const checkGrant = (g: string) => verifyGrant(deps.secret, g, roomName);

  const limiter = new RateLimit();
  let queue: Promise<void> = Promise.resolve();
  const onMessage = (text: string) => {
    if (!limiter.take()) {
      ws.close(CloseCode.RateLimited, "too many requests");
      return;
    }
    queue = queue.then(() => handle(text));
  };
  const handle = async (text: string): Promise<void> => {
    if (peer.closed) return;
    let env: RequestEnvelope;
    try {
      env = RequestEnvelope.parse(JSON.parse(text));
    } catch {
      ws.close(CloseCode.BadRequest, "malformed request (expected JSON {id, method, data})");
      return;
    }
    deps.count("requests");
    try {
      if (!isMethodName(env.method)) throw new BridgeError(ErrorCode.BadRequest, `unknown method "${env.method}"`);
      const data = await dispatch(env.method, env.data, { room, peer, checkGrant });
      send({ response: true, id: env.id, ok: true, data: data ?? {} });
    } catch (err) {
      deps.count("request_errors");
      send({ response: true, id: env.id, ok: false, error: toWireError(err) });
    }
  };

  ws.off("message", onEarly);
  ws.on("message", (d: Buffer, isBinary: boolean) => {
    if (isBinary) return void ws.close(CloseCode.BadRequest, "binary frames are not supported");
    onMessage(d.toString("utf8"));
  });
  ws.on("close", () => {
    room.leave(peer);
    deps.log.info("peer.left", { peers: room.peers.size });
  });
  for (const t of early) onMessage(t);
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
