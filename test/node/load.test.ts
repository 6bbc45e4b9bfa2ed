/**
 * Many small rooms at once, on the real servers (`npm run bench:load` runs the same at full size and prints the
 * figures for docs/benchmarks.md): synthetic XMPP clients in 40 rooms of three on `wrangler dev`, and 10 rooms of
 * three peers with their transports on one bridge host (real mediasoup). Everyone gets in, every groupchat message
 * reaches every occupant, nobody is cut off, and memory grows by a bounded amount per room.
 */
import { describe, expect, it } from "vitest";
import { bridgeHostLoad, signalingLoad } from "./helpers/load";

/** Twice what the full-size bench measures per room (docs/benchmarks.md "Load"): the local runtime's ~1.8 MiB. */
const EDGE_BYTES_PER_ROOM = 4 * 1024 * 1024;
/** The mediasoup worker's ~155 KiB per room of three peers with two transports each, with room to spare. */
const WORKER_BYTES_PER_ROOM = 512 * 1024;

describe("load: many small rooms at once", () => {
  it("signaling: 40 rooms of three join, every message reaches every occupant, memory per room bounded", { timeout: 240_000 }, async () => {
    const rooms = 40;
    const r = await signalingLoad({ rooms, occupants: 3, messages: 3, rate: 100, concurrency: 10 });
    console.log(
      `signaling load: ${rooms} rooms x 3 joined in ${r.joinWallS.toFixed(1)} s; ${r.delivered}/${r.expected} delivered; workerd ${Math.round((r.rssLoaded - r.rssBase) / rooms / 1024)} KiB per room`,
    );
    expect(r.joinMs).toHaveLength(rooms * 3);
    expect(r.closedByServer).toBe(0);
    expect(r.delivered).toBe(r.expected);
    expect((r.rssLoaded - r.rssBase) / rooms).toBeLessThan(EDGE_BYTES_PER_ROOM);
  });

  it("bridge host: 10 rooms of three peers with their transports on one worker, memory per room bounded", { timeout: 240_000 }, async () => {
    const rooms = 10;
    const r = await bridgeHostLoad({ rooms, peers: 3 });
    console.log(`bridge load: ${rooms} rooms x 3 peers; worker ${Math.round((r.workerLoaded - r.workerBase) / rooms / 1024)} KiB per room`);
    expect(r.createMs).toHaveLength(rooms);
    expect(r.requestMs).toHaveLength(rooms * 3 * 3);
    expect(r.health).toMatchObject({ ok: true, rooms, peers: rooms * 3, transports: rooms * 6 });
    expect(r.workerLoaded).toBeGreaterThan(0);
    expect((r.workerLoaded - r.workerBase) / rooms).toBeLessThan(WORKER_BYTES_PER_ROOM);
  });
});
