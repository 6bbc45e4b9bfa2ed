import { describe, expect, it } from "vitest";
import { mediaModeFor, pickBridge, readinessFor } from "../../durable/bridge/selection";

describe("media mode", () => {
  it.each([
    [0, "p2p"],
    [1, "p2p"],
    [2, "p2p"],
    [3, "bridge"],
    [10, "bridge"],
  ] as const)("%i occupants -> %s", (n, mode) => {
    expect(mediaModeFor(n)).toBe(mode);
  });
});

describe("readiness (standby: two in the call, someone on the hair check)", () => {
  it.each([
    [2, 1, "standby"],
    [2, 4, "standby"],
    [2, 0, "p2p"],
    [1, 1, "p2p"],
    [0, 2, "p2p"],
    [3, 0, "bridge"],
    [3, 1, "bridge"],
  ] as const)("%i occupants, %i waiting -> %s", (n, w, r) => {
    expect(readinessFor(n, w)).toBe(r);
  });
});

describe("bridge selection", () => {
  const a = { base: "https://a", healthy: true, load: 0.5 };
  const b = { base: "https://b", healthy: true, load: 0.2 };
  const c = { base: "https://c", healthy: false, load: 0 };
  it("picks the least-loaded healthy bridge", () => {
    expect(pickBridge([a, b, c])).toBe("https://b");
  });
  it("skips excluded (dead) bridges", () => {
    expect(pickBridge([a, b, c], new Set(["https://b"]))).toBe("https://a");
  });
  it("is stable on ties and undefined when none is usable", () => {
    expect(pickBridge([{ ...a, load: 0.1 }, { ...b, load: 0.1 }])).toBe("https://a");
    expect(pickBridge([c])).toBeUndefined();
    expect(pickBridge([])).toBeUndefined();
  });
});
