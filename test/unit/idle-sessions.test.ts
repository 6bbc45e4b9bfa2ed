import { describe, expect, it } from "vitest";
import { readinessFor } from "../../durable/bridge/selection";
import { expireIdle } from "../../durable/core/step";
import { waitingCount } from "../../durable/core/state";
import { NEGOTIATION_TIMEOUT_MS, SEEN_GRANULARITY_MS, UNJOINED_IDLE_MS, nextDeadline } from "../../durable/features/idle";
import { applyEffects, harness, type Harness } from "./helpers/core-harness";

const OPEN = `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.org" version="1.0"/>`;
const PING = `<iq xmlns="jabber:client" type="get" id="p"><ping xmlns="urn:xmpp:ping"/></iq>`;
const R = "room@conference.example.org";

/** Run the idle sweep as the shell's alarm does, delivering its frames. */
function sweep(h: Harness): void {
  const es = expireIdle(h.rt);
  h.effects.push(...es);
  applyEffects(
    h.rt.room,
    es,
    (id) => {
      let b = h.outbox.get(id);
      if (!b) h.outbox.set(id, (b = []));
      return b;
    },
    (conn, code, reason) => h.closed.set(conn, { code, reason }),
  );
}

describe("sessions that never join (features/idle.ts)", () => {
  it("a bound session that stays silent without joining is ended with connection-timeout; occupants are not", async () => {
    const h = harness();
    h.ready("a");
    h.ready("w");
    await h.join("a", "alice");
    await h.send("w", PING);
    const limit = UNJOINED_IDLE_MS + SEEN_GRANULARITY_MS;
    expect(nextDeadline(h.rt.room, h.clock.now)).toBe(h.clock.now + limit);
    h.clock.now += limit - 1;
    sweep(h);
    expect(h.closed.has("w")).toBe(false);
    h.clock.now += 1;
    sweep(h);
    expect(h.closed.get("w")).toEqual({ code: 1000, reason: "connection-timeout" });
    expect(h.take("w").join("")).toContain("<connection-timeout");
    expect(h.rt.room.conns.has("w")).toBe(false);
    expect(h.effects).toContainEqual({ kind: "sessions-changed", gone: "w" });
    expect(h.closed.has("a")).toBe(false);
    expect(nextDeadline(h.rt.room, h.clock.now)).toBeUndefined();
  });

  it("XEP-0199 pings keep a waiting session (an open hair check) alive indefinitely", async () => {
    const h = harness();
    h.ready("w");
    for (let i = 0; i < 40; i++) {
      h.clock.now += 30_000;
      expect((await h.send("w", PING))[0]).toContain(`type="result"`);
      sweep(h);
    }
    expect(h.closed.has("w")).toBe(false);
    // seen is written to the attachment at most every SEEN_GRANULARITY_MS
    const saves = h.effects.filter((e) => e.kind === "save-conn" && e.conn === "w").length;
    expect(saves).toBe(40);
    const before = saves;
    for (let i = 0; i < 10; i++) await h.send("w", PING);
    expect(h.effects.filter((e) => e.kind === "save-conn" && e.conn === "w").length).toBe(before);
  });

  it("a connection still negotiating gets NEGOTIATION_TIMEOUT_MS", async () => {
    const h = harness();
    h.open("n");
    await h.send("n", OPEN);
    h.clock.now += NEGOTIATION_TIMEOUT_MS + SEEN_GRANULARITY_MS;
    sweep(h);
    expect(h.closed.get("n")?.reason).toBe("connection-timeout");
  });

  it("an occupant who leaves but stays connected starts its idle time when it leaves", async () => {
    const h = harness();
    h.ready("a");
    h.ready("b");
    await h.join("a", "alice");
    await h.join("b", "bob");
    h.clock.now += 10 * UNJOINED_IDLE_MS;
    await h.send("b", `<presence xmlns="jabber:client" type="unavailable" to="${R}/bob"/>`);
    sweep(h);
    expect(h.closed.has("b")).toBe(false);
    h.clock.now += UNJOINED_IDLE_MS + SEEN_GRANULARITY_MS;
    sweep(h);
    expect(h.closed.has("b")).toBe(true);
    expect(h.closed.has("a")).toBe(false);
  });

  it("caps sessions that are not in the room: one more is refused at its <open/> with resource-constraint", async () => {
    const h = harness({ cfg: { maxOccupants: 2 } }); // cap 4
    for (const id of ["w1", "w2", "w3", "w4"]) {
      h.open(id);
      expect((await h.send(id, OPEN)).join("")).toContain("<stream:features");
    }
    h.open("w5");
    const f = (await h.send("w5", OPEN)).join("");
    expect(f).toContain("<resource-constraint");
    expect(h.closed.get("w5")?.reason).toBe("resource-constraint");
    // once one of them goes, a newcomer gets in
    h.drop("w1");
    h.open("w6");
    expect((await h.send("w6", OPEN)).join("")).toContain("<stream:features");
  });

  it("two occupants and a silent waiting session: standby lasts only while that session is alive", async () => {
    const h = harness();
    h.ready("a");
    h.ready("b");
    h.ready("w");
    await h.join("a", "alice");
    await h.join("b", "bob");
    await h.send("w", PING);
    const room = h.rt.room;
    expect(readinessFor(room.nicks.size, waitingCount(room))).toBe("standby");
    h.clock.now += UNJOINED_IDLE_MS + SEEN_GRANULARITY_MS;
    sweep(h);
    expect(readinessFor(room.nicks.size, waitingCount(room))).toBe("p2p");
  });
});
