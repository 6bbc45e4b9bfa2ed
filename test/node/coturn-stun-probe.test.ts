/**
 * The STUN Binding probe the launcher uses to tell when coturn is up (bridge-host/coturn/stun-probe.ts, RFC 8489
 * §5, §6), and the address it probes (bridge-host/coturn/launcher.ts).
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadCoturnConfig } from "../../bridge-host/coturn/config";
import { probeHost } from "../../bridge-host/coturn/launcher";
import { bindingRequest, isBindingSuccess } from "../../bridge-host/coturn/stun-probe";

const SECRET = "s3cr3t-with+base64/chars=" + "x".repeat(20);

describe("STUN binding probe codec (RFC 8489 §5, §6)", () => {
  it("builds a 20-byte Binding request with the magic cookie", () => {
    const tid = randomBytes(12);
    const b = bindingRequest(tid);
    expect(b.length).toBe(20);
    expect(b.readUInt16BE(0)).toBe(0x0001);
    expect(b.readUInt16BE(2)).toBe(0);
    expect(b.readUInt32BE(4)).toBe(0x2112a442);
    expect(b.subarray(8).equals(tid)).toBe(true);
    expect(() => bindingRequest(randomBytes(8))).toThrow(TypeError);
  });

  it("accepts only a success response with our transaction id", () => {
    const tid = randomBytes(12);
    const ok = bindingRequest(tid);
    ok.writeUInt16BE(0x0101, 0);
    expect(isBindingSuccess(ok, tid)).toBe(true);
    expect(isBindingSuccess(ok, randomBytes(12))).toBe(false);
    const err = Buffer.from(ok);
    err.writeUInt16BE(0x0111, 0);
    expect(isBindingSuccess(err, tid)).toBe(false);
    expect(isBindingSuccess(ok.subarray(0, 19), tid)).toBe(false);
  });

  it("probes a listener address, loopback for wildcard listeners", () => {
    expect(probeHost(loadCoturnConfig({ TURN_SECRET: SECRET }))).toBe("127.0.0.1");
    expect(probeHost(loadCoturnConfig({ TURN_SECRET: SECRET, TURN_LISTEN_IPS: "0.0.0.0" }))).toBe("127.0.0.1");
    expect(probeHost(loadCoturnConfig({ TURN_SECRET: SECRET, TURN_LISTEN_IPS: "::" }))).toBe("::1");
    expect(probeHost(loadCoturnConfig({ TURN_SECRET: SECRET, TURN_LISTEN_IPS: "10.1.1.1,::1" }))).toBe("10.1.1.1");
  });
});
