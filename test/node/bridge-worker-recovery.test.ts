/**
 * A mediasoup worker process that dies (SIGKILL, as the kernel's OOM killer or a crash would end it), with real
 * components: the real bridge process, its real worker, two headless Chromium pages running mediasoup-client
 * (bridge-host/test-client/page.ts). The contract (bridge-host/PROTOCOL.md "Media worker restarts"):
 *  - the pool replaces the worker at once, by its spare worker process (started ahead), on the same RTC port, and
 *    starts a new spare;
 *  - every room on it is told `roomClosing {reason: "worker-died"}`, its sockets close with 4503 "media restarted",
 *    and the room is recreated at once under the same name and URL;
 *  - the pages connect again (as on a first connect) and get their media back within 2 s of the death;
 *  - with two workers, only the dead worker's rooms are touched, and they come back on the live one at once.
 */
import type { Page } from "playwright-core";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintGrant } from "../../contract/grants";
import { startBrowserHarness, type BrowserHarness } from "./helpers/bridge-browser";
import { workerPids } from "./helpers/bridge-failover";
import { startBridge, waitFor, type BridgeHandle } from "./helpers/bridge-harness";

type Inbound = { kind: string; framesDecoded?: number };
type JoinOpts = { wsUrl: string; grant: string; produce: boolean };
type Parley = {
  join(o: JoinOpts): Promise<void>;
  inbound(): Promise<Inbound[]>;
  closed(): { code: number; reason: string } | undefined;
  notes(): { method: string; data: Record<string, unknown> }[];
};
type G = { parley: Parley }; // the page's global (page.ts); evaluated callbacks run in the page
const pageJoin = (page: Page, o: JoinOpts) => page.evaluate((o) => (globalThis as unknown as G).parley.join(o), o);

/** A signaling connection with a receive transport: the RTC port of its room's worker (from the candidates), its close. */
async function connectRecv(bridge: BridgeHandle, room: string) {
  const { wsUrl } = (await (await bridge.call("POST", "/v1/rooms", { room })).json()) as { wsUrl: string };
  const ws = new WebSocket(`${wsUrl}?grant=${await mintGrant(bridge.secret, room, "w")}`);
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
  const port = new Promise<number>((resolve, reject) => {
    ws.on("message", (d) => {
      const m = JSON.parse(String(d)) as { response?: boolean; data?: { iceCandidates: { port: number }[] } };
      if (m.response) resolve(m.data!.iceCandidates[0]!.port);
    });
    ws.once("open", () => ws.send(JSON.stringify({ id: 1, method: "createWebRtcTransport", data: { direction: "recv" } })));
    ws.once("error", reject);
  });
  return { ws, closed, port: await port };
}

/** Decoded video frames on the page's current receive transport (the best inbound video stream). */
async function framesDecoded(page: Page): Promise<number> {
  const s = await page.evaluate(() => (globalThis as unknown as G).parley.inbound());
  return Math.max(0, ...s.filter((x) => x.kind === "video").map((x) => x.framesDecoded ?? 0));
}

