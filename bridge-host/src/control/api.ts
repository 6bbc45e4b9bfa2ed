/**
 * Control API for the edge (the rooms' Durable Objects), on the bridge's control listener (server.ts). Every request
 * must be signed with this bridge's control key, for this bridge's authority (contract/signed-request.ts; the
 * signed path includes the query string); unsigned, stale, forged, other-host or replayed requests get 401 with the
 * reason. Bodies are JSON validated with zod.
 *   POST   /v1/rooms             {room}  -> 200 {room, wsUrl}   (idempotent)
 *   DELETE /v1/rooms/<room>               -> 204                 (idempotent)
 *   POST   /v1/rooms/<room>/kick  {nick}  -> 204 (404 if the room is not on this bridge)
 *   POST   /v1/rooms/<room>/lobby/evict {lids} | {all: true} -> 200 {closed} (404 if the room is not on this bridge)
 *   GET    /health                        -> 200 {ok, workers, rooms, transports, consumers, cpu, load}
 */
import { z } from "zod";
import { ROOM_NAME, RoomNameSchema } from "../../../contract/room-name";
import { NonceCache, verifyRequest } from "../../../contract/signed-request";

const CreateRoomBody = z.object({ room: RoomNameSchema });
const KickBody = z.object({ nick: z.string().min(1).max(1023) });
/** Lobby ids (contract/grants.ts lobbyIdFor) of sessions that went, or the whole lobby (room locked). */
const EvictBody = z.union([
  z.object({ lids: z.array(z.string().regex(/^[A-Za-z0-9_-]{8,64}$/)).min(1).max(1000) }).strict(),
  z.object({ all: z.literal(true) }).strict(),
]);

export interface HealthSnapshot {
  ok: boolean;
  workers: number;
  rooms: number;
  peers: number;
  transports: number;
  producers: number;
  consumers: number;
  /** mean worker CPU share, 0..1 */
  cpu: number;
  /** 0..1, for picking the least-loaded bridge */
  load: number;
}

export interface ControlDeps {
  /** this bridge's control key (bridgeControlKey) */
  key: string;
  /** this bridge's authority, as the edge addresses it (host[:port] of its control URL) */
  host: string;
  nonces: NonceCache;
  createRoom(room: string): Promise<{ wsUrl: string }>;
  deleteRoom(room: string): void;
  /** false if the room is not on this bridge */
  kick(room: string, nick: string): boolean | "no-room";
  /** closes lobby connections; how many, or "no-room" */
  evictLobby(room: string, lids: readonly string[] | "all"): number | "no-room";
  health(): HealthSnapshot;
}

export interface ControlResponse {
  status: number;
  body?: unknown;
}

const json = (status: number, body?: unknown): ControlResponse => ({ status, body });
const error = (status: number, message: string): ControlResponse => json(status, { error: message });

export const CONTROL_MAX_BODY = 16 * 1024;

/** `path` is the raw request target (path + query) exactly as signed. */
export async function handleControl(
  method: string,
  path: string,
  body: string,
  headers: { get(name: string): string | null | undefined },
  deps: ControlDeps,
): Promise<ControlResponse> {
  const url = new URL(path, "http://bridge.invalid");
  const route = matchRoute(method, url.pathname);
  if (route.kind === "none") return error(404, "not found");
  if (route.kind === "method-not-allowed") return error(405, "method not allowed");

  const sig = await verifyRequest(deps.key, method, deps.host, path, body, headers, deps.nonces);
  if (!sig.ok) return error(401, `request signature ${sig.reason}`);

  switch (route.kind) {
    case "health":
      return json(200, deps.health());
    case "create": {
      const parsed = parseBody(body, CreateRoomBody);
      if (!parsed.ok) return error(400, parsed.message);
      const { wsUrl } = await deps.createRoom(parsed.data.room);
      return json(200, { room: parsed.data.room, wsUrl });
    }
    case "delete":
      deps.deleteRoom(route.room);
      return json(204);
    case "kick": {
      const parsed = parseBody(body, KickBody);
      if (!parsed.ok) return error(400, parsed.message);
      if (deps.kick(route.room, parsed.data.nick) === "no-room") return error(404, "room not found");
      return json(204);
    }
    case "evict-lobby": {
      const parsed = parseBody(body, EvictBody);
      if (!parsed.ok) return error(400, parsed.message);
      const closed = deps.evictLobby(route.room, "all" in parsed.data ? "all" : parsed.data.lids);
      if (closed === "no-room") return error(404, "room not found");
      return json(200, { closed });
    }
    default:
      throw new Error(`unhandled route ${(route satisfies never) as string}`);
  }
}

type Route =
  | { kind: "health" }
  | { kind: "create" }
  | { kind: "delete"; room: string }
  | { kind: "kick"; room: string }
  | { kind: "evict-lobby"; room: string };

function matchRoute(method: string, pathname: string): Route | { kind: "none" } | { kind: "method-not-allowed" } {
  const want = (m: string, r: Route) => (method === m ? r : ({ kind: "method-not-allowed" } as const));
  if (pathname === "/health") return want("GET", { kind: "health" });
  if (pathname === "/v1/rooms") return want("POST", { kind: "create" });
  const m = /^\/v1\/rooms\/([^/]+)(\/kick|\/lobby\/evict)?$/.exec(pathname);
  if (m && ROOM_NAME.test(m[1] ?? "")) {
    const room = m[1] as string;
    if (m[2] === "/kick") return want("POST", { kind: "kick", room });
    if (m[2] === "/lobby/evict") return want("POST", { kind: "evict-lobby", room });
    return want("DELETE", { kind: "delete", room });
  }
  return { kind: "none" };
}

function parseBody<T>(body: string, schema: z.ZodType<T>): { ok: true; data: T } | { ok: false; message: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { ok: false, message: "body must be JSON" };
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, message: `invalid body${i ? ` at ${i.path.join(".") || "(root)"}: ${i.message}` : ""}` };
  }
  return { ok: true, data: r.data };
}
