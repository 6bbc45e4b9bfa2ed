/**
 * Real coturn (Debian `turnserver`) started from our rendered config on free loopback ports, driven by Debian's
 * `turnutils_uclient` (TURN client) and `turnutils_peer` (UDP echo peer), with credentials minted by the same
 * `mintTurnCredentials` the room Durable Object uses for XEP-0215.
 *
 * Every verdict is parsed from the tools' output: a relay counts only if uclient printed the relayed address and
 * got messages back from the echo peer (as many as it sent, except over TLS/DTLS where uclient is stopped once
 * some came back); a refusal counts only if it is the expected one (error code, or coturn's auth-failure line
 * naming the very username).
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { X509Certificate } from "node:crypto";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeUdpTcpPort } from "../../bridge-host/coturn/ports";
import { loadCoturnConfig, type CoturnConfig } from "../../bridge-host/coturn/config";
import { startCoturn, type CoturnHandle } from "../../bridge-host/coturn/launcher";
import { allocate, Class, createPermission, errorCode, receiveData, sendTo, StunStream } from "../../bridge-host/coturn/stun-client";
import { mintTurnCredentials, turnSessionPart, type TurnCredentials } from "../../contract/turn-credentials";
import { traceFileWrites } from "./helpers/bridge-strace";
import { connectStanza, disconnectStanza, startTarget, uniqueRoom, type XmppTarget } from "./helpers/xmpp-clients";

// ---------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------

const freeUdpTcpPortOutside = (min: number, max: number) => freeUdpTcpPort({ min, max });

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
      const all = [...out.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g)];
      const totals = all[all.length - 1]; // the last report is the final one
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

/** Try a TLS handshake pinned to one version (client security level lowered so the client would allow it). */
function tlsHandshake(host: string, port: number, version: "TLSv1" | "TLSv1.1" | "TLSv1.2"): Promise<string> {
  return new Promise((resolve) => {
    const sock = tlsConnect({
      host,
      port,
      minVersion: version,
      maxVersion: version,
      ciphers: "DEFAULT@SECLEVEL=0",
      rejectUnauthorized: false,
    });
    // coturn does not answer a refused ClientHello at all (no alert): no handshake within 10 s = refused.
    // The TLSv1.2 control shows a handshake completes well within that even on a loaded machine.
    const timer = setTimeout(() => (sock.destroy(), resolve("no handshake (timeout)")), 10_000);
    sock.once("secureConnect", () => (clearTimeout(timer), sock.destroy(), resolve("connected")));
    sock.once("error", (e) => (clearTimeout(timer), sock.destroy(), resolve(`error: ${e.message}`)));
  });
}

function relayPortOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(":") + 1));
}

/** coturn's auth-failure line names the REST username (an expiry time). */
function authFailureLogged(server: CoturnHandle, username: string): boolean {
  return server.output().some((l) => l.includes(`Cannot find credentials of user <${username}>`));
}

/** An allocation with `creds` (to a loopback peer) is refused, and coturn logs the auth failure naming the username. */
async function expectAuthRefused(server: CoturnHandle, creds: TurnCredentials, peerPort: number): Promise<void> {
  const r = await uclient(clientArgs(server, creds, { ip: "127.0.0.1", port: peerPort }));
  expect(r.out).toContain("Cannot complete Allocation");
  expect(r.relayAddrs).toEqual([]);
  expect(r.recv).toBe(0);
  expect(r.code).not.toBe(0);
  expect(await waitFor(() => authFailureLogged(server, creds.username)), server.output().join("\n")).toBe(true);
}

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function startServer(
  env: Record<string, string>,
  tls?: { cert: string; key: string },
): Promise<{ cfg: CoturnConfig; server: CoturnHandle }> {
  const { min, max } = relayRange();
  const port = await freeUdpTcpPortOutside(min, max);
  let tlsPort = port;
  while (tlsPort === port) tlsPort = await freeUdpTcpPortOutside(min, max);
  const cfg = loadCoturnConfig({
    TURN_LISTEN_IPS: "127.0.0.1",
    TURN_RELAY_IPS: "127.0.0.1",
    TURN_PORT: String(port),
    TURN_MIN_PORT: String(min),
    TURN_MAX_PORT: String(max),
    TURN_REALM: "parley.test",
    ...(tls ? { TURN_TLS_CERT: tls.cert, TURN_TLS_KEY: tls.key, TURN_TLS_PORT: String(tlsPort) } : {}),
    ...env,
  });
  const server = await startCoturn(cfg, { onLog: () => {} });
  return { cfg, server };
}

