/**
 * MediaCoordinator decisions, with bridge hosts played by in-process HTTP handlers that verify every signed call for
 * real (contract/signed-request.ts). The end-to-end version with real bridge hosts is
 * test/node/bridge-switch.test.ts.
 */
import { describe, expect, it } from "vitest";
import { lobbyIdFor } from "../../contract/grants";
import { bridgeControlKey, NonceCache, verifyRequest } from "../../contract/signed-request";
import { BridgeControl } from "../../durable/bridge/control-client";
import {
  MediaCoordinator,
  PROBE_AGAIN_MS,
  PROBE_TIMEOUT_MS,
  REPORT_WINDOW_MS,
  REPORTS_PER_WINDOW,
  type MediaRecord,
} from "../../durable/bridge/media-coordinator";

const SECRET = "b".repeat(40);

interface HostState {
  alive: boolean;
  load: number;
  rooms: Set<string>;
  calls: string[];
  /** bodies of the calls that had one, in order */
  bodies: unknown[];
  /** while set, health answers wait for it (to see what is asked before the health check is answered) */
  healthGate?: Promise<void>;
}

/** A bridge host's control API as the real one checks it: its own key, its own authority (bridge-host/src/control/api.ts). */
function bridgeHost(base: string, state: HostState) {
  const nonces = new NonceCache();
  const key = bridgeControlKey(SECRET, base);
  return async (req: Request): Promise<Response> => {
    const u = new URL(req.url);
    const body = req.method === "GET" || req.method === "DELETE" ? "" : await req.text();
    const v = await verifyRequest(await key, req.method, new URL(base).host, u.pathname + u.search, body, req.headers, nonces);
    if (!v.ok) return new Response(v.reason, { status: 401 });
    if (!state.alive) throw new TypeError("connection refused");
    state.calls.push(`${req.method} ${u.pathname}`);
    if (body) state.bodies.push(JSON.parse(body));
    if (req.method === "POST" && /^\/v1\/rooms\/[^/]+\/(kick|lobby\/evict)$/.test(u.pathname)) {
      return u.pathname.endsWith("/kick") ? new Response(null, { status: 204 }) : Response.json({ closed: 1 });
    }
    if (u.pathname === "/health") {
      await state.healthGate;
      return Response.json({ ok: true, load: state.load });
    }
    if (req.method === "POST" && u.pathname === "/v1/rooms") {
      const { room } = JSON.parse(body) as { room: string };
      state.rooms.add(room);
      return Response.json({ room, wsUrl: `ws://${new URL(base).host}/v1/rooms/${room}/ws` });
    }
    const m = /^\/v1\/rooms\/([^/]+)$/.exec(u.pathname);
    if (req.method === "DELETE" && m) {
      state.rooms.delete(m[1]!);
      return new Response(null, { status: 204 });
    }
    return new Response("not found", { status: 404 });
  };
}

function setup(bridges: Record<string, { alive: boolean; load: number }>) {
  const states = Object.fromEntries(
    Object.entries(bridges).map(([b, s]): [string, HostState] => [b, { ...s, rooms: new Set<string>(), calls: [], bodies: [] }]),
  );
  const handlers = Object.fromEntries(Object.keys(states).map((b) => [b, bridgeHost(b, states[b]!)]));
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    const base = new URL(req.url).origin;
    const h = handlers[base];
    if (!h || !states[base]!.alive) throw new TypeError("connection refused");
    // as a real fetch: the caller's timeout aborts a request the host never answers
    const aborted = new Promise<never>((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason as Error)));
    return Promise.race([h(req), aborted]);
  }) as typeof fetch;
  let occupants = 0;
  let waiting = 0;
  let record: MediaRecord = { mode: "p2p" };
  const sent: { mode: string; url: string | null }[] = [];
  let check: number | undefined;
  const clock = { now: 1_000_000 };
  const coord = new MediaCoordinator(
    {
      room: "blue-fox",
      occupantCount: () => occupants,
      waitingCount: () => waiting,
      announce: async (mode, url) => {
        sent.push({ mode, url });
      },
      load: () => record,
      save: (r) => (record = r),
      scheduleCheck: (at) => (check = at),
    },
    {
      bridges: Object.keys(bridges),
      control: new BridgeControl({ secret: SECRET, fetch: fetchFn }),
      lobbyId: (session) => lobbyIdFor(SECRET, "blue-fox", session),
      now: () => clock.now,
    },
  );
  return {
    coord,
    clock,
    states,
    sent,
    setOccupants: (n: number) => (occupants = n),
    setWaiting: (n: number) => (waiting = n),
    record: () => record,
    check: () => check,
  };
}

