/**
 * Parley edge Worker (Hono): serves the web app and routes each room's XMPP-over-WebSocket (RFC 7395)
 * connections to that room's Durable Object.
 *
 * Route modules (one concern each):
 *   routes/xmpp.ts         GET /xmpp-websocket/<room>  -> RoomDO        (issue 2)
 *   routes/admin-rooms.ts  GET /admin/rooms/<room>     -> RoomDO state  (issue 2)
 *   middleware/*           security headers, access log, rate limits    (issue 5)
 */
import { Hono } from "hono";

export { RoomDO } from "../durable/room-do";

const app = new Hono<{ Bindings: Env }>();

app.get("/healthz", (c) => c.text("ok"));

// Everything else: the web app's static assets (SPA fallback serves the app for /<room>).
app.all("*", (c) => c.env.ASSETS.fetch(c.req.raw));

export default app;
