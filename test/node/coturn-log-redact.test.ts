/**
 * Log masking (bridge-host/coturn/log-redact.ts): every IPv4/IPv6 address in a line coturn logs is masked
 * (PRIVACY.md: no client addresses in logs); lines without addresses are left alone.
 */
import { describe, expect, it } from "vitest";
import { MASK, redactAddresses } from "../../bridge-host/coturn/log-redact";

describe("log masking", () => {
  it.each([
    ["0: : IPv4. Connected from: 127.0.0.1:51588", `0: : IPv4. Connected from: ${MASK}`],
    ["peer 192.168.1.20 denied", `peer ${MASK} denied`],
    ["from [2001:db8::1]:3478 ok", `from ${MASK} ok`],
    ["peer ::1 and fe80::1", `peer ${MASK} and ${MASK}`],
    ["mapped ::ffff:10.0.0.1 x", `mapped ${MASK} x`],
    ["full 2001:0db8:0000:0000:0000:ff00:0042:8329", `full ${MASK}`],
    ["range 10.0.0.0-10.255.255.255", `range ${MASK}-${MASK}`],
  ])("masks %s", (line, masked) => {
    expect(redactAddresses(line)).toBe(masked);
  });

  it.each([
    "0: : Total General servers: 2",
    "12:34:56 std::string v1.2.3",
    "check_stun_auth: Cannot find credentials of user <1795719780>",
    "Version Coturn-4.6.1 'Gorst'",
  ])("leaves %s alone", (line) => {
    expect(redactAddresses(line)).toBe(line);
  });
});
