/**
 * GET /xmpp-websocket/<room>: XMPP over WebSocket (RFC 7395) for one room, handled by that room's Durable Object
 * (`idFromName(room)`). The Worker validates the room name and the upgrade, derives the XMPP domain
 * (config XMPP_DOMAIN, else the request's host name) and passes domain, room and client IP to the object in
 * headers it sets itself (any client-sent copies are overwritten).
 */
import { Hono } from "hono";
import { ROOM_HEADERS } from "../../contract/headers";
import { RoomNameSchema } from "../../contract/room-name";
import { loadConfig } from "../../durable/config";

export const xmppRoutes = new Hono<{ Bindings: Env }>();

xmppRoutes.get("/xmpp-websocket/:room", async (c) => {
  const parsed = RoomNameSchema.safeParse(c.req.param("room"));
  if (!parsed.success) {
    return c.json({ error: "bad-room", reason: parsed.error.issues[0]?.message ?? "invalid room name" }, 400);
  }
  if ((c.req.header("upgrade") ?? "").toLowerCase() !== "websocket") {
    return c.json({ error: "upgrade-required", reason: "this endpoint speaks XMPP over WebSocket (RFC 7395)" }, 426, {
      Upgrade: "websocket",
    });
  }
  const room = parsed.data;
  const domain = (loadConfig(c.env).XMPP_DOMAIN ?? new URL(c.req.url).hostname).toLowerCase();
  const headers = new Headers(c.req.raw.headers);
  headers.set(ROOM_HEADERS.room, room);
  headers.set(ROOM_HEADERS.domain, domain);
  headers.set(ROOM_HEADERS.ip, c.req.header("cf-connecting-ip") ?? "");
  const stub = c.env.ROOM.get(c.env.ROOM.idFromName(room));
  return stub.fetch(new Request(c.req.url, { method: "GET", headers }));
});
