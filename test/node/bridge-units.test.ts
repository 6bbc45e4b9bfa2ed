/**
 * Bridge host pure modules (no mediasoup): config schema, control API handler (signature + validation), method
 * table completeness, metrics rendering, the first-key-frame gate, and the strace line classifier the privacy test
 * relies on.
 */
import { describe, expect, it } from "vitest";
import { bridgeControlKey, NonceCache, signRequest } from "../../durable/crypto/signed-request";
import { DEV_SECRETS } from "../../workers/config";
import { loadBridgeConfig } from "../../bridge-host/src/config";
import { handleControl, type ControlDeps } from "../../bridge-host/src/control/api";
import { renderMetrics } from "../../bridge-host/src/metrics";
import { FirstKeyFrameGate } from "../../bridge-host/src/room/first-key-frame";
import { Schemas } from "../../bridge-host/src/signaling/messages";
import { UsedGrants } from "../../bridge-host/src/signaling/used-grants";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWrite, processTree, straceAvailable, traceFileWrites } from "./helpers/bridge-strace";

const SECRET = "k7Qm2xVw9pLc4RtZ8nHb3JdF6sYg1AeU0oPi5MvX";

describe("bridge config", () => {
  it("uses the edge's development BRIDGE_SECRET in development", () => {
    const c = loadBridgeConfig({ BRIDGE_ENV: "development" });
    expect(c.secret).toBe(DEV_SECRETS.BRIDGE_SECRET);
    expect(c.httpPort).toBe(4443);
    expect(c.rtcPort).toBe(40000);
    expect(c.firstKeyFrameHoldMs).toBe(300);
    expect(loadBridgeConfig({ BRIDGE_ENV: "development", FIRST_KEY_FRAME_HOLD_MS: "0" }).firstKeyFrameHoldMs).toBe(0);
    expect(() => loadBridgeConfig({ BRIDGE_ENV: "development", FIRST_KEY_FRAME_HOLD_MS: "soon" })).toThrow(/FIRST_KEY_FRAME_HOLD_MS/);
    expect(() => loadBridgeConfig({ BRIDGE_ENV: "development", FIRST_KEY_FRAME_HOLD_MS: "60000" })).toThrow(/FIRST_KEY_FRAME_HOLD_MS/);
  });
  it("refuses missing, short or development secrets outside development, listing every problem", () => {
    expect(() => loadBridgeConfig({ ANNOUNCED_ADDRESS: "198.51.100.7" })).toThrow(/BRIDGE_SECRET must be at least 32 characters/);
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: DEV_SECRETS.BRIDGE_SECRET, ANNOUNCED_ADDRESS: "198.51.100.7" })).toThrow(
      /must not be a development default/,
    );
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET })).toThrow(/ANNOUNCED_ADDRESS is required/);
    // the edge's rules (workers/config.ts StrongSecretSchema): long but weak secrets are refused too
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: "s".repeat(40), ANNOUNCED_ADDRESS: "x" })).toThrow(/too weak/);
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", RTC_PORT: "70000", LISTEN_IP: "nope" })).toThrow(
      /RTC_PORT.*LISTEN_IP|LISTEN_IP.*RTC_PORT/,
    );
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", TLS_CERT_FILE: "/c.pem" })).toThrow(/go together/);
  });
  it("derives public URLs", () => {
    const c = loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "bridge1.example.com", PUBLIC_WS_URL: "wss://b1.example.com/" });
    expect(c.publicWsUrl).toBe("wss://b1.example.com");
    expect(c.urlHost).toBe("bridge1.example.com");
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", PUBLIC_WS_URL: "http://x" })).toThrow(/PUBLIC_WS_URL/);
  });
  it("keeps the control listener on loopback unless told otherwise, and validates the limits", () => {
    const c = loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "bridge1.example.com" });
    expect(c).toMatchObject({ httpHost: "0.0.0.0", controlHost: "127.0.0.1", controlPort: 4444, controlUrlHost: "127.0.0.1" });
    expect(c).toMatchObject({ maxConnectionsPerAddress: 50, maxIncomingBitrate: 6_000_000 });
    const set = loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", CONTROL_HOST: "10.0.0.5", MAX_INCOMING_BITRATE: "2500000" });
    expect(set).toMatchObject({ controlHost: "10.0.0.5", controlUrlHost: "10.0.0.5", maxIncomingBitrate: 2_500_000 });
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", MAX_INCOMING_BITRATE: "5" })).toThrow(/MAX_INCOMING_BITRATE/);
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", MAX_CONNECTIONS_PER_ADDRESS: "0" })).toThrow(
      /MAX_CONNECTIONS_PER_ADDRESS/,
    );
  });
});

