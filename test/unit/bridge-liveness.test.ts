/**
 * The web app's bridge liveness watch (workers/web/src/call/bridge-signaling.ts `watch`) over a real WebSocket pair
 * in the Workers runtime: a bridge that stops answering is reported as stalled within a second, once; a ping whose
 * deadline ran late because the page was busy counts for nothing (several busy pages at once would otherwise look
 * like most of the room reporting a healthy bridge, which moves the call).
 */
import { describe, expect, it } from "vitest";
import { Signaling, tellsStall } from "../../workers/web/src/call/bridge-signaling";

/** A bridge end that answers pings while `answering` (as bridge-host/src/signaling does). */
function pair() {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  client.accept();
  const bridge = { answering: true };
  server.addEventListener("message", (ev) => {
    const m = JSON.parse(String(ev.data)) as { id: number; method: string };
    if (bridge.answering && m.method === "ping") server.send(JSON.stringify({ response: true, id: m.id, ok: true, data: {} }));
  });
  return { sig: new Signaling(client as unknown as WebSocket), bridge, close: () => client.close(1000, "done") };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("bridge liveness watch", () => {
  it("a bridge that stops answering is reported stalled once, within a second", async () => {
    const { sig, bridge, close } = pair();
    const stalls: number[] = [];
    const watch = sig.watch(() => stalls.push(Date.now()));
    await sleep(600);
    expect(stalls).toEqual([]); // answering: no stall
    const frozeAt = Date.now();
    bridge.answering = false;
    await sleep(1600);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]! - frozeAt).toBeLessThan(1100);
    watch.stop();
    close();
  });

  it("a ping whose deadline ran late (the page was busy, the answer perhaps unread) tells nothing", () => {
    expect(tellsStall(1000, 1000 + 750)).toBe(true);
    // a background tab: its timers run once a second, so a second late is no sign of a busy page
    expect(tellsStall(1000, 1000 + 1750)).toBe(true);
    expect(tellsStall(1000, 1000 + 2100)).toBe(false);
    expect(tellsStall(1000, 1000 + 4000)).toBe(false);
  });
});
