/**
 * The signaling method table: `{ [method]: { schema, handler } }` (instead of one giant switch). Each entry's
 * schema validates `data` at the boundary; the handler then gets typed data. Adding a method = adding an entry
 * here and in PROTOCOL.md; `satisfies` makes the compiler check every method in `Schemas` has a handler.
 */
import type { z } from "zod";
import type { GrantCheck } from "../../../contract/grants";
import { BridgeError, ErrorCode } from "../errors";
import type { BridgeRoom } from "../room/bridge-room";
import type { Peer } from "../room/peer";
import { Schemas, type MethodName } from "./messages";

export interface MethodContext {
  room: BridgeRoom;
  peer: Peer;
  /** verify a grant for this room (contract/grants.ts) */
  checkGrant(grant: string): Promise<GrantCheck>;
  /** take a verified grant (single use, used-grants.ts): false if it was taken before */
  takeGrant(jti: string, exp: number): boolean;
}

/** `admit`: a lobby connection shows an occupant grant for this room and becomes that peer. */
async function admit({ room, peer, checkGrant, takeGrant }: MethodContext, grant: string): Promise<unknown> {
  const check = await checkGrant(grant);
  if (!check.ok) throw new BridgeError(ErrorCode.Forbidden, `grant ${check.reason}`);
  if (check.payload.lobby) throw new BridgeError(ErrorCode.Forbidden, "a lobby grant cannot admit");
  const refused = room.admissionError(check.payload.nick, check.payload.exp);
  if (refused) throw new BridgeError(ErrorCode.Forbidden, refused.reason);
  if (!room.lobby.has(peer)) throw new BridgeError(ErrorCode.InvalidState, peer.closed ? "peer closed" : "already admitted");
  if (!takeGrant(check.payload.jti, check.payload.exp)) throw new BridgeError(ErrorCode.Forbidden, "grant already used");
  room.admit(peer, check.payload.nick);
  return {};
}

type Handler<M extends MethodName> = (ctx: MethodContext, data: z.output<(typeof Schemas)[M]>) => Promise<unknown> | unknown;
type MethodTable = { [M in MethodName]: { schema: (typeof Schemas)[M]; handler: Handler<M> } };

const METHODS = {
  getRouterRtpCapabilities: { schema: Schemas.getRouterRtpCapabilities, handler: ({ room }) => room.router.rtpCapabilities },
  ping: { schema: Schemas.ping, handler: () => ({}) },
  createWebRtcTransport: {
    schema: Schemas.createWebRtcTransport,
    handler: ({ room, peer }, d) => room.createWebRtcTransport(peer, d.direction),
  },
  connectWebRtcTransport: {
    schema: Schemas.connectWebRtcTransport,
    handler: ({ room, peer }, d) => room.connectWebRtcTransport(peer, d),
  },
  restartIce: { schema: Schemas.restartIce, handler: ({ room, peer }, d) => room.restartIce(peer, d) },
  produce: { schema: Schemas.produce, handler: ({ room, peer }, d) => room.produce(peer, d) },
  consume: { schema: Schemas.consume, handler: ({ room, peer }, d) => room.consume(peer, d) },
  resumeConsumer: {
    schema: Schemas.resumeConsumer,
    handler: ({ room, peer }, d) => room.setConsumerPaused(peer, d.consumerId, false),
  },
  pauseConsumer: {
    schema: Schemas.pauseConsumer,
    handler: ({ room, peer }, d) => room.setConsumerPaused(peer, d.consumerId, true),
  },
  setConsumerSize: { schema: Schemas.setConsumerSize, handler: ({ room, peer }, d) => room.setConsumerSize(peer, d) },
  pauseProducer: {
    schema: Schemas.pauseProducer,
    handler: ({ room, peer }, d) => room.setProducerPaused(peer, d.producerId, true),
  },
  resumeProducer: {
    schema: Schemas.resumeProducer,
    handler: ({ room, peer }, d) => room.setProducerPaused(peer, d.producerId, false),
  },
  closeProducer: { schema: Schemas.closeProducer, handler: ({ room, peer }, d) => room.closeProducer(peer, d.producerId) },
  getStats: { schema: Schemas.getStats, handler: ({ room, peer }, d) => room.getStats(peer, d) },
  admit: { schema: Schemas.admit, handler: (ctx, d) => admit(ctx, d.grant) },
} satisfies MethodTable;

export function isMethodName(m: string): m is MethodName {
  return Object.hasOwn(METHODS, m);
}

/** Validates `data` for `method` and runs its handler. Throws z.ZodError on invalid data. */
export async function dispatch(method: MethodName, rawData: unknown, ctx: MethodContext): Promise<unknown> {
  const entry = METHODS[method] as { schema: z.ZodType; handler: (c: MethodContext, d: unknown) => unknown };
  const data = entry.schema.parse(rawData ?? {});
  return entry.handler(ctx, data);
}