describe("single use of grants", () => {
  it("takes a grant once until it expires", () => {
    const g = new UsedGrants();
    expect(g.take("jti-aaaaaaaa", 1060, 1000)).toBe(true);
    expect(g.take("jti-aaaaaaaa", 1060, 1001)).toBe(false);
    expect(g.take("jti-bbbbbbbb", 1060, 1001)).toBe(true);
    // expired entries are forgotten once the memory fills (an expired grant is refused before it gets here)
    for (let i = 0; i < 1100; i++) g.take(`old-${i}`, 1060, 1000);
    g.take("jti-cccccccc", 1200, 1100);
    expect(g.size).toBeLessThan(1100);
  });
});

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

describe("signaling schemas", () => {
  it("rejects wrong shapes at the boundary", () => {
    expect(Schemas.createWebRtcTransport.safeParse({ direction: "up" }).success).toBe(false);
    expect(Schemas.getStats.safeParse({ transportId: "a", producerId: "b" }).success).toBe(false);
    expect(Schemas.getStats.safeParse({ consumerId: "c" }).success).toBe(true);
    expect(
      Schemas.connectWebRtcTransport.safeParse({ transportId: "t", dtlsParameters: { fingerprints: [{ algorithm: "md5", value: "AA:BB" }] } })
        .success,
    ).toBe(false);
  });
});

describe("metrics", () => {
  it("renders Prometheus text", () => {
    const text = renderMetrics({
      gauges: { rooms: { help: "rooms", value: 3 } },
      counters: { ws_accepted: { help: "accepted", value: 7 } },
      perWorkerCpu: [0.5],
    });
    expect(text).toContain("# TYPE parley_bridge_rooms gauge\nparley_bridge_rooms 3\n");
    expect(text).toContain("parley_bridge_ws_accepted_total 7");
    expect(text).toContain('parley_bridge_worker_cpu_ratio{worker="0"} 0.5000');
  });
});

