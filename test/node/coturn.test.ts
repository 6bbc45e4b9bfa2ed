/**
 * Real coturn (Debian `turnserver`) started from our rendered config on free loopback ports, driven by Debian's
 * `turnutils_uclient` (TURN client) and `turnutils_peer` (UDP echo peer), with credentials minted by the same
 * `mintTurnCredentials` the room Durable Object uses for XEP-0215.
 *
 * Every verdict is parsed from the tools' output: a relay counts only if uclient printed the relayed address and
 * got back from the echo peer as many messages as it sent; a refusal counts only if it is the expected one.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCoturnConfig, type CoturnConfig } from "../../bridge-host/coturn/config";
import { startCoturn, type CoturnHandle } from "../../bridge-host/coturn/launcher";
import { mintTurnCredentials, type TurnCredentials } from "../../durable/crypto/turn-credentials";

// ---------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------

/** A port free for both TCP and UDP on 127.0.0.1 (coturn listens on both). */
async function freeUdpTcpPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const a = s.address();
        const p = typeof a === "object" && a ? a.port : 0;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket("udp4");
      u.once("error", () => resolve(false));
      u.bind(port, "127.0.0.1", () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error("no free UDP+TCP port");
}

/** A relay port range (64 ports) away from the listener; coturn skips ports that happen to be busy. */
function relayRange(): { min: number; max: number } {
  const min = 42000 + 64 * Math.floor(Math.random() * 90);
  return { min, max: min + 63 };
}

/** A secret with characters that need care in a config file (`+`, `/`, `=`). */
function strongSecret(): string {
  return randomBytes(33).toString("base64") + "+/=";
}

interface UclientResult {
  code: number | null;
  out: string;
  relayAddrs: string[];
  sent: number;
  recv: number;
}

/** Run turnutils_uclient; `until` ends it early (SIGTERM) once the output matches. */
function uclient(args: string[], opts: { timeoutMs?: number; until?: RegExp } = {}): Promise<UclientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("turnutils_uclient", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const onData = (d: Buffer) => {
      out += d.toString();
      if (opts.until?.test(out)) child.kill("SIGTERM");
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 45_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      const relayAddrs = [...out.matchAll(/Received relay addr: (\S+)/g)].map((m) => m[1]!);
      const totals = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/.exec(out);
      resolve({ code, out, relayAddrs, sent: Number(totals?.[1] ?? 0), recv: Number(totals?.[2] ?? 0) });
    });
  });
}

function clientArgs(
  server: CoturnHandle,
  creds: TurnCredentials,
  peer: { ip: string; port: number },
  extra: string[] = [],
): string[] {
  // -v: print relay addresses and responses; -c: one allocation (no RTCP twin); -n: messages to send.
  return ["-v", "-c", "-n", "10", ...extra, "-u", creds.username, "-w", creds.password, "-e", peer.ip, "-r", String(peer.port), "-p", String(server.port), server.host];
}

/** turnutils_peer: a UDP echo server. Resolves once it echoes a probe datagram. */
async function startEchoPeer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freeUdpTcpPort();
  const child = spawn("turnutils_peer", ["-L", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const closed = new Promise<void>((r) => child.once("close", () => r()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const echoed = await new Promise<boolean>((resolve) => {
      const s = createSocket("udp4");
      const t = setTimeout(() => (s.close(), resolve(false)), 300);
      s.once("message", () => (clearTimeout(t), s.close(), resolve(true)));
      s.send("probe", port, "127.0.0.1");
    });
    if (echoed) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error("turnutils_peer did not start");
    }
  }
  return {
    port,
    stop: async () => {
      child.kill("SIGTERM");
      await closed;
    },
  };
}

function relayPortOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(":") + 1));
}

