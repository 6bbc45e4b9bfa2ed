/** HTTP header names the edge, the room Durable Object and bridge hosts exchange. */

/** Set by the Worker on the request it forwards to a room's Durable Object (any client-sent copies are replaced). */
export const ROOM_HEADERS = {
  room: "x-parley-room",
  domain: "x-parley-domain",
  ip: "x-parley-client-ip",
} as const;

/** A signed request between the edge and a bridge host (signed-request.ts). */
export const SIGNATURE_HEADERS = {
  timestamp: "x-parley-timestamp",
  nonce: "x-parley-nonce",
  signature: "x-parley-signature",
} as const;
