/**
 * The coturn env schema and the turnserver.conf rendering (bridge-host/coturn/config.ts; pure, no coturn process).
 * The rendered file is exercised against real coturn in coturn.test.ts.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { describe, expect, it } from "vitest";
import { CoturnConfigError, loadCoturnConfig, renderTurnserverConf, type CoturnConfig } from "../../bridge-host/coturn/config";
import { TEMPLATE_PATH } from "../../bridge-host/coturn/launcher";
import { DEV_SECRETS } from "../../contract/secrets";

const SECRET = "s3cr3t-with+base64/chars=" + "x".repeat(20);
/** Stand-in PEM files: the schema checks they are readable regular files (coturn parses their contents). */
const pemDir = mkdtempSync(join(tmpdir(), "parley-coturn-pem-"));
const CERT = join(pemDir, "turn.pem");
const KEY = join(pemDir, "turn.key");
writeFileSync(CERT, "-----BEGIN CERTIFICATE-----\n");
writeFileSync(KEY, "-----BEGIN PRIVATE KEY-----\n", { mode: 0o600 });
afterAll(() => rmSync(pemDir, { recursive: true, force: true }));
const template = readFileSync(TEMPLATE_PATH, "utf8");
const render = (cfg: CoturnConfig) => renderTurnserverConf(template, cfg, { pidfile: "/tmp/x/turnserver.pid" });
/** directive lines (no comments, no blanks) */
const directives = (conf: string) => conf.split("\n").filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));

