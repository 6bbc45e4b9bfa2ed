/**
 * Bridge host, control API + signaling boundary, against the real bridge process and a real mediasoup worker:
 * signed control calls on the control listener only, refusal of unsigned/stale/forged/other-bridge/replayed calls
 * (401), body validation, grant checks on the client WebSocket (4401 + reason, single use), nick replacement, kick,
 * lobby eviction, /metrics without identifiers, graceful SIGTERM.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { mintGrant, mintLobbyGrant as mintLobbyGrantFor } from "../../contract/grants";
import { bridgeControlKey, NonceCache, signRequest, verifyRequest } from "../../contract/signed-request";
import { startBridge, strongSecret, waitFor, type BridgeHandle } from "./helpers/bridge-harness";

type Msg = Record<string, unknown>;

/** A lobby grant for session `lid` (by default a new one each time). */
let lids = 0;
const mintLobbyGrant = (secret: string, room: string, lid = `session-${String(++lids).padStart(8, "0")}`) => mintLobbyGrantFor(secret, room, lid);

/** A signaling client on `ws` with request/notification bookkeeping. */
class Client {
  readonly msgs: Msg[] = [];
  closed: Promise<{ code: number; reason: string }>;
  #id = 1;
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => this.msgs.push(JSON.parse(String(d)) as Msg));
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }
  static connect(url: string): Promise<Client> {
    const ws = new WebSocket(url);
    const c = new Client(ws);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(c));
      ws.once("error", reject);
    });
  }
  async request(method: string, data?: unknown): Promise<Msg> {
    const id = this.#id++;
    this.ws.send(JSON.stringify({ id, method, data }));
    return waitFor(`response to ${method}`, () => this.msgs.find((m) => m.response && m.id === id), 20_000, 20);
  }
  notes(method: string): Msg[] {
    return this.msgs.filter((m) => m.notification && m.method === method);
  }
}

/** Minimal RTP parameters of a VP8 sender (what a browser would send with `produce`; no media flows in these tests). */
function vp8(ssrc: number) {
  return { codecs: [{ mimeType: "video/VP8", payloadType: 101, clockRate: 90000 }], encodings: [{ ssrc }] };
}

/** Outcome of opening a socket that the bridge is expected to close. */
async function closeOf(url: string): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.once("error", reject);
  });
}

