/**
 * TURN REST credentials (contract/turn-credentials.ts): coturn's use-auth-secret formula.
 */
import { describe, expect, it } from "vitest";
import { mintTurnCredentials } from "../../contract/turn-credentials";

describe("TURN REST credentials", () => {
  it("match coturn's use-auth-secret formula (RFC 2104 test vector style)", async () => {
    const c = await mintTurnCredentials("secret", 3600, 1_700_000_000_000);
    expect(c.username).toBe("1700003600");
    // base64(HMAC-SHA1("secret", "1700003600")) computed independently with openssl
    expect(c.password).toBe(EXPECTED);
    expect(c.expires.toISOString()).toBe("2023-11-14T23:13:20.000Z");
  });
});
const EXPECTED = "UFVPHi030d9a7dvQfHKkSHvih3o=";
