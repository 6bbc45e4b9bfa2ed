/**
 * POST /bridge-events: signed notices from bridge hosts (bridge-host/PROTOCOL.md, contract/signed-request.ts).
 * `{ type: "draining", bridge, rooms }`: the bridge at control URL `bridge` is shutting down; each listed room's
 * Durable Object moves to another bridge (or back to P2P). Only configured bridges (BRIDGES) are listened to, each
 * with its own key (bridgeControlKey of the control URL it names): one bridge cannot speak for another.
 */
import { Hono } from "hono";
import { z } from "zod";
import { bridgeControlKey, NonceCache, verifyRequest } from "../../contract/signed-request";
import { loadConfig } from "../../durable/config";
import { RoomNameSchema } from "../../contract/room-name";

const BridgeEventSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("draining"),
    bridge: z.url({ protocol: /^https?$/ }),
    rooms: z.array(RoomNameSchema).max(10_000),
  }),
]);

/** Replay protection within this isolate; signatures older than 30 s are refused everywhere (MAX_SKEW_MS). */
const nonces = new NonceCache();
const MAX_BODY = 1024 * 1024;

const sameBase = (a: string, b: string) => a.replace(/\/+$/, "") === b.replace(/\/+$/, "");

export const bridgeEventsRoutes = new Hono<{ Bindings: Env }>();

bridgeEventsRoutes.post("/bridge-events", async (c) => {
  const cfg = loadConfig(c.env);
  const body = await c.req.text();
  if (body.length > MAX_BODY) return c.json({ error: "too-large", reason: "body over 1 MiB" }, 413);
  // The claimed bridge picks the key to check the signature with; nothing in the body is acted on before that.
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return c.json({ error: "bad-request", reason: "body is not JSON" }, 400);
  }
  const ev = BridgeEventSchema.safeParse(json);
  if (!ev.success) return c.json({ error: "bad-request", reason: ev.error.issues[0]?.message ?? "invalid event" }, 400);
  const { bridge, rooms } = ev.data;
  const base = cfg.BRIDGES.find((b) => sameBase(b, bridge));
  if (!base) return c.json({ error: "forbidden", reason: "not a configured bridge" }, 403);
  const url = new URL(c.req.url);
  const key = await bridgeControlKey(cfg.BRIDGE_SECRET, base);
  const sig = await verifyRequest(key, "POST", url.host, url.pathname + url.search, body, c.req.raw.headers, nonces);
  if (!sig.ok) return c.json({ error: "unauthorized", reason: `signature ${sig.reason}` }, 401);
  const results = await Promise.allSettled(
    rooms.map((room) => c.env.ROOM.get(c.env.ROOM.idFromName(room)).bridgeDraining(base)),
  );
  const failed = results.filter((r) => r.status === "rejected").length;
  return c.json({ ok: true, rooms: rooms.length, failed }, 202);
});
