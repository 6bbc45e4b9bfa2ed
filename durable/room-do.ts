/**
 * RoomDO: one Durable Object per room. Thin shell (lifecycle, storage, sockets) over the pure XMPP core.
 * (skeleton: the XMPP core lands with issue 2)
 */
import { DurableObject } from "cloudflare:workers";

export class RoomDO extends DurableObject<Env> {
  override async fetch(_request: Request): Promise<Response> {
    return new Response("not implemented", { status: 501 });
  }
}
