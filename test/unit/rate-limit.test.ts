/**
 * The per-connection stanza token bucket (durable/features/rate-limit.ts), alone and closing a flooding stream with
 * policy-violation through the room core (RFC 6120 §4.9.3.14).
 */
import { describe, expect, it } from "vitest";
import { harness } from "./helpers/core-harness";
import { TokenBucket } from "../../durable/features/rate-limit";

const R = "room@conference.example.org";

describe("per-connection token bucket", () => {
  it("allows a burst, then the sustained rate", () => {
    const b = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.take(99)).toBe(false);
    expect(b.take(100)).toBe(true);
    expect(b.take(10_000)).toBe(true);
    expect(b.tokens).toBe(4);
  });
  it("closes a flooding stream with policy-violation; others are unaffected", async () => {
    const h = harness({ limits: { ratePerSecond: 1, burst: 3 } });
    h.ready("a");
    h.ready("b");
    await h.join("a", "alice");
    await h.join("b", "bob");
    const flood = `<message to="${R}" type="groupchat"><body>x</body></message>`;
    const f = await h.send("b", flood + flood + flood);
    expect(f.join("")).toContain("<policy-violation");
    expect(h.closed.get("b")?.code).toBe(1008);
    const g = await h.send("a", flood);
    expect(g[0]).toContain("<body>x</body>");
  });
});
