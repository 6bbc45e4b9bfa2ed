/**
 * The coturn env schema, the template rendering, log masking and the STUN probe codec (pure, no coturn process).
 * The rendered file is exercised against real coturn in coturn.test.ts.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { describe, expect, it } from "vitest";
import { CoturnConfigError, loadCoturnConfig, renderTurnserverConf, type CoturnConfig } from "../../bridge-host/coturn/config";
import { TEMPLATE_PATH, probeHost } from "../../bridge-host/coturn/launcher";
import { MASK, redactAddresses } from "../../bridge-host/coturn/log-redact";
import { bindingRequest, isBindingSuccess } from "../../bridge-host/coturn/stun-probe";
import {
  Attr,
  Class,
  decode,
  decodeXorAddress,
  encode,
  encodeXorAddress,
  errorCode,
  longTermKey,
  messageType,
  Method,
  StunError,
  StunStream,
  verifyIntegrity,
} from "../../bridge-host/coturn/stun-client";
import { Duplex } from "node:stream";
import { DEV_SECRETS } from "../../workers/config";

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
    // the edge's other rules (workers/config.ts)
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
      "user-quota=32",
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

describe("log masking", () => {
  it.each([
    ["0: : IPv4. Connected from: 127.0.0.1:51588", `0: : IPv4. Connected from: ${MASK}`],
    ["peer 192.168.1.20 denied", `peer ${MASK} denied`],
    ["from [2001:db8::1]:3478 ok", `from ${MASK} ok`],
    ["peer ::1 and fe80::1", `peer ${MASK} and ${MASK}`],
    ["mapped ::ffff:10.0.0.1 x", `mapped ${MASK} x`],
    ["full 2001:0db8:0000:0000:0000:ff00:0042:8329", `full ${MASK}`],
    ["range 10.0.0.0-10.255.255.255", `range ${MASK}-${MASK}`],
  ])("masks %s", (line, masked) => {
    expect(redactAddresses(line)).toBe(masked);
  });

  it.each([
    "0: : Total General servers: 2",
    "12:34:56 std::string v1.2.3",
    "check_stun_auth: Cannot find credentials of user <1795719780>",
    "Version Coturn-4.6.1 'Gorst'",
  ])("leaves %s alone", (line) => {
    expect(redactAddresses(line)).toBe(line);
  });
});

describe("STUN binding probe codec (RFC 8489 §5, §6)", () => {
  it("builds a 20-byte Binding request with the magic cookie", () => {
    const tid = randomBytes(12);
    const b = bindingRequest(tid);
    expect(b.length).toBe(20);
    expect(b.readUInt16BE(0)).toBe(0x0001);
    expect(b.readUInt16BE(2)).toBe(0);
    expect(b.readUInt32BE(4)).toBe(0x2112a442);
    expect(b.subarray(8).equals(tid)).toBe(true);
    expect(() => bindingRequest(randomBytes(8))).toThrow(TypeError);
  });

  it("accepts only a success response with our transaction id", () => {
    const tid = randomBytes(12);
    const ok = bindingRequest(tid);
    ok.writeUInt16BE(0x0101, 0);
    expect(isBindingSuccess(ok, tid)).toBe(true);
    expect(isBindingSuccess(ok, randomBytes(12))).toBe(false);
    const err = Buffer.from(ok);
    err.writeUInt16BE(0x0111, 0);
    expect(isBindingSuccess(err, tid)).toBe(false);
    expect(isBindingSuccess(ok.subarray(0, 19), tid)).toBe(false);
  });

  it("probes a listener address, loopback for wildcard listeners", () => {
    expect(probeHost(loadCoturnConfig({ TURN_SECRET: SECRET }))).toBe("127.0.0.1");
    expect(probeHost(loadCoturnConfig({ TURN_SECRET: SECRET, TURN_LISTEN_IPS: "0.0.0.0" }))).toBe("127.0.0.1");
    expect(probeHost(loadCoturnConfig({ TURN_SECRET: SECRET, TURN_LISTEN_IPS: "::" }))).toBe("::1");
    expect(probeHost(loadCoturnConfig({ TURN_SECRET: SECRET, TURN_LISTEN_IPS: "10.1.1.1,::1" }))).toBe("10.1.1.1");
  });
});

// RFC 5769 test vectors (short-term credential password "VOkJxbRl1RmTxUk/WvJxBt").
const RFC5769_REQUEST =
  "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf";
const RFC5769_IPV4_RESPONSE =
  "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96";
const RFC5769_KEY = Buffer.from("VOkJxbRl1RmTxUk/WvJxBt");

describe("STUN/TURN stream client codec (bridge-host/coturn/stun-client.ts)", () => {
  it("RFC 5769 §2.1 sample request: decodes, MESSAGE-INTEGRITY verifies, USERNAME read", () => {
    const m = decode(Buffer.from(RFC5769_REQUEST, "hex"));
    expect([m.method, m.cls]).toEqual([Method.Binding, Class.Request]);
    expect(m.transactionId.toString("hex")).toBe("b7e7a701bc34d686fa87dfae");
    expect(m.attributes.find((a) => a.type === Attr.USERNAME)?.value.toString()).toBe("evtj:h6vY");
    expect(verifyIntegrity(m, RFC5769_KEY)).toBe(true);
    expect(verifyIntegrity(m, Buffer.from("wrong"))).toBe(false);
  });

  it("RFC 5769 §2.2 sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853, integrity checked, tampering detected", () => {
    const raw = Buffer.from(RFC5769_IPV4_RESPONSE, "hex");
    const m = decode(raw);
    expect([m.method, m.cls]).toEqual([Method.Binding, Class.Success]);
    const x = m.attributes.find((a) => a.type === Attr.XOR_MAPPED_ADDRESS)!.value;
    expect(decodeXorAddress(x, m.transactionId)).toEqual({ family: 4, address: "192.0.2.1", port: 32853 });
    expect(encodeXorAddress({ address: "192.0.2.1", port: 32853 }, m.transactionId).equals(x)).toBe(true);
    expect(verifyIntegrity(m, RFC5769_KEY)).toBe(true);
    const tampered = Buffer.from(raw);
    tampered[40] = tampered[40]! ^ 1; // inside XOR-MAPPED-ADDRESS
    expect(verifyIntegrity(decode(tampered), RFC5769_KEY)).toBe(false);
  });

  it("encodes messages whose MESSAGE-INTEGRITY verifies; message types per RFC 8489 §5 / RFC 8656 §17", () => {
    const key = longTermKey("1700086400", "parley", "pw");
    expect(key.toString("hex")).toBe(createHash("md5").update("1700086400:parley:pw").digest("hex"));
    const tid = randomBytes(12);
    const raw = encode({ method: Method.Allocate, cls: Class.Request, transactionId: tid, attributes: [{ type: Attr.USERNAME, value: Buffer.from("abcde") }] }, key);
    expect(raw.length % 4).toBe(0);
    const m = decode(raw);
    expect(m.attributes.map((a) => a.type)).toEqual([Attr.USERNAME, Attr.MESSAGE_INTEGRITY]);
    expect(m.attributes[0]!.value.toString()).toBe("abcde");
    expect(verifyIntegrity(m, key)).toBe(true);
    expect(verifyIntegrity(m, longTermKey("1700086400", "parley", "pW"))).toBe(false);
    expect(messageType(Method.Allocate, Class.Request)).toBe(0x0003);
    expect(messageType(Method.Allocate, Class.Success)).toBe(0x0103);
    expect(messageType(Method.Allocate, Class.Error)).toBe(0x0113);
    expect(messageType(Method.CreatePermission, Class.Request)).toBe(0x0008);
    expect(messageType(Method.Send, Class.Indication)).toBe(0x0016);
    expect(messageType(Method.Data, Class.Indication)).toBe(0x0017);
  });

  it("XOR addresses round-trip for IPv4 and IPv6; ERROR-CODE decodes; malformed input is refused", () => {
    const tid = randomBytes(12);
    for (const a of [{ address: "127.0.0.1", port: 3478 }, { address: "2001:db8::1", port: 443 }, { address: "::1", port: 65535 }]) {
      const v = encodeXorAddress(a, tid);
      expect(decodeXorAddress(v, tid)).toEqual({ family: a.address.includes(":") ? 6 : 4, ...a });
    }
    const err = decode(encode({ method: Method.Allocate, cls: Class.Error, transactionId: tid, attributes: [{ type: Attr.ERROR_CODE, value: Buffer.concat([Buffer.from([0, 0, 4, 1]), Buffer.from("Unauthorized")]) }] }));
    expect(errorCode(err)).toEqual({ code: 401, reason: "Unauthorized" });
    const good = Buffer.from(RFC5769_IPV4_RESPONSE, "hex");
    const badCookie = Buffer.from(good);
    badCookie[4] = 0;
    expect(() => decode(badCookie)).toThrow(/magic cookie/);
    expect(() => decode(good.subarray(0, good.length - 4))).toThrow(StunError);
    expect(() => decode(good.subarray(0, 10))).toThrow(StunError);
    expect(() => decodeXorAddress(Buffer.from([0, 3, 0, 0, 1, 2, 3, 4]), tid)).toThrow(StunError);
  });

  it("frames a byte stream into messages however it is split, and matches responses by transaction id", async () => {
    const written: Buffer[] = [];
    const sock = new Duplex({ read() {}, write(chunk: Buffer, _enc, cb) { written.push(chunk); cb(); } });
    const stream = new StunStream(sock);
    const done = stream.binding(5000);
    const req = decode(written[0]!);
    expect([req.method, req.cls]).toEqual([Method.Binding, Class.Request]);
    const reply = (mapped: { address: string; port: number }, tid: Buffer) =>
      encode({ method: Method.Binding, cls: Class.Success, transactionId: tid, attributes: [{ type: Attr.XOR_MAPPED_ADDRESS, value: encodeXorAddress(mapped, tid) }] });
    // a ChannelData frame (ignored), a response to someone else, then ours, delivered one byte at a time
    const bytes = Buffer.concat([
      Buffer.from([0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0]),
      reply({ address: "10.0.0.1", port: 1 }, randomBytes(12)),
      reply({ address: "192.0.2.7", port: 4242 }, req.transactionId),
    ]);
    for (const b of bytes) sock.push(Buffer.from([b]));
    expect((await done).mapped).toEqual({ family: 4, address: "192.0.2.7", port: 4242 });
    // garbage fails the waiters with a clear error
    const next = stream.binding(5000);
    sock.push(Buffer.from([0xff, 0, 0, 0]));
    await expect(next).rejects.toThrow(/neither STUN nor ChannelData/);
  });
});