/** coturn's auth-failure line names the REST username (an expiry time). */
function authFailureLogged(server: CoturnHandle, username: string): boolean {
  return server.output().some((l) => l.includes(`Cannot find credentials of user <${username}>`));
}

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function startServer(env: Record<string, string>): Promise<{ cfg: CoturnConfig; server: CoturnHandle }> {
  const port = await freeUdpTcpPort();
  const { min, max } = relayRange();
  const cfg = loadCoturnConfig({
    TURN_LISTEN_IPS: "127.0.0.1",
    TURN_RELAY_IPS: "127.0.0.1",
    TURN_PORT: String(port),
    TURN_MIN_PORT: String(min),
    TURN_MAX_PORT: String(max),
    TURN_REALM: "parley.test",
    ...env,
  });
  const server = await startCoturn(cfg, { onLog: () => {} });
  return { cfg, server };
}

const TTL = 600;

// ---------------------------------------------------------------------------------------------------------
// development override: loopback peers allowed
// ---------------------------------------------------------------------------------------------------------

describe("coturn: DO-minted credentials (loopback peers allowed for the test)", () => {
  const secret = strongSecret();
  let cfg: CoturnConfig;
  let server: CoturnHandle;
  let peer: Awaited<ReturnType<typeof startEchoPeer>>;
  const turndb = "/var/lib/turn/turndb";
  const turndbMtime = existsSync(turndb) ? statSync(turndb).mtimeMs : undefined;

  beforeAll(async () => {
    ({ cfg, server } = await startServer({ TURN_ENV: "development", TURN_SECRET: secret, TURN_ALLOW_LOOPBACK_PEERS: "1" }));
    peer = await startEchoPeer();
  });
  afterAll(async () => {
    await peer?.stop();
    await server?.stop();
  });

  it("allocates a relay and relays UDP data to a peer and back (UDP transport)", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(clientArgs(server, creds, { ip: "127.0.0.1", port: peer.port }));
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    for (const a of r.relayAddrs) {
      expect(a.startsWith("127.0.0.1:"), a).toBe(true);
      expect(relayPortOf(a)).toBeGreaterThanOrEqual(cfg.minPort);
      expect(relayPortOf(a)).toBeLessThanOrEqual(cfg.maxPort);
    }
    expect(r.out).not.toMatch(/error \d{3}/);
    expect(r.sent, r.out).toBeGreaterThan(0);
    expect(r.recv, r.out).toBe(r.sent);
    expect(r.code).toBe(0);
  });

  it("does the same over TCP to the server (-t), relaying over UDP", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(clientArgs(server, creds, { ip: "127.0.0.1", port: peer.port }, ["-t"]));
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    expect(r.sent, r.out).toBeGreaterThan(0);
    expect(r.recv, r.out).toBe(r.sent);
    expect(r.code).toBe(0);
  });

  it("refuses expired credentials (expiry in the past)", async () => {
    const creds = await mintTurnCredentials(secret, TTL, Date.now() - 2 * TTL * 1000);
    expect(Number(creds.username)).toBeLessThan(Date.now() / 1000);
    const r = await uclient(clientArgs(server, creds, { ip: "127.0.0.1", port: peer.port }));
    expect(r.out).toContain("Cannot complete Allocation");
    expect(r.relayAddrs).toEqual([]);
    expect(r.recv).toBe(0);
    expect(r.code).not.toBe(0);
    expect(await waitFor(() => authFailureLogged(server, creds.username)), server.output().join("\n")).toBe(true);
  });

  it("refuses credentials minted with a different secret", async () => {
    const creds = await mintTurnCredentials(strongSecret(), TTL);
    const r = await uclient(clientArgs(server, creds, { ip: "127.0.0.1", port: peer.port }));
    expect(r.out).toContain("Cannot complete Allocation");
    expect(r.relayAddrs).toEqual([]);
    expect(r.recv).toBe(0);
    expect(r.code).not.toBe(0);
    expect(await waitFor(() => authFailureLogged(server, creds.username)), server.output().join("\n")).toBe(true);
  });

  it("refuses RFC 6062 TCP relay allocations (no-tcp-relay): 442", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(["-T", ...clientArgs(server, creds, { ip: "127.0.0.1", port: peer.port })]);
    expect(r.out).toMatch(/error 442/);
    expect(r.relayAddrs).toEqual([]);
    expect(r.recv).toBe(0);
  });

  it("wrote nothing but its config and pid file, and logged no addresses after start-up", () => {
    expect(readdirSync(server.dir).sort()).toEqual(["turnserver.conf", "turnserver.pid"]);
    expect(statSync(server.configPath).mode & 0o777).toBe(0o600);
    expect(statSync(server.dir).mode & 0o777).toBe(0o700);
    if (turndbMtime !== undefined) expect(statSync(turndb).mtimeMs).toBe(turndbMtime);
    const out = server.output();
    expect(out.some((l) => l.includes("SQLite DB connection success: :memory:"))).toBe(true);
    // The launcher masks addresses as "<addr>"; after "Total General servers" (start-up done), coturn's own
    // (non-verbose) log must contain none: no per-session lines although the tests above ran sessions.
    const started = out.findIndex((l) => l.includes("Total General servers"));
    expect(started).toBeGreaterThanOrEqual(0);
    const after = out.slice(started);
    expect(after.filter((l) => l.includes("<addr>") || /\d+\.\d+\.\d+\.\d+/.test(l))).toEqual([]);
    expect(after.filter((l) => /session \d+/.test(l))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// default (production) peer policy
// ---------------------------------------------------------------------------------------------------------

describe("coturn: default peer policy (no override)", () => {
  const secret = strongSecret();
  let server: CoturnHandle;
  let peer: Awaited<ReturnType<typeof startEchoPeer>>;

  beforeAll(async () => {
    ({ server } = await startServer({ TURN_ENV: "production", TURN_SECRET: secret }));
    peer = await startEchoPeer();
  });
  afterAll(async () => {
    await peer?.stop();
    await server?.stop();
  });

  it("allocates, but refuses to relay to a loopback peer (403 Forbidden IP)", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(clientArgs(server, creds, { ip: "127.0.0.1", port: peer.port }));
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    expect(r.out).toMatch(/channel bind: error 403 \(Forbidden IP\)/);
    expect(r.recv).toBe(0);
    expect(r.code).not.toBe(0);
  });

  it.each([
    ["10.1.2.3", "private 10/8"],
    ["172.16.5.4", "private 172.16/12"],
    ["192.168.1.1", "private 192.168/16"],
    ["100.64.0.1", "CGNAT 100.64/10"],
    ["169.254.1.1", "link-local"],
    ["127.0.0.2", "loopback 127/8"],
    ["0.0.0.0", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.1", "multicast"],
    ["198.51.100.7", "documentation"],
  ])("refuses to relay to %s (%s)", async (ip) => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(clientArgs(server, creds, { ip, port: 9 }, ["-n", "1"]), {
      until: /channel bind: error|success: 0x[0-9a-f]+/,
    });
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    expect(r.out).toMatch(/channel bind: error 403 \(Forbidden IP\)/);
  });

  it("masks the peer addresses coturn logs for denied peers (the only addresses it logs after start-up)", () => {
    const out = server.output();
    const started = out.findIndex((l) => l.includes("Total General servers"));
    expect(started).toBeGreaterThanOrEqual(0);
    const after = out.slice(started);
    // coturn logs "ERROR: A peer IP <ip> denied in the range: <range>" for peers in a denied-peer-ip range
    // (the loopback peer is refused earlier, silently, by coturn's own loopback rule).
    expect(after.some((l) => /A peer IP <addr> denied in the range: <addr>-<addr>/.test(l)), after.join("\n")).toBe(true);
    expect(after.filter((l) => /\d+\.\d+\.\d+\.\d+|[0-9a-f]*::[0-9a-f]/i.test(l))).toEqual([]);
    expect(after.filter((l) => /session \d+/.test(l))).toEqual([]);
  });

  it("control: a public peer address passes the permission check", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(clientArgs(server, creds, { ip: "1.1.1.1", port: 9 }, ["-n", "1"]), {
      until: /channel bind: error|success: 0x[0-9a-f]+/,
    });
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    expect(r.out).toMatch(/success: 0x[0-9a-f]+/);
    expect(r.out).not.toMatch(/error 403/);
  });
});
