/**
 * GET /admin/rooms/<room> (bearer ADMIN_TOKEN): a room's live state from its Durable Object's typed RPC
 * `getInfo()`: { room, occupantCount, occupants: [{nick, role, affiliation}], passwordProtected, createdAt, mediaMode }.
 * Occupants' real JIDs and IPs are never exposed. Rooms are temporary: an empty room is 404.
 */
import { Hono } from "hono";
import { adminAuth } from "../middleware/admin-auth";
import { RoomNameSchema } from "../../contract/room-name";

export const adminRoomsRoutes = new Hono<{ Bindings: Env }>();

adminRoomsRoutes.use("/admin/rooms/*", adminAuth());

adminRoomsRoutes.get("/admin/rooms/:room", async (c) => {
  const parsed = RoomNameSchema.safeParse(c.req.param("room"));
  if (!parsed.success) {
    return c.json({ error: "bad-room", reason: parsed.error.issues[0]?.message ?? "invalid room name" }, 400);
  }
  const stub = c.env.ROOM.get(c.env.ROOM.idFromName(parsed.data));
  const info = await stub.getInfo(parsed.data);
  if (info.occupantCount === 0) return c.json({ error: "not-found", reason: "no such room (rooms exist while occupied)" }, 404);
  return c.json(info);
});
