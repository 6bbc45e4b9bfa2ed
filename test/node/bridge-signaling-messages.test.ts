/**
 * The bridge's client signaling schemas (bridge-host/src/signaling/messages.ts): wrong shapes refused at the boundary.
 */
import { describe, expect, it } from "vitest";
import { Schemas } from "../../bridge-host/src/signaling/messages";

describe("signaling schemas", () => {
  it("rejects wrong shapes at the boundary", () => {
    expect(Schemas.createWebRtcTransport.safeParse({ direction: "up" }).success).toBe(false);
    expect(Schemas.getStats.safeParse({ transportId: "a", producerId: "b" }).success).toBe(false);
    expect(Schemas.getStats.safeParse({ consumerId: "c" }).success).toBe(true);
    expect(
      Schemas.connectWebRtcTransport.safeParse({ transportId: "t", dtlsParameters: { fingerprints: [{ algorithm: "md5", value: "AA:BB" }] } })
        .success,
    ).toBe(false);
  });
});
