/**
 * The bridge host's configuration schema (bridge-host/src/config.ts): development defaults, refusal of weak or
 * missing secrets outside development (the edge's rules, SECURITY.md "Secrets"), derived public URLs.
 */
import { describe, expect, it } from "vitest";
import { DEV_SECRETS } from "../../contract/secrets";
import { loadBridgeConfig } from "../../bridge-host/src/config";

const SECRET = "k7Qm2xVw9pLc4RtZ8nHb3JdF6sYg1AeU0oPi5MvX";

describe("bridge config", () => {
  it("uses the edge's development BRIDGE_SECRET in development", () => {
    const c = loadBridgeConfig({ BRIDGE_ENV: "development" });
    expect(c.secret).toBe(DEV_SECRETS.BRIDGE_SECRET);
    expect(c.httpPort).toBe(4443);
    expect(c.rtcPort).toBe(40000);
    expect(c.firstKeyFrameHoldMs).toBe(300);
    expect(loadBridgeConfig({ BRIDGE_ENV: "development", FIRST_KEY_FRAME_HOLD_MS: "0" }).firstKeyFrameHoldMs).toBe(0);
    expect(() => loadBridgeConfig({ BRIDGE_ENV: "development", FIRST_KEY_FRAME_HOLD_MS: "soon" })).toThrow(/FIRST_KEY_FRAME_HOLD_MS/);
    expect(() => loadBridgeConfig({ BRIDGE_ENV: "development", FIRST_KEY_FRAME_HOLD_MS: "60000" })).toThrow(/FIRST_KEY_FRAME_HOLD_MS/);
  });
  it("refuses missing, short or development secrets outside development, listing every problem", () => {
    expect(() => loadBridgeConfig({ ANNOUNCED_ADDRESS: "198.51.100.7" })).toThrow(/BRIDGE_SECRET must be at least 32 characters/);
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: DEV_SECRETS.BRIDGE_SECRET, ANNOUNCED_ADDRESS: "198.51.100.7" })).toThrow(
      /must not be a development default/,
    );
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET })).toThrow(/ANNOUNCED_ADDRESS is required/);
    // the edge's rules (contract/secrets.ts StrongSecretSchema): long but weak secrets are refused too
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: "s".repeat(40), ANNOUNCED_ADDRESS: "x" })).toThrow(/too weak/);
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", RTC_PORT: "70000", LISTEN_IP: "nope" })).toThrow(
      /RTC_PORT.*LISTEN_IP|LISTEN_IP.*RTC_PORT/,
    );
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", TLS_CERT_FILE: "/c.pem" })).toThrow(/go together/);
  });
  it("derives public URLs", () => {
    const c = loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "bridge1.example.com", PUBLIC_WS_URL: "wss://b1.example.com/" });
    expect(c.publicWsUrl).toBe("wss://b1.example.com");
    expect(c.urlHost).toBe("bridge1.example.com");
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", PUBLIC_WS_URL: "http://x" })).toThrow(/PUBLIC_WS_URL/);
  });
  it("keeps the control listener on loopback unless told otherwise, and validates the limits", () => {
    const c = loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "bridge1.example.com" });
    expect(c).toMatchObject({ httpHost: "0.0.0.0", controlHost: "127.0.0.1", controlPort: 4444, controlUrlHost: "127.0.0.1" });
    expect(c).toMatchObject({ maxConnectionsPerAddress: 50, maxIncomingBitrate: 6_000_000 });
    const set = loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", CONTROL_HOST: "10.0.0.5", MAX_INCOMING_BITRATE: "2500000" });
    expect(set).toMatchObject({ controlHost: "10.0.0.5", controlUrlHost: "10.0.0.5", maxIncomingBitrate: 2_500_000 });
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", MAX_INCOMING_BITRATE: "5" })).toThrow(/MAX_INCOMING_BITRATE/);
    expect(() => loadBridgeConfig({ BRIDGE_SECRET: SECRET, ANNOUNCED_ADDRESS: "x", MAX_CONNECTIONS_PER_ADDRESS: "0" })).toThrow(
      /MAX_CONNECTIONS_PER_ADDRESS/,
    );
  });
});