function errorOf(env: Record<string, string>): string {
  try {
    loadCoturnConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(CoturnConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a CoturnConfigError");
}

describe("coturn env schema", () => {
  it("requires TURN_SECRET outside development", () => {
    expect(errorOf({})).toMatch(/TURN_SECRET is required/);
    expect(errorOf({ TURN_SECRET: "short" })).toMatch(/TURN_SECRET.*at least 32/);
    expect(errorOf({ TURN_SECRET: DEV_SECRETS.TURN_SECRET })).toMatch(/development default/);
    expect(errorOf({ TURN_ENV: "production", TURN_SECRET: "" })).toMatch(/TURN_SECRET is required/);
    // the edge's other rules (durable/config.ts)
    expect(errorOf({ TURN_SECRET: "ab".repeat(20) })).toMatch(/too weak/);
    expect(errorOf({ TURN_SECRET: "changeme-0123456789abcdefghijklmnopqrstuv" })).toMatch(/placeholder/);
  });

  it("uses the edge's development secret in development, so `npm run dev` and `npm run turn -- --dev` pair up", () => {
    expect(loadCoturnConfig({ TURN_ENV: "development" }).secret).toBe(DEV_SECRETS.TURN_SECRET);
    expect(loadCoturnConfig({ BRIDGE_ENV: "development" }).environment).toBe("development");
    expect(loadCoturnConfig({ TURN_ENV: "production", BRIDGE_ENV: "development", TURN_SECRET: SECRET }).environment).toBe(
      "production",
    );
  });

  it("has the documented defaults", () => {
    const c = loadCoturnConfig({ TURN_SECRET: SECRET });
    expect(c).toMatchObject({
      environment: "production",
      secret: SECRET,
      realm: "parley",
      listeningIps: [],
      port: 3478,
      tls: undefined,
      minPort: 49152,
      maxPort: 65535,
      userQuota: 64,
      totalQuota: 4000,
      maxBps: 0,
      allowedPeerIps: [],
      allowLoopbackPeers: false,
      log: "stdout",
    });
  });

  it.each([
    [{ TURN_LISTEN_IPS: "127.0.0.1,nope" }, /TURN_LISTEN_IPS.*IPv4 or IPv6/],
    [{ TURN_RELAY_IPS: "300.1.1.1" }, /TURN_RELAY_IPS/],
    [{ TURN_EXTERNAL_IPS: "203.0.113.9/10.0.0.9/1.2.3.4" }, /TURN_EXTERNAL_IPS.*PUBLIC_IP/],
    [{ TURN_ALLOWED_PEER_IPS: "10.0.0.1-::1" }, /TURN_ALLOWED_PEER_IPS.*one family/],
    [{ TURN_PORT: "0" }, /TURN_PORT/],
    [{ TURN_PORT: "abc" }, /TURN_PORT/],
    [{ TURN_MIN_PORT: "50000", TURN_MAX_PORT: "40000" }, /TURN_MIN_PORT must be <= TURN_MAX_PORT/],
    [{ TURN_PORT: "50000" }, /TURN_PORT must lie outside the relay port range/],
    [{ TURN_TLS_CERT: "/etc/cert.pem" }, /TURN_TLS_CERT and TURN_TLS_KEY go together/],
    [{ TURN_TLS_CERT: CERT, TURN_TLS_KEY: KEY, TURN_TLS_PORT: "3478" }, /TURN_TLS_PORT must differ/],
    [{ TURN_TLS_CERT: CERT, TURN_TLS_KEY: KEY, TURN_TLS_PORT: "50000" }, /TURN_TLS_PORT must lie outside the relay port range/],
    [{ TURN_TLS_PORT: "443" }, /TURN_TLS_PORT needs TURN_TLS_CERT and TURN_TLS_KEY/],
    [{ TURN_TLS_PORT: "443", TURN_TLS_CERT: CERT }, /TURN_TLS_CERT and TURN_TLS_KEY go together/],
    [{ TURN_TLS_PORT: "0", TURN_TLS_CERT: CERT, TURN_TLS_KEY: KEY }, /TURN_TLS_PORT/],
    [{ TURN_TLS_CERT: join(pemDir, "missing.pem"), TURN_TLS_KEY: KEY }, /TURN_TLS_CERT \S+missing\.pem does not exist/],
    [{ TURN_TLS_CERT: CERT, TURN_TLS_KEY: pemDir }, /TURN_TLS_KEY \S+ is not a regular file/],
    [{ TURN_REALM: "two words" }, /TURN_REALM must be printable ASCII without spaces/],
    [{ TURN_REALM: "a\nno-auth" }, /TURN_REALM/],
    [{ TURN_REALM: "x#y" }, /TURN_REALM must not contain '#'/],
    [{ TURN_ALLOW_LOOPBACK_PEERS: "1" }, /TURN_ALLOW_LOOPBACK_PEERS is for local development only/],
    [{ TURN_ALLOW_LOOPBACK_PEERS: "yes" }, /TURN_ALLOW_LOOPBACK_PEERS/],
    [{ TURN_LOG: "verbose" }, /TURN_LOG/],
  ])("rejects %o with a clear message", (env, msg) => {
    expect(errorOf({ TURN_SECRET: SECRET, ...env })).toMatch(msg);
  });

  it("refuses a secret that could inject config directives", () => {
    expect(errorOf({ TURN_SECRET: SECRET + "\nno-auth" })).toMatch(/TURN_SECRET must be printable ASCII/);
    expect(errorOf({ TURN_ENV: "development", TURN_SECRET: "a b" })).toMatch(/TURN_SECRET must be printable ASCII/);
  });

  it("lists every problem at once", () => {
    const m = errorOf({ TURN_PORT: "x", TURN_REALM: "a b" });
    expect(m).toMatch(/TURN_PORT/);
    expect(m).toMatch(/TURN_REALM/);
  });
});

describe("turnserver.conf rendering", () => {
  it("renders the required hardening directives by default", () => {
    const d = directives(render(loadCoturnConfig({ TURN_SECRET: SECRET })));
    for (const line of [
      "use-auth-secret",
      `static-auth-secret=${SECRET}`,
      "realm=parley",
      "listening-port=3478",
      "min-port=49152",
      "max-port=65535",
      "no-cli",
      "no-tlsv1",
      "no-tlsv1_1",
      "fingerprint",
      "no-multicast-peers",
      "no-tcp-relay",
      "no-software-attribute",
      "no-tls",
      "no-dtls",
      "user-quota=64",
      "total-quota=4000",
      "userdb=:memory:",
      "no-dynamic-ip-list",
      "pidfile=/tmp/x/turnserver.pid",
      "log-file=stdout",
      "simple-log",
    ]) {
      expect(d, line).toContain(line);
    }
    for (const range of [
      "10.0.0.0-10.255.255.255",
      "172.16.0.0-172.31.255.255",
      "192.168.0.0-192.168.255.255",
      "100.64.0.0-100.127.255.255",
      "127.0.0.0-127.255.255.255",
      "169.254.0.0-169.254.255.255",
      "0.0.0.0-0.255.255.255",
      "240.0.0.0-255.255.255.255",
      "::1",
      "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]) {
      expect(d).toContain(`denied-peer-ip=${range}`);
    }
    // coturn 4.6.1 treats a range starting at "::" as matching every IPv4 peer (see template).
    expect(d).not.toContain("denied-peer-ip=::");
    for (const absent of [/^allow-loopback-peers/, /^allowed-peer-ip/, /^verbose/i, /^log-binding/, /^listening-ip/, /^cert=/]) {
      expect(d.filter((l) => absent.test(l))).toEqual([]);
    }
    expect(d.filter((l) => /\{\{|@@/.test(l))).toEqual([]);
  });

  it("renders listeners, relay/external IPs, TLS, quotas and peer allowances from env", () => {
    const d = directives(
      render(
        loadCoturnConfig({
          TURN_ENV: "development",
          TURN_SECRET: SECRET,
          TURN_REALM: "turn.example.org",
          TURN_LISTEN_IPS: "10.0.0.5, 2001:db8::5",
          TURN_PORT: "3479",
          TURN_RELAY_IPS: "10.0.0.5",
          TURN_EXTERNAL_IPS: "203.0.113.9/10.0.0.5",
          TURN_MIN_PORT: "40000",
          TURN_MAX_PORT: "41000",
          TURN_TLS_CERT: CERT,
          TURN_TLS_KEY: KEY,
          TURN_TLS_PORT: "443",
          TURN_USER_QUOTA: "5",
          TURN_TOTAL_QUOTA: "100",
          TURN_MAX_BPS: "500000",
          TURN_ALLOWED_PEER_IPS: "10.0.0.7,10.0.1.0-10.0.1.255",
          TURN_ALLOW_LOOPBACK_PEERS: "1",
          TURN_LOG: "off",
        }),
      ),
    );
    expect(d).toEqual(
      expect.arrayContaining([
        "realm=turn.example.org",
        "listening-ip=10.0.0.5",
        "listening-ip=2001:db8::5",
        "listening-port=3479",
        "relay-ip=10.0.0.5",
        "external-ip=203.0.113.9/10.0.0.5",
        "min-port=40000",
        "max-port=41000",
        "tls-listening-port=443",
        `cert=${CERT}`,
        `pkey=${KEY}`,
        "user-quota=5",
        "total-quota=100",
        "max-bps=500000",
        "allow-loopback-peers",
        "allowed-peer-ip=127.0.0.1",
        "allowed-peer-ip=10.0.0.7",
        "allowed-peer-ip=10.0.1.0-10.0.1.255",
        "log-file=/dev/null",
        "no-stdout-log",
      ]),
    );
    expect(d).not.toContain("no-tls");
    expect(d).not.toContain("log-file=stdout");
    // allowances come before the denied ranges (coturn checks allowed-peer-ip first anyway)
    expect(d.indexOf("allowed-peer-ip=10.0.0.7")).toBeLessThan(d.findIndex((l) => l.startsWith("denied-peer-ip=")));
  });

  it("TLS: the default port is 5349 (RFC 8656 §3.1); TLS 1.2+ only either way; without TLS config: no-tls/no-dtls", () => {
    const tls = loadCoturnConfig({ TURN_SECRET: SECRET, TURN_TLS_CERT: CERT, TURN_TLS_KEY: KEY });
    expect(tls.tls).toEqual({ cert: CERT, key: KEY, port: 5349 });
    const d = directives(render(tls));
    expect(d).toEqual(expect.arrayContaining(["tls-listening-port=5349", `cert=${CERT}`, `pkey=${KEY}`, "no-tlsv1", "no-tlsv1_1"]));
    expect(d).not.toContain("no-tls");
    expect(d).not.toContain("no-dtls");
    const plain = directives(render(loadCoturnConfig({ TURN_SECRET: SECRET })));
    expect(plain).toEqual(expect.arrayContaining(["no-tls", "no-dtls", "no-tlsv1", "no-tlsv1_1"]));
    expect(plain.filter((l) => /^(tls-listening-port|cert|pkey)=/.test(l))).toEqual([]);
  });

  it.skipIf(process.getuid?.() === 0)("refuses a PEM file the process cannot read (not testable as root)", () => {
    const locked = join(pemDir, "locked.key");
    writeFileSync(locked, "x", { mode: 0o000 });
    chmodSync(locked, 0o000);
    expect(errorOf({ TURN_SECRET: SECRET, TURN_TLS_CERT: CERT, TURN_TLS_KEY: locked })).toMatch(/TURN_TLS_KEY \S+locked\.key is not readable/);
  });

  it("keeps template and renderer in step", () => {
    const cfg = loadCoturnConfig({ TURN_SECRET: SECRET });
    expect(() => renderTurnserverConf(template + "\nfoo={{NOPE}}", cfg, { pidfile: "/p" })).toThrow(/unknown value \{\{NOPE\}\}/);
    expect(() => renderTurnserverConf(template + "\n@@NOPE@@", cfg, { pidfile: "/p" })).toThrow(/unknown block @@NOPE@@/);
    expect(() => renderTurnserverConf(template.replace("@@TLS@@", ""), cfg, { pidfile: "/p" })).toThrow(/not used: TLS/);
  });

  it("never renders a line break inside a directive, whatever the (valid) input", () => {
    for (let i = 0; i < 50; i++) {
      const secret = randomBytes(40).toString("base64");
      const conf = render(loadCoturnConfig({ TURN_SECRET: secret, TURN_REALM: randomBytes(6).toString("hex") }));
      expect(directives(conf).filter((l) => l.startsWith("static-auth-secret="))).toEqual([`static-auth-secret=${secret}`]);
    }
  });
});