describe("MediaCoordinator", () => {
  it("moves to the least-loaded bridge on the third occupant", async () => {
    const t = setup({ "http://a.test": { alive: true, load: 0.7 }, "http://b.test": { alive: true, load: 0.1 } });
    t.setOccupants(2);
    await t.coord.reconcile();
    expect(t.sent).toHaveLength(0);
    t.setOccupants(3);
    await t.coord.reconcile();
    expect(t.record()).toMatchObject({ mode: "bridge", bridge: { base: "http://b.test" } });
    expect(t.states["http://b.test"]!.rooms.has("blue-fox")).toBe(true);
    expect(t.sent).toEqual([{ mode: "bridge", url: "ws://b.test/v1/rooms/blue-fox/ws" }]);
    expect(t.check()).toBeGreaterThan(Date.now());
  });

  it("returns to p2p on the second leave and closes the bridge room", async () => {
    const t = setup({ "http://a.test": { alive: true, load: 0 } });
    t.setOccupants(3);
    await t.coord.reconcile();
    t.sent.length = 0;
    t.setOccupants(2);
    await t.coord.reconcile();
    expect(t.record()).toEqual({ mode: "p2p" });
    expect(t.sent).toEqual([{ mode: "p2p", url: null }]);
    expect(t.states["http://a.test"]!.rooms.size).toBe(0);
    expect(t.check()).toBeUndefined();
  });

  it("replaces a bridge that stops answering and re-announces", async () => {
    const t = setup({ "http://a.test": { alive: true, load: 0 }, "http://b.test": { alive: true, load: 0.5 } });
    t.setOccupants(3);
    await t.coord.reconcile();
    expect(t.record().bridge?.base).toBe("http://a.test");
    t.states["http://a.test"]!.alive = false;
    t.sent.length = 0;
    await t.coord.checkBridge();
    expect(t.record()).toMatchObject({ mode: "bridge", bridge: { base: "http://b.test" } });
    expect(t.sent).toEqual([{ mode: "bridge", url: "ws://b.test/v1/rooms/blue-fox/ws" }]);
  });

  describe("an occupant reports that the bridge does not answer it", () => {
    async function onBridgeA() {
      const t = setup({ "http://a.test": { alive: true, load: 0 }, "http://b.test": { alive: true, load: 0.5 } });
      t.setOccupants(3);
      await t.coord.reconcile();
      expect(t.record().bridge?.base).toBe("http://a.test");
      t.sent.length = 0;
      t.states["http://a.test"]!.calls.length = 0;
      return t;
    }
    const healthChecks = (t: Awaited<ReturnType<typeof onBridgeA>>) => t.states["http://a.test"]!.calls.filter((c) => c === "GET /health").length;

    it("a bridge that is down (refuses) is confirmed and replaced at once", async () => {
      const t = await onBridgeA();
      t.states["http://a.test"]!.alive = false;
      await t.coord.bridgeUnreachable("s1");
      expect(t.record()).toMatchObject({ mode: "bridge", bridge: { base: "http://b.test" } });
      expect(t.sent).toEqual([{ mode: "bridge", url: "ws://b.test/v1/rooms/blue-fox/ws" }]);
    });

    it("a frozen bridge (accepts, never answers) fails the quick check (PROBE_TIMEOUT_MS, not the usual timeout) and is replaced", async () => {
      const t = await onBridgeA();
      t.states["http://a.test"]!.healthGate = new Promise(() => undefined);
      const start = Date.now();
      await t.coord.bridgeUnreachable("s1");
      expect(Date.now() - start).toBeGreaterThanOrEqual(PROBE_TIMEOUT_MS - 50);
      expect(Date.now() - start).toBeLessThan(2500); // the control client's default is 3 s
      expect(t.record()).toMatchObject({ mode: "bridge", bridge: { base: "http://b.test" } });
    });

    it("a report while the regular check of a frozen bridge waits for its answer moves the call at once, not after that check's timeout", async () => {
      const t = await onBridgeA();
      t.states["http://a.test"]!.healthGate = new Promise(() => undefined);
      const regular = t.coord.checkBridge(); // waits up to the control client's timeout (3 s)
      await new Promise((r) => setTimeout(r, 50));
      const start = Date.now();
      await t.coord.bridgeUnreachable("s1");
      expect(Date.now() - start).toBeLessThan(PROBE_TIMEOUT_MS + 1000);
      expect(t.record()).toMatchObject({ mode: "bridge", bridge: { base: "http://b.test" } });
      expect(t.sent).toEqual([{ mode: "bridge", url: "ws://b.test/v1/rooms/blue-fox/ws" }]);
      await regular; // finds the room moved meanwhile: nothing more
      expect(t.sent).toHaveLength(1);
    });

    it("while the reported bridge is checked, the other bridge's health and the room there are already asked for", async () => {
      const t = await onBridgeA();
      t.states["http://a.test"]!.healthGate = new Promise(() => undefined); // frozen
      const b = t.states["http://b.test"]!;
      b.calls.length = 0;
      const report = t.coord.bridgeUnreachable("s1");
      await new Promise((r) => setTimeout(r, 50));
      expect(t.sent).toEqual([]); // the check still waits
      expect(b.calls.sort()).toEqual(["GET /health", "POST /v1/rooms"]);
      await report;
      // the move used them: nothing more asked of b, and the announcement went out
      expect(b.calls.sort()).toEqual(["GET /health", "POST /v1/rooms"]);
      expect(t.sent).toEqual([{ mode: "bridge", url: "ws://b.test/v1/rooms/blue-fox/ws" }]);
    });

    it("a reported bridge that passes the check keeps the call; the room asked early of the other bridge is closed again", async () => {
      const t = await onBridgeA();
      await t.coord.bridgeUnreachable("s1");
      expect(t.record().bridge?.base).toBe("http://a.test");
      await new Promise((r) => setTimeout(r, 20));
      expect(t.states["http://b.test"]!.calls).toContain("DELETE /v1/rooms/blue-fox");
      expect(t.states["http://b.test"]!.rooms.size).toBe(0);
    });

    it("the room asked early of the other bridge stays when the call moved there meanwhile (a draining bridge)", async () => {
      const t = await onBridgeA();
      let release!: () => void;
      t.states["http://a.test"]!.healthGate = new Promise((r) => (release = r));
      const report = t.coord.bridgeUnreachable("s1"); // asks b for the room while a's check waits
      await new Promise((r) => setTimeout(r, 20));
      await t.coord.bridgeDraining("http://a.test"); // moves the call to b meanwhile
      expect(t.record().bridge?.base).toBe("http://b.test");
      release(); // a answers after all: the report's early room is not needed, but it is the call's room now
      await report;
      await new Promise((r) => setTimeout(r, 20));
      expect(t.states["http://b.test"]!.calls).not.toContain("DELETE /v1/rooms/blue-fox");
      expect(t.states["http://b.test"]!.rooms.has("blue-fox")).toBe(true);
    });

    it("a bridge that answers healthy stays (the reporter's own network failed); it is checked again only after PROBE_AGAIN_MS", async () => {
      const t = await onBridgeA();
      await t.coord.bridgeUnreachable("s1");
      expect(t.record().bridge?.base).toBe("http://a.test");
      expect(t.sent).toEqual([]);
      expect(healthChecks(t)).toBe(1);
      t.clock.now += PROBE_AGAIN_MS - 1;
      await t.coord.bridgeUnreachable("s2");
      expect(healthChecks(t)).toBe(1);
      t.clock.now += 1;
      await t.coord.bridgeUnreachable("s2");
      expect(healthChecks(t)).toBe(2);
    });

    it("reports that come together share one check; each session has REPORTS_PER_WINDOW per REPORT_WINDOW_MS", async () => {
      const t = await onBridgeA();
      t.setOccupants(5);
      let release!: () => void;
      t.states["http://a.test"]!.healthGate = new Promise((r) => (release = r));
      // two of five: not most of the room, so the check decides (healthy: the call stays)
      const together = [t.coord.bridgeUnreachable("s1"), t.coord.bridgeUnreachable("s2")];
      release();
      await Promise.all(together);
      expect(healthChecks(t)).toBe(1);
      expect(t.sent).toEqual([]);
      // s1 may report REPORTS_PER_WINDOW times in all: two more checks, then none in this window
      for (let i = 0; i < REPORTS_PER_WINDOW + 1; i++) {
        t.clock.now += PROBE_AGAIN_MS;
        await t.coord.bridgeUnreachable("s1");
      }
      expect(healthChecks(t)).toBe(REPORTS_PER_WINDOW);
      t.clock.now += REPORT_WINDOW_MS;
      await t.coord.bridgeUnreachable("s1");
      expect(healthChecks(t)).toBe(REPORTS_PER_WINDOW + 1);
    });

    it("reports from most of the room while the check waits move the call at once, without the check's timeout", async () => {
      const t = await onBridgeA(); // three occupants
      t.states["http://a.test"]!.healthGate = new Promise(() => undefined); // frozen
      const start = Date.now();
      const first = t.coord.bridgeUnreachable("s1");
      await new Promise((r) => setTimeout(r, 20));
      expect(t.sent).toEqual([]); // one report alone moves nothing
      await Promise.all([t.coord.bridgeUnreachable("s2"), first]);
      expect(Date.now() - start).toBeLessThan(PROBE_TIMEOUT_MS - 100);
      expect(t.record()).toMatchObject({ mode: "bridge", bridge: { base: "http://b.test" } });
      expect(t.sent).toEqual([{ mode: "bridge", url: "ws://b.test/v1/rooms/blue-fox/ws" }]);
      expect(healthChecks(t)).toBe(1);
    });

    it("the same session reporting twice is not a quorum; nor are two sessions of a room of four", async () => {
      const t = await onBridgeA();
      for (const [occupants, sessions] of [[3, ["s1", "s1"]], [4, ["s1", "s2"]]] as const) {
        t.clock.now += PROBE_AGAIN_MS;
        t.setOccupants(occupants);
        let release!: () => void;
        t.states["http://a.test"]!.healthGate = new Promise((r) => (release = r));
        const reports = sessions.map((s) => t.coord.bridgeUnreachable(s));
        await new Promise((r) => setTimeout(r, 20));
        expect(t.sent).toEqual([]); // still waiting for the check
        release();
        await Promise.all(reports);
        expect(t.sent).toEqual([]); // the check found it healthy
      }
    });

    it("a bridge that misses the quick check stays when no other bridge answers (the regular check decides)", async () => {
      const t = await onBridgeA();
      t.states["http://b.test"]!.alive = false;
      t.states["http://a.test"]!.healthGate = new Promise(() => undefined);
      await t.coord.bridgeUnreachable("s1");
      expect(t.record()).toMatchObject({ mode: "bridge", bridge: { base: "http://a.test" } });
      expect(t.sent).toEqual([]);
    });

    it("a report while the room has no bridge room asks nothing of any bridge", async () => {
      const t = setup({ "http://a.test": { alive: true, load: 0 } });
      t.setOccupants(2);
      await t.coord.bridgeUnreachable("s1");
      expect(t.states["http://a.test"]!.calls).toEqual([]);
    });
  });

  it("moves off a draining bridge", async () => {
    const t = setup({ "http://a.test": { alive: true, load: 0 }, "http://b.test": { alive: true, load: 0.5 } });
    t.setOccupants(4);
    await t.coord.reconcile();
    await t.coord.bridgeDraining("http://a.test");
    expect(t.record().bridge?.base).toBe("http://b.test");
    expect(t.states["http://a.test"]!.rooms.size).toBe(0);
  });

  it("stays peer-to-peer when no bridge is usable, and retries later", async () => {
    const t = setup({ "http://a.test": { alive: false, load: 0 } });
    t.setOccupants(3);
    await t.coord.reconcile();
    expect(t.record()).toEqual({ mode: "p2p" });
    expect(t.sent).toHaveLength(0);
    expect(t.check()).toBeGreaterThan(Date.now());
    t.states["http://a.test"]!.alive = true;
    await t.coord.checkBridge();
    expect(t.record().mode).toBe("bridge");
  });

  /** Reconcile with every health answer held back for a while: which calls reached the bridges meanwhile. */
  async function callsBeforeHealthAnswers(t: ReturnType<typeof setup>): Promise<string[]> {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    for (const st of Object.values(t.states)) {
      st.calls.length = 0;
      st.healthGate = gate;
    }
    const done = t.coord.reconcile();
    await new Promise((r) => setTimeout(r, 100));
    const seen = Object.entries(t.states).flatMap(([b, st]) => st.calls.map((c) => `${new URL(b).host} ${c}`));
    open();
    await done;
    return seen.sort();
  }

  it("asks the expected bridge for the room while the health checks run, and closes it if another is picked", async () => {
    const t = setup({ "http://a.test": { alive: true, load: 0.7 }, "http://b.test": { alive: true, load: 0.1 } });
    t.setOccupants(3);
    // First move: no expected bridge yet, so nothing is created before the health answers.
    expect(await callsBeforeHealthAnswers(t)).toEqual(["a.test GET /health", "b.test GET /health"]);
    expect(t.record().bridge?.base).toBe("http://b.test");
    t.setOccupants(2);
    await t.coord.reconcile();
    // Next time b, picked last time, is asked for the room before the health answers.
    t.setOccupants(3);
    expect(await callsBeforeHealthAnswers(t)).toEqual(["a.test GET /health", "b.test GET /health", "b.test POST /v1/rooms"]);
    expect(t.record().bridge?.base).toBe("http://b.test");
    expect(t.states["http://a.test"]!.calls).toEqual(["GET /health"]);
    // When the checks pick another bridge, the early room is closed again.
    t.setOccupants(2);
    await t.coord.reconcile();
    t.states["http://b.test"]!.load = 0.9;
    t.setOccupants(3);
    await t.coord.reconcile();
    await new Promise((r) => setTimeout(r, 20)); // the early room's close is not awaited by the move
    expect(t.record().bridge?.base).toBe("http://a.test");
    expect(t.states["http://a.test"]!.rooms.has("blue-fox")).toBe(true);
    expect(t.states["http://b.test"]!.rooms.size).toBe(0);
    expect(t.sent.at(-1)).toEqual({ mode: "bridge", url: "ws://a.test/v1/rooms/blue-fox/ws" });
  });

  it("with one bridge, asks for the room and its health at once; a dead bridge leaves the call direct", async () => {
    const t = setup({ "http://a.test": { alive: true, load: 0 } });
    t.setOccupants(3);
    expect(await callsBeforeHealthAnswers(t)).toEqual(["a.test GET /health", "a.test POST /v1/rooms"]);
    expect(t.record().mode).toBe("bridge");
    const u = setup({ "http://a.test": { alive: false, load: 0 } });
    u.setOccupants(3);
    await u.coord.reconcile();
    expect(u.record()).toEqual({ mode: "p2p" });
    expect(u.sent).toHaveLength(0);
  });

  it("serialises concurrent reconciles (join during bridge creation)", async () => {
    const t = setup({ "http://a.test": { alive: true, load: 0 } });
    t.setOccupants(3);
    const a = t.coord.reconcile();
    t.setOccupants(4);
    const b = t.coord.reconcile();
    await Promise.all([a, b]);
    expect(t.states["http://a.test"]!.calls.filter((c) => c === "POST /v1/rooms")).toHaveLength(1);
  });

  describe("standby (two occupants and someone on the hair check)", () => {
    const URL_A = "ws://a.test/v1/rooms/blue-fox/ws";

    it("keeps a bridge room ready while someone waits, announced as p2p with the bridge's URL", async () => {
      const t = setup({ "http://a.test": { alive: true, load: 0 } });
      t.setOccupants(2);
      await t.coord.reconcile();
      expect(t.sent).toHaveLength(0);
      t.setWaiting(1);
      await t.coord.reconcile();
      expect(t.record()).toEqual({ mode: "p2p", bridge: { base: "http://a.test", wsUrl: URL_A } });
      expect(t.sent).toEqual([{ mode: "p2p", url: URL_A }]);
      expect(t.states["http://a.test"]!.rooms.has("blue-fox")).toBe(true);
      expect(t.check()).toBeGreaterThan(Date.now()); // its health is watched as in bridge mode
    });

    it("does not prepare for one occupant, nor without anyone waiting", async () => {
      const t = setup({ "http://a.test": { alive: true, load: 0 } });
      t.setOccupants(1);
      t.setWaiting(3);
      await t.coord.reconcile();
      t.setOccupants(2);
      t.setWaiting(0);
      await t.coord.reconcile();
      expect(t.sent).toHaveLength(0);
      expect(t.states["http://a.test"]!.calls).toHaveLength(0);
    });

    it("moves to the bridge with one announcement when the person waiting joins (no bridge call)", async () => {
      const t = setup({ "http://a.test": { alive: true, load: 0 } });
      t.setOccupants(2);
      t.setWaiting(1);
      await t.coord.reconcile();
      const calls = t.states["http://a.test"]!.calls.length;
      t.sent.length = 0;
      t.setOccupants(3);
      t.setWaiting(0);
      await t.coord.reconcile();
      expect(t.record()).toEqual({ mode: "bridge", bridge: { base: "http://a.test", wsUrl: URL_A } });
      expect(t.sent).toEqual([{ mode: "bridge", url: URL_A }]);
      expect(t.states["http://a.test"]!.calls).toHaveLength(calls);
    });

    it("goes back to standby (room kept) when the third leaves while someone waits, and to plain p2p (room closed) when nobody does", async () => {
      const t = setup({ "http://a.test": { alive: true, load: 0 } });
      t.setOccupants(3);
      await t.coord.reconcile();
      t.sent.length = 0;
      t.setOccupants(2);
      t.setWaiting(1);
      await t.coord.reconcile();
      expect(t.sent).toEqual([{ mode: "p2p", url: URL_A }]);
      expect(t.states["http://a.test"]!.rooms.has("blue-fox")).toBe(true);
      t.setWaiting(0);
      await t.coord.reconcile();
      expect(t.sent).toEqual([
        { mode: "p2p", url: URL_A },
        { mode: "p2p", url: null },
      ]);
      expect(t.record()).toEqual({ mode: "p2p" });
      expect(t.states["http://a.test"]!.rooms.size).toBe(0);
      expect(t.check()).toBeUndefined();
    });

    it("replaces a dead bridge while on standby, staying on standby", async () => {
      const t = setup({ "http://a.test": { alive: true, load: 0 }, "http://b.test": { alive: true, load: 0.5 } });
      t.setOccupants(2);
      t.setWaiting(1);
      await t.coord.reconcile();
      t.states["http://a.test"]!.alive = false;
      t.sent.length = 0;
      await t.coord.checkBridge();
      expect(t.record()).toEqual({ mode: "p2p", bridge: { base: "http://b.test", wsUrl: "ws://b.test/v1/rooms/blue-fox/ws" } });
      expect(t.sent).toEqual([{ mode: "p2p", url: "ws://b.test/v1/rooms/blue-fox/ws" }]);
    });

    it("announces the bridge, not standby, if the person waiting joined while the room was being created", async () => {
      const t = setup({ "http://a.test": { alive: true, load: 0 } });
      let open!: () => void;
      t.states["http://a.test"]!.healthGate = new Promise<void>((r) => (open = r));
      t.setOccupants(2);
      t.setWaiting(1);
      const first = t.coord.reconcile();
      await new Promise((r) => setTimeout(r, 20));
      t.setOccupants(3);
      t.setWaiting(0);
      const second = t.coord.reconcile();
      open();
      await Promise.all([first, second]);
      expect(t.sent).toEqual([{ mode: "bridge", url: URL_A }]);
      expect(t.states["http://a.test"]!.calls.filter((c) => c === "POST /v1/rooms")).toHaveLength(1);
    });

    it("drops standby and says so when no bridge answers", async () => {
      const t = setup({ "http://a.test": { alive: true, load: 0 } });
      t.setOccupants(2);
      t.setWaiting(1);
      await t.coord.reconcile();
      t.states["http://a.test"]!.alive = false;
      t.sent.length = 0;
      await t.coord.checkBridge();
      expect(t.record()).toEqual({ mode: "p2p" });
      expect(t.sent).toEqual([{ mode: "p2p", url: null }]);
    });
  });

  describe("taking people off the bridge room", () => {
    const lid = (session: string) => lobbyIdFor(SECRET, "blue-fox", session);
    async function onStandby() {
      const t = setup({ "http://a.test": { alive: true, load: 0 } });
      t.setOccupants(2);
      t.setWaiting(1);
      await t.coord.reconcile();
      const st = t.states["http://a.test"]!;
      st.calls.length = 0;
      st.bodies.length = 0;
      return { t, st };
    }

    it("closes the lobby connections of a session that went, and a kicked occupant's connections", async () => {
      const { t, st } = await onStandby();
      await t.coord.removed("conn-1");
      expect(st.calls).toEqual(["POST /v1/rooms/blue-fox/lobby/evict"]);
      expect(st.bodies).toEqual([{ lids: [await lid("conn-1")] }]);
      await t.coord.removed("conn-2", "mallory");
      expect(st.calls.slice(1).sort()).toEqual(["POST /v1/rooms/blue-fox/kick", "POST /v1/rooms/blue-fox/lobby/evict"]);
      expect(st.bodies.slice(1)).toContainEqual({ nick: "mallory" });
      expect(st.bodies.slice(1)).toContainEqual({ lids: [await lid("conn-2")] });
    });

    it("closes the whole lobby when the room is locked", async () => {
      const { t, st } = await onStandby();
      await t.coord.lobbyLocked();
      expect(st.calls).toEqual(["POST /v1/rooms/blue-fox/lobby/evict"]);
      expect(st.bodies).toEqual([{ all: true }]);
    });

    it("asks nothing of a bridge when the room has no bridge room", async () => {
      const t = setup({ "http://a.test": { alive: true, load: 0 } });
      await t.coord.removed("conn-1", "mallory");
      await t.coord.lobbyLocked();
      expect(t.states["http://a.test"]!.calls).toEqual([]);
    });
  });

  it("signs each bridge's calls with that bridge's key, for its authority: another bridge refuses them", async () => {
    const sent: Request[] = [];
    const control = new BridgeControl({
      secret: SECRET,
      fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        sent.push(new Request(input, init));
        return new Response(null, { status: 204 });
      }) as typeof fetch,
    });
    await control.kick("http://a.test", "blue-fox", "mallory");
    const call = sent[0]!;
    const body = await call.clone().text();
    const at = (base: string) => bridgeHost(base, { alive: true, load: 0, rooms: new Set(), calls: [], bodies: [] });
    const replay = (base: string, path = "/v1/rooms/blue-fox/kick") =>
      at(base)(new Request(base + path, { method: "POST", headers: call.headers, body }));
    // Another bridge (its own key) and another authority of the same key's bridge refuse it; the bridge it is for takes it.
    expect((await replay("http://b.test")).status).toBe(401);
    expect((await replay("http://a.test:8080")).status).toBe(401);
    expect((await replay("http://a.test")).status).toBe(204);
    // Signed with the shared secret itself, it is refused too: each bridge holds only its derived key.
    expect(await bridgeControlKey(SECRET, "http://a.test")).not.toBe(await bridgeControlKey(SECRET, "http://b.test"));
  });
});