describe("bridge host: a mediasoup worker that dies is replaced and its rooms come back", () => {
  let bridge: BridgeHandle;
  let browser: BrowserHarness;

  beforeAll(async () => {
    [bridge, browser] = await Promise.all([startBridge({ env: { WORKERS: "1" } }), startBrowserHarness()]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await bridge?.stop();
  });

  it("media flows again within 2 s of a SIGKILL of the room's worker", { timeout: 180_000 }, async () => {
    const room = "recovery-room";
    const res = await bridge.call("POST", "/v1/rooms", { room });
    expect(res.status).toBe(200);
    const { wsUrl } = (await res.json()) as { wsUrl: string };
    const alice = await browser.newPage();
    const bob = await browser.newPage();
    const join = async (page: Page, nick: string, produce: boolean) =>
      pageJoin(page, { wsUrl, grant: await mintGrant(bridge.secret, room, nick), produce });
    await join(alice, "alice", true);
    await join(bob, "bob", false);
    await waitFor("Bob to decode Alice's video", async () => (await framesDecoded(bob)) > 10, 90_000, 250);

    const [before, spare, ...more] = workerPids(bridge.process.pid!);
    expect(before).toBeGreaterThan(0);
    expect(spare).toBeGreaterThan(0);
    expect(more).toEqual([]);
    // Grants are fetched from the room ahead (as a page holding a recent one would); they live 60 s.
    const grants = { alice: await mintGrant(bridge.secret, room, "alice"), bob: await mintGrant(bridge.secret, room, "bob") };
    const killedAt = Date.now();
    process.kill(before!, "SIGKILL");

    // Each page connects again as soon as its socket closes (what the web app does on 4503).
    const rejoin = async (page: Page, nick: "alice" | "bob", produce: boolean) => {
      const closed = await waitFor(`${nick}'s socket to close`, () => page.evaluate(() => (globalThis as unknown as G).parley.closed()), 10_000, 20);
      const at = Date.now() - killedAt;
      await pageJoin(page, { wsUrl, grant: grants[nick], produce });
      return { closed, at };
    };
    const [a, b] = await Promise.all([rejoin(alice, "alice", true), rejoin(bob, "bob", false)]);
    expect(a.closed).toEqual({ code: 4503, reason: "media restarted" });
    expect(b.closed).toEqual({ code: 4503, reason: "media restarted" });
    await waitFor("Bob to decode Alice's video again", async () => (await framesDecoded(bob)) > 0, 30_000, 25);
    const backAfterMs = Date.now() - killedAt;
    console.log(`worker killed: sockets closed after ${a.at}/${b.at} ms, Bob decodes Alice's video again after ${backAfterMs} ms`);

    // The spare took the dead worker's place (no new process to wait for), and a new spare is started.
    const [after] = workerPids(bridge.process.pid!);
    expect(after).toBe(spare);
    await waitFor("a new spare", async () => workerPids(bridge.process.pid!).length === 2);
    expect(bridge.output()).toMatch(/"worker\.replaced".*"spare":true/);
    const notes = await bob.evaluate(() => (globalThis as unknown as G).parley.notes());
    expect(notes.some((n) => n.method === "peerJoined" && n.data.nick === "alice")).toBe(true);
    const health = (await (await bridge.call("GET", "/health")).json()) as Record<string, number>;
    expect(health).toMatchObject({ workers: 1, rooms: 1, peers: 2 });
    expect(bridge.output()).toContain("worker.replaced");
    expect(backAfterMs).toBeLessThanOrEqual(2000);
  });

  it("with two workers, only the dead worker's room restarts, at once on the live worker; the pool is whole again", { timeout: 120_000 }, async () => {
    const two = await startBridge({ env: { WORKERS: "2" } });
    try {
      const connect = (room: string) => connectRecv(two, room);
      const a = await connect("two-a");
      const b = await connect("two-b");
      expect([a.port, b.port].sort()).toEqual([two.rtcPort, two.rtcPort + 1]);
      // Workers are spawned in index order, then the spare: the oldest process serves RTC_PORT + 0.
      const pids = workerPids(two.process.pid!);
      expect(pids).toHaveLength(3);
      const [onFirst, onSecond] = a.port === two.rtcPort ? [a, b] : [b, a];
      process.kill(pids[0]!, "SIGKILL");
      expect(await onFirst.closed).toEqual({ code: 4503, reason: "media restarted" });
      const again = await connect(onFirst === a ? "two-a" : "two-b");
      expect(again.port).toBe(two.rtcPort + 1); // on the live worker, not waiting for the replacement
      expect(onSecond.ws.readyState).toBe(WebSocket.OPEN);
      await waitFor("the replacement worker", async () => {
        const h = (await (await two.call("GET", "/health")).json()) as { workers: number; rooms: number };
        return h.workers === 2 && h.rooms === 2 && workerPids(two.process.pid!).length === 3;
      });
      expect(workerPids(two.process.pid!)).not.toContain(pids[0]);
      expect(workerPids(two.process.pid!)).toContain(pids[2]); // the spare, now worker 0
      for (const c of [onSecond, again]) c.ws.close();
    } finally {
      await two.stop();
    }
  });

  it("a room the edge deletes while it is being recreated stays deleted", { timeout: 60_000 }, async () => {
    const c = await connectRecv(bridge, "deleted-meanwhile");
    const rooms = async () => ((await (await bridge.call("GET", "/health")).json()) as { rooms: number }).rooms;
    const before = await rooms();
    const recreated = () => bridge.output().split("room.recreated").length - 1;
    const recreatedBefore = recreated();
    const [pid] = workerPids(bridge.process.pid!);
    process.kill(pid!, "SIGKILL");
    expect(await c.closed).toEqual({ code: 4503, reason: "media restarted" });
    expect((await bridge.call("DELETE", "/v1/rooms/deleted-meanwhile")).status).toBeLessThan(300);
    // Every room of the dead worker is recreated (this one too: the deletion closes it once it exists).
    await waitFor("the rooms to be recreated", () => recreated() === recreatedBefore + before);
    expect(await rooms()).toBe(before - 1); // the other rooms on the worker came back; this one did not
  });
});