describe("first-key-frame gate", () => {
  /** A gate with a hand-driven clock: `fire()` runs the pending timers. */
  function gate(holdMs = 300) {
    const resumed: string[] = [];
    const timers = new Map<number, { fn: () => void; ms: number }>();
    let next = 1;
    const g = new FirstKeyFrameGate<string>(
      {
        resume: (c) => resumed.push(c),
        setTimer: (fn, ms) => (timers.set(next, { fn, ms }), next++),
        clearTimer: (t) => timers.delete(t as number),
      },
      holdMs,
    );
    const fire = () => {
      const due = [...timers.values()];
      timers.clear();
      for (const t of due) t.fn();
    };
    return { g, resumed, timers, fire };
  }

  it("holds a producer's first viewers until every expected viewer asked, then resumes them together", () => {
    const { g, resumed, timers } = gate();
    expect(g.request("P", "bob", () => true)).toBe("held");
    expect(g.isHeld("bob")).toBe(true);
    expect(resumed).toEqual([]);
    expect([...timers.values()].map((t) => t.ms)).toEqual([300]);
    // carol is the last expected viewer: bob is resumed by the gate, carol by the caller, at the same moment
    expect(g.request("P", "carol", () => false)).toBe("now");
    expect(resumed).toEqual(["bob"]);
    expect(g.isHeld("bob")).toBe(false);
    expect(timers.size).toBe(0);
    // the gate is open for P from now on: a later viewer resumes at once, without the room being asked about others
    const notAsked = (): boolean => {
      throw new Error("othersPending asked after the first viewers were released");
    };
    expect(g.request("P", "dave", notAsked)).toBe("now");
    expect(resumed).toEqual(["bob"]);
  });

  it("releases the held viewers when the hold time is up, and keeps producers apart", () => {
    const { g, resumed, fire } = gate();
    expect(g.request("P", "bob", () => true)).toBe("held");
    expect(g.request("P", "carol", () => true)).toBe("held");
    expect(g.request("Q", "bob-q", () => true)).toBe("held");
    fire();
    expect(resumed.sort()).toEqual(["bob", "bob-q", "carol"]);
    expect(g.request("P", "dave", () => true)).toBe("now");
    expect(g.request("Q", "dave-q", () => true)).toBe("now");
  });

  it("releases the viewers held for a peer who left, when nobody else is expected", () => {
    const { g, resumed, timers } = gate();
    g.request("P", "bob", () => true);
    g.request("Q", "bob-q", () => true);
    g.reconsider((producerId) => producerId === "Q"); // Q still waits for someone, P for nobody
    expect(resumed).toEqual(["bob"]);
    expect(g.isHeld("bob-q")).toBe(true);
    expect(timers.size).toBe(1);
    expect(g.request("P", "carol", () => true)).toBe("now");
  });

  it("does not hold a lone first viewer, nor anyone when the hold time is 0", () => {
    const { g, resumed, timers } = gate();
    expect(g.request("P", "bob", () => false)).toBe("now");
    expect(resumed).toEqual([]);
    expect(timers.size).toBe(0);
    const off = gate(0);
    expect(off.g.request("P", "bob", () => true)).toBe("now");
    expect(off.timers.size).toBe(0);
  });

  it("forgets viewers that close or pause again, and everything held for a closed producer or room", () => {
    const { g, resumed, timers, fire } = gate();
    g.request("P", "bob", () => true);
    g.request("P", "carol", () => true);
    g.forget("carol");
    expect(g.isHeld("carol")).toBe(false);
    fire();
    expect(resumed).toEqual(["bob"]);

    g.request("Q", "bob-q", () => true);
    g.producerClosed("Q");
    expect(timers.size).toBe(0);
    expect(g.isHeld("bob-q")).toBe(false);
    // a producer id is never reused by mediasoup, but a closed one leaves nothing behind either way
    expect(g.request("Q", "x", () => true)).toBe("held");

    g.request("R", "bob-r", () => true);
    g.close();
    g.close();
    expect(timers.size).toBe(0);
    fire();
    expect(resumed).toEqual(["bob"]);
  });
});

describe("strace classifier", () => {
  it("flags write-opens of files and namespace changes, not reads or devices", () => {
    expect(isWrite('123 openat(AT_FDCWD, "/tmp/x.log", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 21')).toBe(true);
    expect(isWrite('123 openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 21')).toBe(false);
    expect(isWrite('123 openat(AT_FDCWD, "/dev/null", O_RDWR|O_CLOEXEC) = 21')).toBe(false);
    expect(isWrite('123 unlink("/tmp/a") = 0')).toBe(true);
    expect(isWrite('123 renameat2(AT_FDCWD, "/tmp/a", AT_FDCWD, "/tmp/b", 0) = 0')).toBe(true);
    expect(isWrite('123 sendmsg(5, {msg_name=...}, 0) = 1200')).toBe(false);
  });
});

describe("strace watcher (canary)", () => {
  it.skipIf(!straceAvailable())("detects a process that writes a file", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-canary-"));
    const child = spawn(process.execPath, ["-e", `setInterval(() => require("fs").writeFileSync(${JSON.stringify(join(dir, "f"))}, "x"), 100)`], {
      stdio: "ignore",
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const trace = await traceFileWrites(processTree(child.pid!));
      await new Promise((r) => setTimeout(r, 1000));
      const { writes } = await trace.stop();
      expect(writes.some((w) => w.includes(join(dir, "f")))).toBe(true);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
