/**
 * The bridge host's control API handler (bridge-host/src/control/api.ts), without mediasoup: signed calls routed,
 * bodies validated, the signature checked before anything runs (bridge-host/PROTOCOL.md).
 */
import { describe, expect, it } from "vitest";
import { bridgeControlKey, NonceCache, signRequest } from "../../contract/signed-request";
import { handleControl, type ControlDeps } from "../../bridge-host/src/control/api";

const SECRET = "k7Qm2xVw9pLc4RtZ8nHb3JdF6sYg1AeU0oPi5MvX";

describe("control API handler", () => {
  const calls: string[] = [];
  const HOST = "bridge1.example:4444";
  const key = bridgeControlKey(SECRET, `https://${HOST}`);
  const deps = async (): Promise<ControlDeps> => ({
    key: await key,
    host: HOST,
    nonces: new NonceCache(),
    createRoom: async (room) => (calls.push(`create ${room}`), { wsUrl: `ws://b/v1/rooms/${room}/ws` }),
    deleteRoom: (room) => void calls.push(`delete ${room}`),
    kick: (room, nick) => (calls.push(`kick ${room} ${nick}`), room === "here" ? true : "no-room"),
    evictLobby: (room, lids) => (calls.push(`evict ${room} ${lids === "all" ? "all" : lids.join(",")}`), room === "here" ? 1 : "no-room"),
    health: () => ({ ok: true, workers: 1, rooms: 0, peers: 0, transports: 0, producers: 0, consumers: 0, cpu: 0, load: 0 }),
  });
  const signed = async (d: ControlDeps, method: string, path: string, body = "", o: { key?: string; host?: string } = {}) => {
    const h = await signRequest(o.key ?? (await key), method, o.host ?? HOST, path, body);
    return handleControl(method, path, body, { get: (n) => h[n] }, d);
  };

  it("routes signed calls and validates bodies", async () => {
    const d = await deps();
    expect(await signed(d, "POST", "/v1/rooms", JSON.stringify({ room: "abc" }))).toEqual({
      status: 200,
      body: { room: "abc", wsUrl: "ws://b/v1/rooms/abc/ws" },
    });
    expect((await signed(d, "POST", "/v1/rooms", JSON.stringify({ room: "ABC" }))).status).toBe(400);
    expect((await signed(d, "POST", "/v1/rooms", JSON.stringify({}))).status).toBe(400);
    expect(await signed(d, "DELETE", "/v1/rooms/abc")).toEqual({ status: 204, body: undefined });
    expect((await signed(d, "POST", "/v1/rooms/here/kick", JSON.stringify({ nick: "n" }))).status).toBe(204);
    expect((await signed(d, "POST", "/v1/rooms/gone/kick", JSON.stringify({ nick: "n" }))).status).toBe(404);
    expect((await signed(d, "GET", "/health")).status).toBe(200);
    const evict = (room: string, body: unknown) => signed(d, "POST", `/v1/rooms/${room}/lobby/evict`, JSON.stringify(body));
    expect(await evict("here", { lids: ["abcdefgh12345678"] })).toEqual({ status: 200, body: { closed: 1 } });
    expect((await evict("here", { all: true })).status).toBe(200);
    expect((await evict("gone", { all: true })).status).toBe(404);
    for (const bad of [{}, { lids: [] }, { lids: ["no!"] }, { all: false }, { all: true, lids: ["abcdefgh12345678"] }]) {
      expect((await evict("here", bad)).status).toBe(400);
    }
    expect(calls).toEqual(["create abc", "delete abc", "kick here n", "kick gone n", "evict here abcdefgh12345678", "evict here all", "evict gone all"]);
  });

  it("checks the signature before doing anything: this bridge's key, for this bridge's authority", async () => {
    const d = await deps();
    calls.length = 0;
    for (const o of [
      { key: "x".repeat(40) },
      { key: SECRET }, // the shared secret is not a bridge's key
      { key: await bridgeControlKey(SECRET, "https://bridge2.example:4444") }, // another bridge's
      { host: "bridge2.example:4444" }, // signed for another bridge
    ]) {
      const r = await signed(d, "DELETE", "/v1/rooms/abc", "", o);
      expect(r).toEqual({ status: 401, body: { error: "request signature bad-signature" } });
    }
    const none = await handleControl("DELETE", "/v1/rooms/abc", "", { get: () => undefined }, d);
    expect(none).toEqual({ status: 401, body: { error: "request signature missing" } });
    expect(calls).toEqual([]);
    expect((await handleControl("GET", "/v1/rooms/Bad_Name", "", { get: () => undefined }, d)).status).toBe(404);
  });
});