describe("bridge host: control API and signaling boundary", () => {
  let bridge: BridgeHandle;
  const room = "control-room";
  let wsUrl = "";

  beforeAll(async () => {
    bridge = await startBridge();
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it("creates a room with a signed call and returns the client WebSocket URL (idempotent)", async () => {
    const res = await bridge.call("POST", "/v1/rooms", { room });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { room: string; wsUrl: string };
    expect(body.room).toBe(room);
    expect(body.wsUrl).toBe(`${bridge.wsBaseUrl}/v1/rooms/${room}/ws`);
    expect(body.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\//);
    wsUrl = body.wsUrl;
    const again = await bridge.call("POST", "/v1/rooms", { room });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { wsUrl: string }).wsUrl).toBe(wsUrl);
    const health = (await (await bridge.call("GET", "/health")).json()) as Record<string, number | boolean>;
    expect(health).toMatchObject({ ok: true, workers: 1, rooms: 1, transports: 0, consumers: 0 });
    expect(health.load).toBeGreaterThanOrEqual(0);
    expect(health.load).toBeLessThanOrEqual(1);
    expect(typeof health.cpu).toBe("number");
  });

  it("refuses unsigned, stale, forged, wrong-path and replayed control calls with 401 and a reason", async () => {
    const body = JSON.stringify({ room: "evil" });
    const post = (headers: Record<string, string>, path = "/v1/rooms") =>
      fetch(bridge.controlUrl + path, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body });

    const unsigned = await post({});
    expect(unsigned.status).toBe(401);
    expect(await unsigned.json()).toEqual({ error: "request signature missing" });

    const host = new URL(bridge.controlUrl).host;
    const stale = await post(await signRequest(bridge.controlKey, "POST", host, "/v1/rooms", body, Date.now() - 5 * 60_000));
    expect(stale.status).toBe(401);
    expect(await stale.json()).toEqual({ error: "request signature stale" });

    // a strange key, the shared secret itself, another bridge's key, and this key for another bridge's authority
    for (const [key, h] of [
      [strongSecret(), host],
      [bridge.secret, host],
      [await bridgeControlKey(bridge.secret, "http://127.0.0.1:1"), host],
      [bridge.controlKey, "127.0.0.1:1"],
    ] as const) {
      const forged = await post(await signRequest(key, "POST", h, "/v1/rooms", body));
      expect(forged.status).toBe(401);
      expect(await forged.json()).toEqual({ error: "request signature bad-signature" });
    }

    // signed for another path (the signature covers path + query)
    const otherPath = await post(await signRequest(bridge.controlKey, "POST", host, "/v1/rooms?x=1", body));
    expect(otherPath.status).toBe(401);

    const headers = await signRequest(bridge.controlKey, "POST", host, "/v1/rooms", body);
    expect((await post(headers)).status).toBe(200);
    const replay = await post(headers);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({ error: "request signature replayed" });

    const unsignedHealth = await fetch(`${bridge.controlUrl}/health`);
    expect(unsignedHealth.status).toBe(401);
    const unsignedDelete = await fetch(`${bridge.controlUrl}/v1/rooms/${room}`, { method: "DELETE" });
    expect(unsignedDelete.status).toBe(401);
    // the room survived the unsigned delete
    expect(((await (await bridge.call("GET", "/health")).json()) as { rooms: number }).rooms).toBe(2);
    expect((await bridge.call("DELETE", "/v1/rooms/evil")).status).toBe(204);
  });

  it("rejects bad bodies and routes with 4xx and a reason", async () => {
    const badName = await bridge.call("POST", "/v1/rooms", { room: "Not Valid!" });
    expect(badName.status).toBe(400);
    expect(((await badName.json()) as { error: string }).error).toMatch(/room names are 1 to 64 characters/);
    const notJson = await bridge.call("POST", "/v1/rooms", "{nope");
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({ error: "body must be JSON" });
    const badKick = await bridge.call("POST", `/v1/rooms/${room}/kick`, { nick: "" });
    expect(badKick.status).toBe(400);
    expect((await bridge.call("POST", "/v1/rooms/no-such-room/kick", { nick: "x" })).status).toBe(404);
    expect((await bridge.call("GET", "/v1/rooms")).status).toBe(405);
    expect((await fetch(`${bridge.controlUrl}/nope`)).status).toBe(404);
    const huge = await fetch(`${bridge.controlUrl}/v1/rooms`, { method: "POST", body: "x".repeat(64 * 1024) });
    expect(huge.status).toBe(413);
  });

  it("refuses missing, forged, expired and other-room grants with close code 4401 and a reason", async () => {
    expect(await closeOf(wsUrl)).toEqual({ code: 4401, reason: "grant missing" });
    const forged = await mintGrant(strongSecret(), room, "mallory");
    expect(await closeOf(`${wsUrl}?grant=${forged}`)).toEqual({ code: 4401, reason: "grant forged" });
    const expired = await mintGrant(bridge.secret, room, "alice", 60, Date.now() - 120_000);
    expect(await closeOf(`${wsUrl}?grant=${expired}`)).toEqual({ code: 4401, reason: "grant expired" });
    const otherRoom = await mintGrant(bridge.secret, "another-room", "alice");
    expect(await closeOf(`${wsUrl}?grant=${otherRoom}`)).toEqual({ code: 4401, reason: "grant for another room" });
    // A grant opens one connection: shown again (even after that one closed) it is refused, and so is a lobby grant.
    for (const grant of [await mintGrant(bridge.secret, room, "dave"), await mintLobbyGrant(bridge.secret, room)]) {
      const first = await Client.connect(`${wsUrl}?grant=${grant}`);
      expect((await first.request("getRouterRtpCapabilities")).ok).toBe(true);
      expect(await closeOf(`${wsUrl}?grant=${grant}`)).toEqual({ code: 4401, reason: "grant already used" });
      first.ws.close();
      await first.closed;
      expect(await closeOf(`${wsUrl}?grant=${grant}`)).toEqual({ code: 4401, reason: "grant already used" });
    }
    expect(await closeOf(`${wsUrl}?grant=garbage`)).toEqual({ code: 4401, reason: "grant malformed" });
    const noRoom = await mintGrant(bridge.secret, "not-created", "alice");
    expect(await closeOf(`${bridge.wsBaseUrl}/v1/rooms/not-created/ws?grant=${noRoom}`)).toEqual({
      code: 4404,
      reason: "room not found",
    });
  });

  it("answers requests, validates data, announces peers, replaces a same-nick connection and kicks", async () => {
    const alice = await Client.connect(`${wsUrl}?grant=${await mintGrant(bridge.secret, room, "alice")}`);
    const caps = await alice.request("getRouterRtpCapabilities");
    expect(caps.ok).toBe(true);
    const mimes = ((caps.data as { codecs: { mimeType: string }[] }).codecs ?? []).map((c) => c.mimeType.toLowerCase());
    for (const m of ["audio/opus", "video/vp8", "video/vp9", "video/h264"]) expect(mimes).toContain(m);

    const t = await alice.request("createWebRtcTransport", { direction: "send" });
    expect(t.ok).toBe(true);
    const td = t.data as { id: string; iceCandidates: { address: string; port: number; protocol: string }[] };
    expect(td.iceCandidates.map((c) => `${c.protocol}:${c.address}:${c.port}`).sort()).toEqual(
      [`tcp:127.0.0.1:${bridge.rtcPort}`, `udp:127.0.0.1:${bridge.rtcPort}`].sort(),
    );

    const unknown = await alice.request("fly");
    expect(unknown).toMatchObject({ ok: false, error: { code: "bad-request", message: 'unknown method "fly"' } });
    const invalid = await alice.request("createWebRtcTransport", { direction: "sideways" });
    expect(invalid).toMatchObject({ ok: false, error: { code: "bad-request" } });
    const missing = await alice.request("connectWebRtcTransport", {
      transportId: "nope",
      dtlsParameters: { fingerprints: [{ algorithm: "sha-256", value: "AB:CD" }] },
    });
    expect(missing).toMatchObject({ ok: false, error: { code: "not-found", message: "transport not found" } });
    const badRtp = await alice.request("produce", {
      transportId: td.id,
      kind: "video",
      rtpParameters: { codecs: [{ mimeType: "video/NOPE", payloadType: 101, clockRate: 90000 }] },
    });
    expect(badRtp).toMatchObject({ ok: false, error: { code: "bad-request" } });

    const bob = await Client.connect(`${wsUrl}?grant=${await mintGrant(bridge.secret, room, "bob")}`);
    await waitFor("alice sees bob", () => alice.notes("peerJoined").some((n) => (n.data as Msg).nick === "bob"));
    await waitFor("bob sees alice", () => bob.notes("peerJoined").some((n) => (n.data as Msg).nick === "alice"));

    // a second connection with the same nick replaces the first
    const alice2 = await Client.connect(`${wsUrl}?grant=${await mintGrant(bridge.secret, room, "alice")}`);
    expect(await alice.closed).toEqual({ code: 4409, reason: "replaced by a newer connection" });
    expect((await alice2.request("getRouterRtpCapabilities")).ok).toBe(true);
    const h = (await (await bridge.call("GET", "/health")).json()) as { transports: number };
    expect(h.transports).toBe(0); // the replaced connection's transport was closed

    // kick closes the socket and a grant minted before the kick cannot come back
    const oldGrant = await mintGrant(bridge.secret, room, "bob");
    expect((await bridge.call("POST", `/v1/rooms/${room}/kick`, { nick: "bob" })).status).toBe(204);
    expect(await bob.closed).toEqual({ code: 4403, reason: "kicked" });
    await waitFor("alice2 sees bob leave", () => alice2.notes("peerLeft").some((n) => (n.data as Msg).nick === "bob"));
    expect(await closeOf(`${wsUrl}?grant=${oldGrant}`)).toEqual({ code: 4403, reason: "kicked" });

    // malformed frames close the socket with 4400, without harming the room
    alice2.ws.send("not json");
    expect((await alice2.closed).code).toBe(4400);
    const carol = await Client.connect(`${wsUrl}?grant=${await mintGrant(bridge.secret, room, "carol")}`);
    expect((await carol.request("getRouterRtpCapabilities")).ok).toBe(true);

    // deleting the room tells the client and closes it
    expect((await bridge.call("DELETE", `/v1/rooms/${room}`)).status).toBe(204);
    expect(await carol.closed).toEqual({ code: 4410, reason: "room closed" });
    expect(carol.notes("roomClosing").map((n) => n.data)).toEqual([{ reason: "deleted" }]);
    expect((await bridge.call("DELETE", `/v1/rooms/${room}`)).status).toBe(204); // idempotent
  });

  it("lobby: a hair-check connection prepares unnamed, receives nothing, and becomes a peer with an occupant grant", async () => {
    const lobbyRoom = "lobby-room";
    const url = ((await (await bridge.call("POST", "/v1/rooms", { room: lobbyRoom })).json()) as { wsUrl: string }).wsUrl;
    const alice = await Client.connect(`${url}?grant=${await mintGrant(bridge.secret, lobbyRoom, "alice")}`);
    const aliceSend = (await alice.request("createWebRtcTransport", { direction: "send" })).data as { id: string };
    const aliceRecv = (await alice.request("createWebRtcTransport", { direction: "recv" })).data as { id: string };
    const aliceVideo = (await alice.request("produce", { transportId: aliceSend.id, kind: "video", rtpParameters: vp8(1111) })).data as { id: string };
    const caps = (await alice.request("getRouterRtpCapabilities")).data;

    // A lobby grant is refused for another room and is its own kind (an old-style bridge would see it as malformed).
    expect(await closeOf(`${url}?grant=${await mintLobbyGrant(bridge.secret, "another-room")}`)).toEqual({ code: 4401, reason: "grant for another room" });
    const lobby = await Client.connect(`${url}?grant=${await mintLobbyGrant(bridge.secret, lobbyRoom)}`);
    const send = (await lobby.request("createWebRtcTransport", { direction: "send" })).data as { id: string };
    const recv = (await lobby.request("createWebRtcTransport", { direction: "recv" })).data as { id: string };
    const own = (await lobby.request("produce", { transportId: send.id, kind: "video", rtpParameters: vp8(2222), appData: { source: "camera" } })).data as {
      id: string;
    };
    // Producers are offered across the lobby by id and kind only: nobody is named, nobody "joins".
    await waitFor("the lobby is offered alice's camera", () => lobby.notes("lobbyProducer").length > 0);
    await waitFor("alice is offered the lobby's camera", () => alice.notes("lobbyProducer").length > 0);
    expect(lobby.msgs.filter((m) => m.notification)).toEqual([{ notification: true, method: "lobbyProducer", data: { producerId: aliceVideo.id, kind: "video" } }]);
    expect(alice.msgs.filter((m) => m.notification)).toEqual([{ notification: true, method: "lobbyProducer", data: { producerId: own.id, kind: "video" } }]);
    // Either side may consume the other's ahead; resuming is held until admission (no media crosses the lobby:
    // test/node/bridge-media.test.ts checks that with real media).
    const theirs = (await lobby.request("consume", { transportId: recv.id, producerId: aliceVideo.id, rtpCapabilities: caps })).data as { id: string };
    expect(await lobby.request("resumeConsumer", { consumerId: theirs.id })).toMatchObject({ ok: true, data: { heldUntilAdmitted: true } });
    const ours = (await alice.request("consume", { transportId: aliceRecv.id, producerId: own.id, rtpCapabilities: caps })).data as { id: string };
    expect(await alice.request("resumeConsumer", { consumerId: ours.id })).toMatchObject({ ok: true, data: { heldUntilAdmitted: true } });
    // The lobby gets no stats of others' media through its consumers (a consumer's stats include its producer's).
    expect(await lobby.request("getStats", { consumerId: theirs.id })).toMatchObject({
      ok: false,
      error: { code: "forbidden", message: "a lobby connection gets no stats of others' media" },
    });
    expect(await lobby.request("getStats", { producerId: own.id })).toMatchObject({ ok: true }); // its own, yes
    // Two lobby connections cannot consume each other.
    const other = await Client.connect(`${url}?grant=${await mintLobbyGrant(bridge.secret, lobbyRoom)}`);
    const otherRecv = (await other.request("createWebRtcTransport", { direction: "recv" })).data as { id: string };
    expect(await other.request("consume", { transportId: otherRecv.id, producerId: own.id, rtpCapabilities: caps })).toMatchObject({
      ok: false,
      error: { code: "forbidden", message: "a lobby connection cannot consume another's" },
    });
    // A lobby connection cannot admit itself with a lobby grant, a forged grant or another room's.
    for (const [grant, message] of [
      [await mintLobbyGrant(bridge.secret, lobbyRoom), "a lobby grant cannot admit"],
      [await mintGrant(strongSecret(), lobbyRoom, "carol"), "grant bad-signature"],
      [await mintGrant(bridge.secret, "another-room", "carol"), "grant wrong-room"],
    ] as const) {
      expect(await lobby.request("admit", { grant })).toMatchObject({ ok: false, error: { code: "forbidden", message } });
    }
    expect(alice.notes("peerJoined")).toEqual([]);

    // Admitted as carol: she is told who is here and what they send (by name); alice is told about carol and her
    // producer, by name (the consumer she made ahead is hers). The grant admits once: the other lobby connection
    // cannot use it again.
    const carolGrant = await mintGrant(bridge.secret, lobbyRoom, "carol");
    expect(await lobby.request("admit", { grant: carolGrant })).toMatchObject({ ok: true });
    expect(await other.request("admit", { grant: carolGrant })).toMatchObject({ ok: false, error: { code: "forbidden", message: "grant already used" } });
    await waitFor("carol told of alice's camera", () => lobby.notes("newProducer").some((n) => (n.data as Msg).nick === "alice"));
    expect(lobby.notes("peerJoined").map((n) => n.data)).toEqual([{ nick: "alice" }]);
    await waitFor("alice told of carol", () => alice.notes("newProducer").length > 0);
    expect(alice.notes("peerJoined").map((n) => n.data)).toEqual([{ nick: "carol" }]);
    expect(alice.notes("newProducer").map((n) => n.data)).toEqual([{ producerId: own.id, nick: "carol", kind: "video", paused: false, appData: { source: "camera" } }]);
    // The other lobby connection is now offered carol's camera (no longer a lobby producer), still unnamed.
    await waitFor("the other lobby connection offered carol's camera", () => other.notes("lobbyProducer").some((n) => (n.data as Msg).producerId === own.id));
    expect(await lobby.request("admit", { grant: await mintGrant(bridge.secret, lobbyRoom, "carol") })).toMatchObject({
      ok: false,
      error: { code: "invalid-state", message: "already admitted" },
    });
    // Leaving is like any peer's.
    lobby.ws.close();
    await waitFor("alice sees carol leave", () => alice.notes("peerLeft").some((n) => (n.data as Msg).nick === "carol"));
    other.ws.close();
    alice.ws.close();
    expect((await bridge.call("DELETE", `/v1/rooms/${lobbyRoom}`)).status).toBe(204);
  });

  it("lobby: the room closes a session's lobby connections (it went or was kicked), or all of them (locked)", async () => {
    const lobbyRoom = "evict-room";
    const url = ((await (await bridge.call("POST", "/v1/rooms", { room: lobbyRoom })).json()) as { wsUrl: string }).wsUrl;
    const evict = (body: unknown) => bridge.call("POST", `/v1/rooms/${lobbyRoom}/lobby/evict`, body);
    const alice = await Client.connect(`${url}?grant=${await mintGrant(bridge.secret, lobbyRoom, "alice")}`);
    const aliceRecv = (await alice.request("createWebRtcTransport", { direction: "recv" })).data as { id: string };
    const caps = (await alice.request("getRouterRtpCapabilities")).data;
    // Two sessions wait; one prepares a camera, which alice consumes ahead.
    const [mine, theirs] = ["session-mine0001", "session-other001"];
    const waiting = await Client.connect(`${url}?grant=${await mintLobbyGrant(bridge.secret, lobbyRoom, mine)}`);
    const other = await Client.connect(`${url}?grant=${await mintLobbyGrant(bridge.secret, lobbyRoom, theirs)}`);
    const send = (await waiting.request("createWebRtcTransport", { direction: "send" })).data as { id: string };
    const cam = (await waiting.request("produce", { transportId: send.id, kind: "video", rtpParameters: vp8(3333) })).data as { id: string };
    await waitFor("alice offered the camera", () => alice.notes("lobbyProducer").length > 0);
    const ahead = (await alice.request("consume", { transportId: aliceRecv.id, producerId: cam.id, rtpCapabilities: caps })).data as { id: string };
    // A grant minted for that session before the room closed it stays refused; the session went: its connection goes.
    const before = await mintLobbyGrant(bridge.secret, lobbyRoom, mine);
    expect(await (await evict({ lids: [mine] })).json()).toEqual({ closed: 1 });
    expect(await waiting.closed).toEqual({ code: 4403, reason: "lobby closed" });
    await waitFor("alice told the camera closed", () => alice.notes("producerClosed").some((n) => (n.data as Msg).consumerId === ahead.id));
    expect(await closeOf(`${url}?grant=${before}`)).toEqual({ code: 4403, reason: "lobby closed" });
    expect((await other.request("getRouterRtpCapabilities")).ok).toBe(true); // the other session's is untouched
    // Locked: every lobby connection goes, and lobby grants minted before are refused.
    const olderGrant = await mintLobbyGrant(bridge.secret, lobbyRoom);
    expect(await (await evict({ all: true })).json()).toEqual({ closed: 1 });
    expect(await other.closed).toEqual({ code: 4403, reason: "lobby closed" });
    expect(await closeOf(`${url}?grant=${olderGrant}`)).toEqual({ code: 4403, reason: "lobby closed" });
    expect((await alice.request("getRouterRtpCapabilities")).ok).toBe(true); // occupants stay
    expect((await bridge.call("POST", "/v1/rooms/no-such-room/lobby/evict", { all: true })).status).toBe(404);
    alice.ws.close();
    expect((await bridge.call("DELETE", `/v1/rooms/${lobbyRoom}`)).status).toBe(204);
  });

  it("serves control and metrics on the control listener only; the public one has the WebSocket and nothing else", async () => {
    const publicHttp = bridge.wsBaseUrl.replace(/^ws/, "http");
    expect(new URL(publicHttp).port).not.toBe(new URL(bridge.controlUrl).port);
    for (const path of ["/metrics", "/health", "/v1/rooms"]) expect((await fetch(publicHttp + path)).status).toBe(404);
    const body = JSON.stringify({ room: "via-public" });
    const signed = await signRequest(bridge.controlKey, "POST", new URL(publicHttp).host, "/v1/rooms", body);
    expect((await fetch(`${publicHttp}/v1/rooms`, { method: "POST", headers: signed, body })).status).toBe(404);
  });

  it("applies the incoming bitrate cap to every WebRTC transport", async () => {
    const capRoom = "cap-room";
    const url = ((await (await bridge.call("POST", "/v1/rooms", { room: capRoom })).json()) as { wsUrl: string }).wsUrl;
    const c = await Client.connect(`${url}?grant=${await mintGrant(bridge.secret, capRoom, "cap")}`);
    for (const direction of ["send", "recv"]) {
      const t = (await c.request("createWebRtcTransport", { direction })).data as { id: string };
      const stats = (await c.request("getStats", { transportId: t.id })).data as { maxIncomingBitrate?: number }[];
      expect(stats[0]?.maxIncomingBitrate).toBe(6_000_000); // MAX_INCOMING_BITRATE's default
    }
    c.ws.close();
    expect((await bridge.call("DELETE", `/v1/rooms/${capRoom}`)).status).toBe(204);
  });

  it("exposes Prometheus counts without room names, nicks or addresses", async () => {
    const res = await fetch(`${bridge.controlUrl}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^parley_bridge_workers 1$/m);
    expect(text).toMatch(/^parley_bridge_rooms 0$/m);
    expect(text).toMatch(/^parley_bridge_control_unauthorized_total [1-9]\d*$/m);
    expect(text).toMatch(/^parley_bridge_ws_rejected_total [1-9]\d*$/m);
    for (const secretish of [room, "alice", "bob", "carol", "127.0.0.1"]) expect(text).not.toContain(secretish);
    // nor do the logs at the default level
    const logs = bridge.output().split("\n").filter((l) => !l.includes('"event":"listening"')).join("\n");
    expect(logs).toContain('"event":"peer.joined"');
    for (const secretish of [room, "alice", "bob", "carol", "127.0.0.1"]) expect(logs).not.toContain(secretish);
  });
});

describe("bridge host: startup config and graceful shutdown", () => {
  it("refuses to start in production without a strong BRIDGE_SECRET, with a clear error", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "bridge-host/src/main.ts"], {
      cwd: new URL("../../", import.meta.url).pathname,
      env: { ...process.env, BRIDGE_ENV: "production", BRIDGE_SECRET: "short", ANNOUNCED_ADDRESS: "127.0.0.1", HTTP_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(err).toContain("BRIDGE_SECRET must be at least 32 characters");
  });

  it("on SIGTERM tells clients roomClosing, POSTs a signed draining event to the edge and exits 0", async () => {
    const events: { body: string; req: IncomingMessage; headers: Record<string, string | undefined> }[] = [];
    const edge = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        events.push({ body, req, headers: { ...(req.headers as Record<string, string>) } });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => edge.listen(0, "127.0.0.1", () => r()));
    const edgeUrl = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
    const bridge = await startBridge({ env: { EDGE_URL: edgeUrl } });
    try {
      const res = await bridge.call("POST", "/v1/rooms", { room: "drain-me" });
      const { wsUrl } = (await res.json()) as { wsUrl: string };
      const c = await Client.connect(`${wsUrl}?grant=${await mintGrant(bridge.secret, "drain-me", "dora")}`);
      // The grant is checked asynchronously after the WebSocket opens: be in the room before the shutdown starts.
      expect((await c.request("getRouterRtpCapabilities")).ok).toBe(true);
      expect(await bridge.stop()).toBe(0);
      expect(await c.closed).toEqual({ code: 1001, reason: "bridge shutting down" });
      expect(c.notes("roomClosing").map((n) => n.data)).toEqual([{ reason: "shutdown" }]);
      expect(events).toHaveLength(1);
      const ev = events[0]!;
      expect(ev.req.method).toBe("POST");
      expect(ev.req.url).toBe("/bridge-events");
      expect(JSON.parse(ev.body)).toEqual({ type: "draining", bridge: bridge.controlUrl, rooms: ["drain-me"] });
      // Signed with this bridge's key (derived from the secret and its control URL), for the edge's authority.
      const key = await bridgeControlKey(bridge.secret, bridge.controlUrl);
      const check = await verifyRequest(key, "POST", new URL(edgeUrl).host, "/bridge-events", ev.body, { get: (n: string) => ev.headers[n] }, new NonceCache());
      expect(check.ok).toBe(true);
    } finally {
      await bridge.stop();
      edge.close();
    }
  });
});

describe("bridge host: TLS", () => {
  it.skipIf(!existsSync("/usr/bin/openssl"))("serves https/wss when TLS_CERT_FILE and TLS_KEY_FILE are set", async () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-tls-"));
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    const bridge = await startBridge({ env: { TLS_CERT_FILE: cert, TLS_KEY_FILE: key } });
    try {
      expect(bridge.controlUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(bridge.wsBaseUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
      const ca = readFileSync(cert);
      const body = JSON.stringify({ room: "tls-room" });
      const headers = await signRequest(bridge.controlKey, "POST", new URL(bridge.controlUrl).host, "/v1/rooms", body);
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(`${bridge.controlUrl}/v1/rooms`, { method: "POST", ca, headers: { ...headers, "content-type": "application/json" } }, (r) => {
          let b = "";
          r.on("data", (d: Buffer) => (b += d.toString()));
          r.on("end", () => resolve({ status: r.statusCode ?? 0, body: b }));
        });
        req.on("error", reject);
        req.end(body);
      });
      expect(res.status).toBe(200);
      const { wsUrl } = JSON.parse(res.body) as { wsUrl: string };
      expect(wsUrl).toMatch(/^wss:\/\//);
      const ws = new WebSocket(`${wsUrl}?grant=${await mintGrant(bridge.secret, "tls-room", "tina")}`, { ca });
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      });
      ws.send(JSON.stringify({ id: 1, method: "getRouterRtpCapabilities" }));
      const reply = await new Promise<Msg>((resolve) => ws.on("message", (d) => {
        const m = JSON.parse(String(d)) as Msg;
        if (m.response) resolve(m);
      }));
      expect(reply).toMatchObject({ response: true, id: 1, ok: true });
      ws.close();
    } finally {
      await bridge.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bridge host: several workers", () => {
  it("runs one worker per configured core, each WebRtcServer on RTC_PORT + i, spreading rooms", async () => {
    const bridge = await startBridge({ env: { WORKERS: "2" } });
    try {
      const health = (await (await bridge.call("GET", "/health")).json()) as { workers: number };
      expect(health.workers).toBe(2);
      const ports = new Set<number>();
      for (const room of ["multi-a", "multi-b"]) {
        const { wsUrl } = (await (await bridge.call("POST", "/v1/rooms", { room })).json()) as { wsUrl: string };
        const c = await Client.connect(`${wsUrl}?grant=${await mintGrant(bridge.secret, room, "w")}`);
        const t = await c.request("createWebRtcTransport", { direction: "recv" });
        for (const cand of (t.data as { iceCandidates: { port: number }[] }).iceCandidates) ports.add(cand.port);
        c.ws.close();
      }
      expect([...ports].sort()).toEqual([bridge.rtcPort, bridge.rtcPort + 1]);
    } finally {
      await bridge.stop();
    }
  });
});
