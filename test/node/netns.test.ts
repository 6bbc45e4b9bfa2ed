/**
 * The network-namespace test infrastructure (helpers/netns.ts) against the real kernel: traffic crosses the link,
 * a link taken down stops it, a link back on a new subnet carries it from the new address, and the user-space
 * forwarder's loss, delay and the tbf rate limit are measured roughly as configured. Chromium runs inside.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import { createSocket, type Socket } from "node:dgram";
import { execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCoturnConfig } from "../../bridge-host/coturn/config";
import { startCoturn } from "../../bridge-host/coturn/launcher";
import { freeUdpTcpPort } from "../../bridge-host/coturn/ports";
import { startBridge } from "./helpers/bridge-harness";
import { launchBrowser } from "./helpers/browser";
import { createNetns, isRoot, type NetnsLink } from "./helpers/netns";
import { startEdge } from "./helpers/wrangler-dev";

if (!isRoot) console.warn("netns.test.ts: skipped: network namespaces and tun devices need root");

/** Round trips of `count` UDP probes sent every `gapMs` from inside the namespace to the host's echo server. */
async function udpProbe(link: NetnsLink, port: number, count: number, gapMs: number): Promise<{ received: number; rtts: number[] }> {
  const script = `
    const s = require("node:dgram").createSocket("udp4");
    const sent = new Map(); const rtts = [];
    s.on("message", (m) => { const t = sent.get(m.toString()); if (t !== undefined) { rtts.push(performance.now() - t); sent.delete(m.toString()); } });
    let i = 0;
    const tick = setInterval(() => {
      if (i === ${count}) { clearInterval(tick); setTimeout(() => { console.log(JSON.stringify({ received: rtts.length, rtts })); s.close(); }, 1500); return; }
      const id = String(i++); sent.set(id, performance.now()); s.send(id, ${port}, ${JSON.stringify(link.serviceAddress)});
    }, ${gapMs});`;
  const { stdout } = await link.exec(process.execPath, ["-e", script]);
  return JSON.parse(stdout) as { received: number; rtts: number[] };
}

/** An HTTP GET from inside the namespace (Node's fetch): status (0 = no connection), body bytes a second. */
async function httpGet(link: NetnsLink, url: string, maxTimeS = 3): Promise<{ code: number; speed: number }> {
  // Speed: body bytes over the time from the response's headers to its last byte (fetch's own start-up excluded).
  const script = `
    fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(${maxTimeS * 1000}) })
      .then(async (r) => { const t0 = performance.now(); const n = (await r.arrayBuffer()).byteLength; console.log(r.status, n / ((performance.now() - t0) / 1000)); })
      .catch(() => console.log(0, 0));`;
  const [code, speed] = (await link.exec(process.execPath, ["-e", script])).stdout.trim().split(" ");
  return { code: Number(code), speed: Number(speed) };
}

