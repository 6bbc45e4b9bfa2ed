/**
 * Single use of bridge grants (bridge-host/src/signaling/used-grants.ts): a grant's id is taken once until it expires.
 */
import { describe, expect, it } from "vitest";
import { UsedGrants } from "../../bridge-host/src/signaling/used-grants";

describe("single use of grants", () => {
  it("takes a grant once until it expires", () => {
    const g = new UsedGrants();
    expect(g.take("jti-aaaaaaaa", 1060, 1000)).toBe(true);
    expect(g.take("jti-aaaaaaaa", 1060, 1001)).toBe(false);
    expect(g.take("jti-bbbbbbbb", 1060, 1001)).toBe(true);
    // expired entries are forgotten once the memory fills (an expired grant is refused before it gets here)
    for (let i = 0; i < 1100; i++) g.take(`old-${i}`, 1060, 1000);
    g.take("jti-cccccccc", 1200, 1100);
    expect(g.size).toBeLessThan(1100);
  });
});
