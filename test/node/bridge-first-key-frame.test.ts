/**
 * The first-key-frame gate (bridge-host/src/room/first-key-frame.ts), pure, with a hand-driven clock.
 */
import { describe, expect, it } from "vitest";
import { FirstKeyFrameGate } from "../../bridge-host/src/room/first-key-frame";

describe("first-key-frame gate", () => {
  /** A gate with a hand-driven clock: `fire()` runs the pending timers. */
  function gate(holdMs = 300) {
    const resumed: string[] = [];
    const timers = new Map<number, { fn: () => void; ms: number }>();
    let next = 1;
    const g = new FirstKeyFrameGate<string>(
      {
        resume: (c) => resumed.push(c),
        setTimer: (fn, ms) => (timers.set(next, { fn, ms }), next++),
        clearTimer: (t) => timers.delete(t as number),
      },
      holdMs,
    );
    const fire = () => {
      const due = [...timers.values()];
      timers.clear();
      for (const t of due) t.fn();
    };
    return { g, resumed, timers, fire };
  }

  it("holds a producer's first viewers until every expected viewer asked, then resumes them together", () => {
    const { g, resumed, timers } = gate();
    expect(g.request("P", "bob", () => true)).toBe("held");
    expect(g.isHeld("bob")).toBe(true);
    expect(resumed).toEqual([]);
    expect([...timers.values()].map((t) => t.ms)).toEqual([300]);
    // carol is the last expected viewer: bob is resumed by the gate, carol by the caller, at the same moment
    expect(g.request("P", "carol", () => false)).toBe("now");
    expect(resumed).toEqual(["bob"]);
    expect(g.isHeld("bob")).toBe(false);
    expect(timers.size).toBe(0);
    // the gate is open for P from now on: a later viewer resumes at once, without the room being asked about others
    const notAsked = (): boolean => {
      throw new Error("othersPending asked after the first viewers were released");
    };
    expect(g.request("P", "dave", notAsked)).toBe("now");
    expect(resumed).toEqual(["bob"]);
  });

  it("releases the held viewers when the hold time is up, and keeps producers apart", () => {
    const { g, resumed, fire } = gate();
    expect(g.request("P", "bob", () => true)).toBe("held");
    expect(g.request("P", "carol", () => true)).toBe("held");
    expect(g.request("Q", "bob-q", () => true)).toBe("held");
    fire();
    expect(resumed.sort()).toEqual(["bob", "bob-q", "carol"]);
    expect(g.request("P", "dave", () => true)).toBe("now");
    expect(g.request("Q", "dave-q", () => true)).toBe("now");
  });

  it("releases the viewers held for a peer who left, when nobody else is expected", () => {
    const { g, resumed, timers } = gate();
    g.request("P", "bob", () => true);
    g.request("Q", "bob-q", () => true);
    g.reconsider((producerId) => producerId === "Q"); // Q still waits for someone, P for nobody
    expect(resumed).toEqual(["bob"]);
    expect(g.isHeld("bob-q")).toBe(true);
    expect(timers.size).toBe(1);
    expect(g.request("P", "carol", () => true)).toBe("now");
  });

  it("does not hold a lone first viewer, nor anyone when the hold time is 0", () => {
    const { g, resumed, timers } = gate();
    expect(g.request("P", "bob", () => false)).toBe("now");
    expect(resumed).toEqual([]);
    expect(timers.size).toBe(0);
    const off = gate(0);
    expect(off.g.request("P", "bob", () => true)).toBe("now");
    expect(off.timers.size).toBe(0);
  });

  it("forgets viewers that close or pause again, and everything held for a closed producer or room", () => {
    const { g, resumed, timers, fire } = gate();
    g.request("P", "bob", () => true);
    g.request("P", "carol", () => true);
    g.forget("carol");
    expect(g.isHeld("carol")).toBe(false);
    fire();
    expect(resumed).toEqual(["bob"]);

    g.request("Q", "bob-q", () => true);
    g.producerClosed("Q");
    expect(timers.size).toBe(0);
    expect(g.isHeld("bob-q")).toBe(false);
    // a producer id is never reused by mediasoup, but a closed one leaves nothing behind either way
    expect(g.request("Q", "x", () => true)).toBe("held");

    g.request("R", "bob-r", () => true);
    g.close();
    g.close();
    expect(timers.size).toBe(0);
    fire();
    expect(resumed).toEqual(["bob"]);
  });
});