/** A STUN binding request (RFC 8489) from inside the namespace: the address the server saw (XOR-MAPPED-ADDRESS). */
async function stunMappedAddress(link: NetnsLink, host: string, port: number): Promise<string> {
  const script = `
    const s = require("node:dgram").createSocket("udp4");
    const req = Buffer.concat([Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]), require("node:crypto").randomBytes(12)]);
    s.on("message", (m) => {
      for (let i = 20; i + 4 <= m.length; ) {
        const t = m.readUInt16BE(i), l = m.readUInt16BE(i + 2);
        if (t === 0x20) { console.log([m[i + 8] ^ 0x21, m[i + 9] ^ 0x12, m[i + 10] ^ 0xa4, m[i + 11] ^ 0x42].join(".")); process.exit(0); }
        i += 4 + l + ((4 - (l % 4)) % 4);
      }
    });
    s.send(req, ${port}, ${JSON.stringify(host)});
    setTimeout(() => process.exit(1), 5000);`;
  return (await link.exec(process.execPath, ["-e", script])).stdout.trim();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

describe.skipIf(!isRoot)("network namespace link (needs root)", () => {
  let link: NetnsLink;
  let http: Server;
  let echo: Socket;
  let base: string;
  let udpPort: number;
  const seenFrom: string[] = [];

  beforeAll(async () => {
    link = await createNetns();
    http = createHttpServer((req, res) => {
      seenFrom.push(req.socket.remoteAddress ?? "");
      const bytes = Number(new URL(req.url ?? "/", "http://x").searchParams.get("bytes") ?? "2");
      res.writeHead(200, { "content-type": "text/plain", "access-control-allow-origin": "*" });
      res.end(Buffer.alloc(bytes, 0x61));
    });
    await new Promise<void>((r) => http.listen(0, link.serviceAddress, r));
    base = `http://${link.serviceAddress}:${(http.address() as AddressInfo).port}`;
    echo = createSocket("udp4");
    echo.on("message", (m, from) => echo.send(m, from.port, from.address));
    await new Promise<void>((r) => echo.bind(0, link.serviceAddress, r));
    udpPort = echo.address().port;
  });

  afterAll(async () => {
    // Connections from the namespace can outlive it half-open (the link is gone, so no FIN or RST ever comes):
    // close them outright rather than wait for them to end.
    http?.closeAllConnections();
    await new Promise((r) => (http ? http.close(r) : r(undefined)));
    echo?.close();
    await link?.close();
  });

  it("carries HTTP and UDP across; the host sees the namespace's own address", async () => {
    expect((await httpGet(link, `${base}/`)).code).toBe(200);
    expect(seenFrom.at(-1)).toBe(link.nsAddress);
    const probe = await udpProbe(link, udpPort, 50, 5);
    expect(probe.received).toBe(50);
  });

  it("link down: unreachable; back on a new subnet: reachable again, from the new address", async () => {
    const before = { ns: link.nsAddress, host: link.hostAddress };
    await link.linkDown();
    expect((await httpGet(link, `${base}/`, 2)).code).toBe(0);
    await link.linkUp({ newSubnet: true });
    expect(link.nsAddress).not.toBe(before.ns);
    expect(link.hostAddress).not.toBe(before.host);
    const { stdout } = await link.exec("ip", ["-4", "-o", "addr"]);
    expect(stdout).toContain(link.nsAddress);
    expect(stdout).not.toContain(before.ns);
    expect((await httpGet(link, `${base}/`)).code).toBe(200);
    expect(seenFrom.at(-1)).toBe(link.nsAddress);
    // outage(): the same in one call.
    const prev = link.nsAddress;
    await link.outage(300);
    expect(link.nsAddress).not.toBe(prev);
    expect((await httpGet(link, `${base}/`)).code).toBe(200);
  });

  it("drops and delays packets as configured (user-space forwarder)", { timeout: 60_000 }, async () => {
    const clean = await udpProbe(link, udpPort, 100, 5);
    const cleanRtt = median(clean.rtts);
    await link.impair({ lossPercent: 20, delayMs: 40 });
    const c0 = await link.counters();
    const probe = await udpProbe(link, udpPort, 400, 8);
    const c1 = await link.counters();
    await link.impair({ lossPercent: 0, delayMs: 0 });
    // 20 % each way: a round trip survives with 0.8 x 0.8 = 64 %.
    const lost = 1 - probe.received / 400;
    expect(lost).toBeGreaterThan(0.24);
    expect(lost).toBeLessThan(0.48);
    expect(c1.up.dropped - c0.up.dropped).toBeGreaterThan(40);
    expect(c1.down.dropped - c0.down.dropped).toBeGreaterThan(25);
    // 40 ms each way: 80 ms round trip on top of the clean one.
    const rtt = median(probe.rtts);
    expect(rtt - cleanRtt).toBeGreaterThan(75);
    expect(rtt - cleanRtt).toBeLessThan(180); // generous: a loaded machine adds scheduling delay
    const after = await udpProbe(link, udpPort, 50, 5);
    expect(after.received).toBe(50);
    expect(median(after.rtts)).toBeLessThan(60);
  });

  it("rate-limits with tc tbf", { timeout: 60_000 }, async () => {
    await link.rateLimit({ kbit: 2000, direction: "down" });
    const limited = await httpGet(link, `${base}/?bytes=600000`, 20);
    await link.rateLimit(null);
    const free = await httpGet(link, `${base}/?bytes=600000`, 20);
    expect(limited.code).toBe(200);
    const kbit = (limited.speed * 8) / 1000;
    expect(kbit).toBeGreaterThan(1200);
    expect(kbit).toBeLessThan(2300);
    expect(free.speed).toBeGreaterThan(limited.speed * 3);
  });

  it("runs Chromium inside the namespace; its requests stop while the link is down and resume on the new subnet", { timeout: 90_000 }, async () => {
    const browser = await launchBrowser({ executablePath: link.chromiumPath });
    try {
      const page = await browser.newPage();
      await page.goto(`${base}/?bytes=5`);
      expect(seenFrom.at(-1)).toBe(link.nsAddress);
      const get = () =>
        page.evaluate(
          `fetch(${JSON.stringify(base + "/")}, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0)`,
        ) as Promise<number>;
      expect(await get()).toBe(200);
      await link.linkDown();
      expect(await get()).toBe(0);
      await link.linkUp({ newSubnet: true });
      expect(await get()).toBe(200);
      expect(seenFrom.at(-1)).toBe(link.nsAddress);
    } finally {
      await browser.close();
    }
  });

  it("reaches wrangler dev, the bridge and coturn running on the host at the service address", { timeout: 180_000 }, async () => {
    const ip = link.serviceAddress;
    const min = 42000 + 1000 * Math.floor(Math.random() * 7);
    const turn = loadCoturnConfig({
      TURN_ENV: "development",
      TURN_SECRET: "netns-" + "x".repeat(40),
      TURN_LISTEN_IPS: ip,
      TURN_RELAY_IPS: ip,
      TURN_PORT: String(await freeUdpTcpPort({ min: 42000, max: 49999 })),
      TURN_MIN_PORT: String(min),
      TURN_MAX_PORT: String(min + 999),
    });
    const [edge, bridge, coturn] = await Promise.all([
      startEdge({ ip, timeoutMs: 120_000 }),
      startBridge({ env: { HTTP_HOST: ip, LISTEN_IP: ip, ANNOUNCED_ADDRESS: ip } }),
      startCoturn(turn, { onLog: () => {} }),
    ]);
    try {
      expect((await httpGet(link, `${edge.httpUrl}/healthz`, 10)).code).toBe(200);
      // the bridge's public listener (browsers' WebSockets; any other request gets 404); its control API stays on
      // the host's loopback, out of the namespace's reach
      expect(bridge.wsBaseUrl).toContain(ip);
      expect((await httpGet(link, `${bridge.wsBaseUrl.replace(/^ws/, "http")}/`, 10)).code).toBe(404);
      expect(await stunMappedAddress(link, ip, turn.port)).toBe(link.nsAddress);
    } finally {
      await Promise.all([edge.stop(), bridge.stop(), coturn.stop()]);
    }
  });

  it("tears down everything, twice without error", async () => {
    const other = await createNetns();
    const name = other.name;
    const service = other.serviceAddress;
    await other.close();
    await other.close();
    expect(execFileSync("ip", ["netns", "list"]).toString()).not.toContain(name);
    expect(execFileSync("ip", ["-4", "-o", "addr", "show", "dev", "lo"]).toString()).not.toContain(` ${service}/`);
  });

  it("a run killed outright leaves no link behind, and the next run removes its namespace and address", { timeout: 60_000 }, async () => {
    const helper = new URL("./helpers/netns.ts", import.meta.url).pathname;
    const devices = () => execFileSync("ip", ["-o", "link"]).toString();
    const tuns = () => new Set([...devices().matchAll(/^\d+: (pn[0-9a-f]{8}h)/gm)].map((m) => m[1]!));
    const before = tuns();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "-e", `import(${JSON.stringify(helper)}).then(async (m) => { const l = await m.createNetns(); console.log(JSON.stringify({ name: l.name, service: l.serviceAddress })); setInterval(() => {}, 1000); })`],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`helper process exited (${code})`)));
    });
    const { name, service } = JSON.parse(line) as { name: string; service: string };
    const linkDev = [...tuns()].find((d) => !before.has(d));
    expect(linkDev).toBeDefined();
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    // The forwarder saw its standard input close and exited: both tun devices are gone.
    for (let i = 0; i < 50 && devices().includes(linkDev!); i++) await new Promise((r) => setTimeout(r, 100));
    expect(devices()).not.toContain(linkDev!);
    expect(execFileSync("ip", ["netns", "list"]).toString()).toContain(name);
    const next = await createNetns();
    await next.close();
    expect(execFileSync("ip", ["netns", "list"]).toString()).not.toContain(name);
    expect(execFileSync("ip", ["-4", "-o", "addr", "show", "dev", "lo"]).toString()).not.toContain(` ${service}/`);
  });
});