const TTL = 600;

type EchoPeer = Awaited<ReturnType<typeof startEchoPeer>>;

/** For one describe block: coturn from `env`, started before its tests and stopped after them (set once beforeAll ran). */
function serverFor(env: Record<string, string>): { cfg: CoturnConfig; server: CoturnHandle } {
  const s = {} as { cfg: CoturnConfig; server: CoturnHandle };
  beforeAll(async () => {
    Object.assign(s, await startServer(env));
  });
  afterAll(async () => {
    await s.server?.stop();
  });
  return s;
}

/** serverFor(env) plus a UDP echo peer on loopback (started after coturn, stopped before it). */
function serverAndPeer(env: Record<string, string>): { cfg: CoturnConfig; server: CoturnHandle; peer: EchoPeer } {
  const s = serverFor(env) as { cfg: CoturnConfig; server: CoturnHandle; peer: EchoPeer };
  beforeAll(async () => {
    s.peer = await startEchoPeer();
  });
  afterAll(async () => {
    await s.peer?.stop();
  });
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// development override: loopback peers allowed
// ---------------------------------------------------------------------------------------------------------

describe("coturn: DO-minted credentials (loopback peers allowed for the test)", () => {
  const secret = strongSecret();
  const s = serverAndPeer({ TURN_ENV: "development", TURN_SECRET: secret, TURN_ALLOW_LOOPBACK_PEERS: "1" });
  const turndb = "/var/lib/turn/turndb";
  const turndbMtime = existsSync(turndb) ? statSync(turndb).mtimeMs : undefined;

  it("allocates a relay and relays UDP data to a peer and back (UDP transport)", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(clientArgs(s.server, creds, { ip: "127.0.0.1", port: s.peer.port }));
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    for (const a of r.relayAddrs) {
      expect(a.startsWith("127.0.0.1:"), a).toBe(true);
      expect(relayPortOf(a)).toBeGreaterThanOrEqual(s.cfg.minPort);
      expect(relayPortOf(a)).toBeLessThanOrEqual(s.cfg.maxPort);
    }
    expect(r.out).not.toMatch(/error \d{3}/);
    expect(r.sent, r.out).toBeGreaterThan(0);
    expect(r.recv, r.out).toBe(r.sent);
    expect(r.code).toBe(0);
  });

  it("does the same over TCP to the server (-t), relaying over UDP", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(clientArgs(s.server, creds, { ip: "127.0.0.1", port: s.peer.port }, ["-t"]));
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    expect(r.sent, r.out).toBeGreaterThan(0);
    expect(r.recv, r.out).toBe(r.sent);
    expect(r.code).toBe(0);
  });

  it("refuses expired credentials (expiry in the past)", async () => {
    const creds = await mintTurnCredentials(secret, TTL, Date.now() - 2 * TTL * 1000);
    expect(Number(creds.username)).toBeLessThan(Date.now() / 1000);
    await expectAuthRefused(s.server, creds, s.peer.port);
  });

  it("refuses credentials minted with a different secret", async () => {
    const creds = await mintTurnCredentials(strongSecret(), TTL);
    await expectAuthRefused(s.server, creds, s.peer.port);
  });

  it("refuses RFC 6062 TCP relay allocations (no-tcp-relay): 442", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(["-T", ...clientArgs(s.server, creds, { ip: "127.0.0.1", port: s.peer.port })]);
    expect(r.out).toMatch(/error 442/);
    expect(r.relayAddrs).toEqual([]);
    expect(r.recv).toBe(0);
  });

  it("opens, creates or removes no file while it authenticates and relays (strace on every coturn thread)", async () => {
    const trace = await traceFileWrites([s.server.pid]);
    const creds = await mintTurnCredentials(secret, TTL);
    const ok = await uclient(clientArgs(s.server, creds, { ip: "127.0.0.1", port: s.peer.port }));
    const bad = await uclient(clientArgs(s.server, await mintTurnCredentials(strongSecret(), TTL), { ip: "127.0.0.1", port: s.peer.port }));
    const { writes, sends } = await trace.stop();
    expect(ok.recv, ok.out).toBeGreaterThan(0);
    expect(bad.relayAddrs).toEqual([]);
    expect(sends).toBeGreaterThan(0); // the tracer saw coturn relay traffic
    // log-file=stdout: coturn's log lines are writes to the pipe, not files
    expect(writes).toEqual([]);
  });

  it("wrote nothing but its config and pid file; log has no session lines and no address in clear", async () => {
    // a session of its own, so the log check below never passes for want of sessions
    const session = await uclient(clientArgs(s.server, await mintTurnCredentials(secret, TTL), { ip: "127.0.0.1", port: s.peer.port }));
    expect(session.recv, session.out).toBeGreaterThan(0);
    expect(readdirSync(s.server.dir).sort(), "files in coturn's dir").toEqual(["turnserver.conf", "turnserver.pid"]);
    expect(statSync(s.server.configPath).mode & 0o777, "config file mode").toBe(0o600);
    expect(statSync(s.server.dir).mode & 0o777, "coturn dir mode").toBe(0o700);
    if (turndbMtime !== undefined) expect(statSync(turndb).mtimeMs, "Debian's default turndb untouched").toBe(turndbMtime);
    const out = s.server.output();
    expect(out.some((l) => l.includes("SQLite DB connection success: :memory:")), out.join("\n")).toBe(true);
    // The launcher masks every address as "<addr>": no raw address anywhere.
    const raw = (l: string) => /\d+\.\d+\.\d+\.\d+|[0-9a-f]*::[0-9a-f]/i.test(l);
    expect(out.filter(raw), out.join("\n")).toEqual([]);
    // After start-up ("Total General servers"), coturn's non-verbose log has no per-session lines for normal
    // sessions (no "new", "usage", "closed", "incoming packet" lines) although sessions ran. Addresses appear
    // only on error paths, masked: a busy relay port ("Trying to bind fd N to <addr>", our own relay address)
    // or a failed client connection ("session N: TCP socket error: Connection reset by peer <addr>").
    const started = out.findIndex((l) => l.includes("Total General servers"));
    expect(started).toBeGreaterThanOrEqual(0);
    const after = out.slice(started);
    expect(after.filter((l) => /session \d+: (new|usage|closed|realm|peer|incoming)/.test(l)), after.join("\n")).toEqual([]);
    expect(after.filter((l) => l.includes("<addr>") && !/ERROR:|Trying to bind/.test(l)), after.join("\n")).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// default (production) peer policy
// ---------------------------------------------------------------------------------------------------------

describe("coturn: default peer policy (no override)", () => {
  const secret = strongSecret();
  const s = serverAndPeer({ TURN_ENV: "production", TURN_SECRET: secret });

  it("allocates, but refuses to relay to a loopback peer (403 Forbidden IP)", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(clientArgs(s.server, creds, { ip: "127.0.0.1", port: s.peer.port }));
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
    const r = await uclient(clientArgs(s.server, creds, { ip, port: 9 }, ["-n", "1"]), {
      until: /channel bind: error|success: 0x[0-9a-f]+/,
    });
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    expect(r.out).toMatch(/channel bind: error 403 \(Forbidden IP\)/);
  });

  it("masks the peer addresses coturn logs for denied peers (the only addresses it logs after start-up)", () => {
    const out = s.server.output();
    const started = out.findIndex((l) => l.includes("Total General servers"));
    expect(started).toBeGreaterThanOrEqual(0);
    const after = out.slice(started);
    // coturn logs "ERROR: A peer IP <ip> denied in the range: <range>" for peers in a denied-peer-ip range
    // (the loopback peer is refused earlier, silently, by coturn's own loopback rule).
    expect(after.some((l) => /A peer IP <addr> denied in the range: <addr>-<addr>/.test(l)), after.join("\n")).toBe(true);
    expect(after.filter((l) => /\d+\.\d+\.\d+\.\d+|[0-9a-f]*::[0-9a-f]/i.test(l)), after.join("\n")).toEqual([]);
    expect(after.filter((l) => /session \d+: (new|usage|closed|realm|peer|incoming)/.test(l)), after.join("\n")).toEqual([]);
  });

  it("control: a public peer address passes the permission check", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await uclient(clientArgs(s.server, creds, { ip: "1.1.1.1", port: 9 }, ["-n", "1"]), {
      until: /channel bind: error|success: 0x[0-9a-f]+/,
    });
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    expect(r.out).toMatch(/success: 0x[0-9a-f]+/);
    expect(r.out).not.toMatch(/error 403/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// optional TLS/DTLS listener (RFC 8656 §3.1), self-signed certificate made with openssl for the test
// ---------------------------------------------------------------------------------------------------------

describe("coturn: TLS and DTLS listener (TURN_TLS_CERT/TURN_TLS_KEY)", () => {
  const secret = strongSecret();
  let server: CoturnHandle;
  let tlsPort: number;
  let peer: EchoPeer;
  let certDir: string;

  beforeAll(async () => {
    const { dir, cert, key } = selfSignedCert();
    certDir = dir;
    let cfg: CoturnConfig;
    ({ cfg, server } = await startServer(
      { TURN_ENV: "development", TURN_SECRET: secret, TURN_ALLOW_LOOPBACK_PEERS: "1" },
      { cert, key },
    ));
    tlsPort = cfg.tls!.port;
    peer = await startEchoPeer();
  });
  afterAll(async () => {
    await peer?.stop();
    await server?.stop();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  // uclient over TLS sometimes leaves the last echoed message unread and then waits for it until killed: stop it
  // once all messages are sent and at least one came back through the relay.
  const sentAllGotSome = /tot_send_msgs=10, tot_recv_msgs=[1-9]/;

  // `-F <suite>`: with its default cipher list, uclient's own non-blocking SSL_connect loop often stalls while
  // Node's TLS client always completes its handshake against the same listener (see the TLSv1.2 control below);
  // naming the suite (the one the certificate's P-256 key negotiates anyway) makes every run complete.
  const suite = ["-F", "ECDHE-ECDSA-AES256-GCM-SHA384"];

  it.each([
    ["TLS over TCP", ["-S", "-t", ...suite], "TLS"],
    ["DTLS over UDP", ["-S", ...suite], "DTLS"],
  ])("relays data to a peer over %s, TLS 1.2 or newer", async (_name, flags, proto) => {
    const creds = await mintTurnCredentials(secret, TTL);
    const args = clientArgs(server, creds, { ip: "127.0.0.1", port: peer.port }, flags);
    args.splice(args.indexOf("-p") + 1, 1, String(tlsPort));
    const r = await uclient(args, { until: sentAllGotSome });
    const methods = [...r.out.matchAll(/client session connected with cipher \S+, method=(\S+)/g)].map((m) => m[1]);
    expect(methods.length, r.out).toBeGreaterThan(0);
    for (const m of methods) expect([`${proto}v1.2`, `${proto}v1.3`]).toContain(m);
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    expect(r.sent, r.out).toBeGreaterThan(0);
    expect(r.recv, r.out).toBeGreaterThan(0);
  });

  // A deployment property, not a proof of the directives alone: with Debian's OpenSSL 3 the default security
  // level also refuses TLS < 1.2; `no-tlsv1`/`no-tlsv1_1` keep it so with any OpenSSL build.
  it("refuses TLSv1 and TLSv1.1 handshakes", async () => {
    const results = await Promise.all([tlsHandshake(server.host, tlsPort, "TLSv1"), tlsHandshake(server.host, tlsPort, "TLSv1.1")]);
    expect(results.filter((r) => r === "connected")).toEqual([]);
  });

  it("control: a TLSv1.2 handshake succeeds on the same port", async () => {
    expect(await tlsHandshake(server.host, tlsPort, "TLSv1.2")).toBe("connected");
  });
});

// ---------------------------------------------------------------------------------------------------------
// TURN over TLS (`turns:`, RFC 7065; RFC 8656 §3.1) driven by Node's own TLS client and our STUN/TURN codec
// (bridge-host/coturn/stun-client.ts), independent of uclient; and the edge advertising it (XEP-0215)
// ---------------------------------------------------------------------------------------------------------

/** A throwaway self-signed P-256 certificate (CN=localhost) in a fresh temp dir. */
function selfSignedCert(): { dir: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "parley-coturn-cert-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
    { encoding: "utf8" },
  );
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`openssl failed: ${r.error?.message ?? r.stderr}`);
  }
  return { dir, cert, key };
}

/** Node's TLS client (self-signed server certificate, so no chain check; the test pins its fingerprint instead). */
function connectTls(host: string, port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ host, port, rejectUnauthorized: false, minVersion: "TLSv1.2" });
    const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no TLS handshake with ${host}:${port} in 20 s`))), 20_000);
    sock.once("secureConnect", () => (clearTimeout(timer), resolve(sock)));
    sock.once("error", (e) => (clearTimeout(timer), reject(e)));
  });
}

describe("coturn: TURN over TLS (turns) with Node's TLS client: STUN Binding, authenticated Allocate, relay", () => {
  const secret = strongSecret();
  const s = {} as { cfg: CoturnConfig; server: CoturnHandle; peer: EchoPeer; certs: ReturnType<typeof selfSignedCert>; fingerprint: string };
  const sockets: TLSSocket[] = [];
  const open = async () => {
    const sock = await connectTls(s.server.host, s.cfg.tls!.port);
    sockets.push(sock);
    return sock;
  };

  beforeAll(async () => {
    s.certs = selfSignedCert();
    s.fingerprint = new X509Certificate(readFileSync(s.certs.cert)).fingerprint256;
    Object.assign(
      s,
      await startServer({ TURN_ENV: "development", TURN_SECRET: secret, TURN_ALLOW_LOOPBACK_PEERS: "1" }, { cert: s.certs.cert, key: s.certs.key }),
    );
    s.peer = await startEchoPeer();
  });
  afterAll(async () => {
    for (const sock of sockets) sock.destroy();
    await s.peer?.stop();
    await s.server?.stop();
    if (s.certs) rmSync(s.certs.dir, { recursive: true, force: true });
  });

  it("answers a STUN Binding over TLS 1.2+ with the client's own address (XOR-MAPPED-ADDRESS)", async () => {
    const sock = await open();
    expect(["TLSv1.2", "TLSv1.3"]).toContain(sock.getProtocol());
    expect(sock.getPeerCertificate().fingerprint256).toBe(s.fingerprint); // it is coturn with our certificate
    const { response, mapped } = await new StunStream(sock).binding(20_000);
    expect(response.cls).toBe(Class.Success);
    expect(mapped).toEqual({ family: 4, address: sock.localAddress, port: sock.localPort });
  });

  it("allocates a UDP relay over TLS with use-auth-secret credentials and relays to a peer and back", async () => {
    const sock = await open();
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await allocate(new StunStream(sock), creds, 20_000);
    if (!r.ok) throw new Error(`Allocate refused: ${r.code} ${r.reason} (${r.stage})\n${s.server.output().join("\n")}`);
    expect(r.integrityOk).toBe(true); // the server proved it knows the same secret (RFC 8489 §9.2.4)
    expect(r.relayed.address).toBe("127.0.0.1");
    expect(r.relayed.port).toBeGreaterThanOrEqual(s.cfg.minPort);
    expect(r.relayed.port).toBeLessThanOrEqual(s.cfg.maxPort);
    expect(r.mapped).toEqual({ family: 4, address: sock.localAddress, port: sock.localPort });
    expect(r.lifetime).toBeGreaterThan(0);

    const peer = { address: "127.0.0.1", port: s.peer.port };
    const perm = await createPermission(r.session, peer, 20_000);
    expect(perm.cls, JSON.stringify(errorCode(perm))).toBe(Class.Success);
    const payload = randomBytes(64);
    sendTo(r.session, peer, payload);
    const back = await receiveData(r.session, 20_000);
    expect(back.peer).toEqual({ family: 4, ...peer });
    expect(back.data.equals(payload)).toBe(true);
  });

  it("refuses a tampered password over TLS (401 on the authenticated Allocate)", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    const r = await allocate(new StunStream(await open()), { username: creds.username, password: "x" + creds.password }, 20_000);
    expect(r).toMatchObject({ ok: false, code: 401, stage: "authenticated" });
  });

  it("refuses expired credentials over TLS (401 on the authenticated Allocate)", async () => {
    const creds = await mintTurnCredentials(secret, TTL, Date.now() - (TTL + 60) * 1000);
    const r = await allocate(new StunStream(await open()), creds, 20_000);
    expect(r).toMatchObject({ ok: false, code: 401, stage: "authenticated" });
  });

  describe("+ edge: wrangler dev with TURN_TLS_PORT", () => {
    let target: XmppTarget;
    beforeAll(async () => {
      target = await startTarget("edge", {
        turnSecret: secret,
        vars: { TURN_HOST: s.server.host, TURN_PORT: String(s.server.port), TURN_TLS_PORT: String(s.cfg.tls!.port), TURN_TTL_SECONDS: "300" },
      });
    });
    afterAll(async () => {
      await target?.stop();
    });

    it("the room lists turns (XEP-0215) on the TLS port, and its credentials allocate over TLS", async () => {
      const client = await connectStanza(target, uniqueRoom("turns"));
      try {
        const list = await client.getServices(target.domain);
        const all = list.services ?? [];
        const turns = all.filter((x) => x.type === "turns");
        expect(turns, JSON.stringify(all)).toHaveLength(1);
        const svc = turns[0]!;
        expect(svc).toMatchObject({ host: s.server.host, port: s.cfg.tls!.port, transport: "tcp" });
        const turn = all.find((x) => x.type === "turn")!;
        expect([svc.username, svc.password]).toEqual([turn.username, turn.password]);
        const r = await allocate(new StunStream(await open()), { username: svc.username ?? "", password: svc.password ?? "" }, 20_000);
        if (!r.ok) throw new Error(`Allocate refused: ${r.code} ${r.reason} (${r.stage})`);
        expect(r.integrityOk).toBe(true);
        expect(r.relayed.address).toBe("127.0.0.1");
      } finally {
        await disconnectStanza(client);
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
// end to end: the room Durable Object (real `wrangler dev`) hands out XEP-0215 credentials, coturn accepts them
// ---------------------------------------------------------------------------------------------------------

describe("coturn + edge: credentials the room hands out over XEP-0215 open a relay", () => {
  const secret = strongSecret();
  const s = serverAndPeer({ TURN_ENV: "development", TURN_SECRET: secret, TURN_ALLOW_LOOPBACK_PEERS: "1" });
  let target: XmppTarget;

  // runs after serverAndPeer's beforeAll; its afterAll runs before serverAndPeer's (vitest runs after-hooks as a stack)
  beforeAll(async () => {
    target = await startTarget("edge", {
      turnSecret: secret,
      vars: { TURN_HOST: s.server.host, TURN_PORT: String(s.server.port), TURN_TTL_SECONDS: "300" },
    });
  });
  afterAll(async () => {
    await target?.stop();
  });

  it("relays over every TURN service listed (udp and tcp) with the room's credentials", async () => {
    const client = await connectStanza(target, uniqueRoom("turn"));
    try {
      const list = await client.getServices(target.domain, "turn");
      const turn = (list.services ?? []).filter((x) => x.type === "turn");
      expect(turn.map((x) => x.transport).sort()).toEqual(["tcp", "udp"]);
      for (const svc of turn) {
        expect(svc.host).toBe(s.server.host);
        expect(svc.port).toBe(s.server.port);
        const creds = { username: svc.username ?? "", password: svc.password ?? "", expires: svc.expires ?? new Date() };
        const args = clientArgs(s.server, creds, { ip: "127.0.0.1", port: s.peer.port }, svc.transport === "tcp" ? ["-t"] : []);
        const r = await uclient(args);
        expect(r.relayAddrs.length, `${svc.transport}: ${r.out}`).toBeGreaterThan(0);
        expect(r.sent, r.out).toBeGreaterThan(0);
        expect(r.recv, r.out).toBe(r.sent);
      }
      // and a tampered password from the same list is refused
      const first = turn[0]!;
      const bad = { username: first.username ?? "", password: "x" + (first.password ?? ""), expires: new Date() };
      const r = await uclient(clientArgs(s.server, bad, { ip: "127.0.0.1", port: s.peer.port }));
      expect(r.relayAddrs).toEqual([]);
      expect(r.out).toContain("Cannot complete Allocation");
    } finally {
      await disconnectStanza(client);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// quotas (user-quota per REST username)
// ---------------------------------------------------------------------------------------------------------

describe("coturn: per-credential allocation quota (TURN_USER_QUOTA)", () => {
  const secret = strongSecret();
  const s = serverFor({ TURN_ENV: "production", TURN_SECRET: secret, TURN_USER_QUOTA: "1" });

  it("grants the first allocation of a credential and refuses the second with 486", async () => {
    const creds = await mintTurnCredentials(secret, TTL);
    // -m 2: concurrent uclient clients (two allocations each) with the same username; -n 1 to a public peer
    // (nothing needs to come back). Exactly one allocation may succeed.
    const r = await uclient(clientArgs(s.server, creds, { ip: "1.1.1.1", port: 9 }, ["-m", "2", "-n", "1"]), {
      until: /error 486/,
    });
    expect(r.relayAddrs.length, r.out).toBe(1);
    expect(r.out).toMatch(/error 486 \(Allocation Quota Reached\)/);
  });

  it("counts each signaling session separately: credentials minted in the same second for two sessions each get their own quota", async () => {
    const now = Date.now();
    // what the room hands two connections (XEP-0215, durable/features/extdisco.ts): "<expiry>:<session part>"
    const [a, b] = await Promise.all(
      ["conn-a", "conn-b"].map(async (id) => mintTurnCredentials(secret, TTL, now, await turnSessionPart(id))),
    );
    expect(a!.username).toMatch(/^\d+:[0-9a-f]{16}$/);
    expect(a!.username).not.toBe(b!.username);
    const sockets: Socket[] = [];
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const sock = netConnect({ host: s.server.host, port: s.server.port }, () => resolve(sock));
        sock.once("error", reject);
        sockets.push(sock);
      });
    try {
      const first = await allocate(new StunStream(await open()), a!, 20_000);
      expect(first.ok, JSON.stringify(first)).toBe(true);
      // session A is at its quota (1): its second allocation is refused, with the same credentials on a new connection
      const again = await allocate(new StunStream(await open()), a!, 20_000);
      expect(again).toMatchObject({ ok: false, code: 486 });
      // session B, same expiry second, is another coturn user
      const other = await allocate(new StunStream(await open()), b!, 20_000);
      expect(other.ok, JSON.stringify(other)).toBe(true);
    } finally {
      for (const sock of sockets) sock.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// production options: 1:1 NAT mapping and explicit peer allowances
// ---------------------------------------------------------------------------------------------------------

describe("coturn: TURN_EXTERNAL_IPS and TURN_ALLOWED_PEER_IPS", () => {
  const secret = strongSecret();
  const s = serverFor({
    TURN_ENV: "production",
    TURN_SECRET: secret,
    TURN_EXTERNAL_IPS: "203.0.113.9/127.0.0.1",
    TURN_ALLOWED_PEER_IPS: "10.1.2.3,172.16.9.0-172.16.9.255",
  });

  const bindTo = async (ip: string) =>
    uclient(clientArgs(s.server, await mintTurnCredentials(secret, TTL), { ip, port: 9 }, ["-n", "1"]), {
      until: /channel bind: error|success: 0x[0-9a-f]+/,
    });

  it("reports the public address as the relayed address (behind 1:1 NAT)", async () => {
    const r = await bindTo("1.1.1.1");
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    for (const a of r.relayAddrs) expect(a.startsWith("203.0.113.9:"), a).toBe(true);
  });

  it.each([["10.1.2.3"], ["172.16.9.200"]])("relays to %s although it lies in a denied range (explicitly allowed)", async (ip) => {
    const r = await bindTo(ip);
    expect(r.out, r.out).toMatch(/success: 0x[0-9a-f]+/);
    expect(r.out).not.toMatch(/error 403/);
  });

  it.each([["10.1.2.4"], ["172.16.10.1"]])("still refuses %s next to the allowance (403)", async (ip) => {
    const r = await bindTo(ip);
    expect(r.out, r.out).toMatch(/channel bind: error 403 \(Forbidden IP\)/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// IPv6 relays (RFC 6156): the IPv6 denied ranges, incl. IPv4-mapped and NAT64 forms of denied IPv4 addresses
// ---------------------------------------------------------------------------------------------------------

const hasIpv6Loopback = (() => {
  try {
    return /^0{31}1 /m.test(readFileSync("/proc/net/if_inet6", "utf8"));
  } catch {
    return false;
  }
})();

describe.skipIf(!hasIpv6Loopback)("coturn: IPv6 relay peer policy (needs ::1)", () => {
  const secret = strongSecret();
  const s = serverFor({ TURN_ENV: "production", TURN_SECRET: secret, TURN_RELAY_IPS: "127.0.0.1,::1" });

  // -x: ask for an IPv6 relayed address (RFC 6156 REQUESTED-ADDRESS-FAMILY).
  const bindTo = async (ip: string) =>
    uclient(clientArgs(s.server, await mintTurnCredentials(secret, TTL), { ip, port: 9 }, ["-x", "-n", "1"]), {
      until: /channel bind: error|success: 0x[0-9a-f]+/,
    });

  it.each([
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:10.0.0.1", "IPv4-mapped private"],
    ["fe80::1", "link-local"],
    ["fd00::1", "unique local"],
    ["2001:db8::1", "documentation"],
    ["64:ff9b::a00:1", "NAT64 of 10.0.0.1"],
    ["ff02::1", "multicast"],
  ])("refuses to relay to %s (%s)", async (ip) => {
    const r = await bindTo(ip);
    expect(r.relayAddrs.length, r.out).toBeGreaterThan(0);
    for (const a of r.relayAddrs) expect(a.startsWith("::1:"), a).toBe(true);
    expect(r.out).toMatch(/channel bind: error 403 \(Forbidden IP\)/);
  });

  it("control: a public IPv6 peer passes the permission check", async () => {
    const r = await bindTo("2606:4700::1111");
    expect(r.out, r.out).toMatch(/success: 0x[0-9a-f]+/);
    expect(r.out).not.toMatch(/error 403/);
  });
});
