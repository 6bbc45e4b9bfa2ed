/**
 * Parley edge Worker (Hono): serves the web app and routes each room's XMPP-over-WebSocket (RFC 7395)
 * connections to that room's Durable Object.
 *
 * Route modules (one concern each):
 *   routes/xmpp.ts          GET /xmpp-websocket/<room>  -> RoomDO (signaling)
 *   routes/admin-rooms.ts   GET /admin/rooms/<room>     -> RoomDO state
 *   routes/admin-log.ts     GET /admin/access-log       -> AccessLogDO
 *   routes/bridge-events.ts POST /bridge-events         signed bridge notices (draining) -> RoomDOs
 *   routes/bridges.ts       GET /api/bridges            browser-facing bridge origins (hair check)
 *   middleware/*            security headers, config guard, access log, rate limits
 */
import { Hono } from "hono";

import { accessLog } from "./middleware/access-log";
import { configGuard } from "./middleware/config-guard";
import { connectionRateLimit } from "./middleware/connection-rate-limit";
import { originCheck } from "./middleware/origin-check";
import { securityHeaders } from "./middleware/security-headers";
import { adminLog } from "./routes/admin-log";
import { adminRoomsRoutes } from "./routes/admin-rooms";
import { bridgeEventsRoutes } from "./routes/bridge-events";
import { bridgesRoutes } from "./routes/bridges";
import { xmppRoutes } from "./routes/xmpp";

export { RoomDO } from "../durable/room-do";
export { AccessLogDO } from "../durable/access-log/access-log-do";

const app = new Hono<{ Bindings: Env }>();

// Before every route: security headers on every response, 500 on invalid config, Origin check and limit on new
// signaling connections per client network (refused attempts are not logged and cost no log write), access log (page loads +
// signaling connections). See SECURITY.md.
app.use("*", securityHeaders());
app.use("*", configGuard());
// Foreign browser origins are refused before they cost a rate-limit slot or a log row (middleware/origin-check.ts).
app.use("/xmpp-websocket/*", originCheck());
app.use("/api/*", originCheck());
app.use("/xmpp-websocket/*", connectionRateLimit());
app.use("*", accessLog());
app.route("/", adminLog);
app.route("/", xmppRoutes);
app.route("/", adminRoomsRoutes);
app.route("/", bridgeEventsRoutes);
app.route("/", bridgesRoutes);

app.get("/healthz", (c) => c.text("ok"));

// Everything else: the web app's static assets (SPA fallback serves the app for /<room>).
app.all("*", (c) => c.env.ASSETS.fetch(c.req.raw));

export default app;
