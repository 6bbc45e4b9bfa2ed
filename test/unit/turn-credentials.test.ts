/**
 * TURN REST credentials (contract/turn-credentials.ts): coturn's use-auth-secret formula, with a per-session
 * part in the username so that coturn's per-user quota applies per session.
 */
import { describe, expect, it } from "vitest";
import { mintTurnCredentials, turnSessionPart } from "../../contract/turn-credentials";

describe("TURN REST credentials", () => {
  it("match coturn's use-auth-secret formula (RFC 2104 test vector style)", async () => {
    const c = await mintTurnCredentials("secret", 3600, 1_700_000_000_000);
    expect(c.username).toBe("1700003600");
    // base64(HMAC-SHA1("secret", "1700003600")) computed independently with openssl
    expect(c.password).toBe(EXPECTED);
    expect(c.expires.toISOString()).toBe("2023-11-14T23:13:20.000Z");
  });
  it("carry a per-session part after the expiry (coturn's per-user quota then applies per session)", async () => {
    const part = await turnSessionPart("conn-1");
    expect(part).toMatch(/^[0-9a-f]{16}$/);
    expect(await turnSessionPart("conn-1")).toBe(part);
    expect(await turnSessionPart("conn-2")).not.toBe(part);
    const c = await mintTurnCredentials("secret", 3600, 1_700_000_000_000, part);
    expect(c.username).toBe(`1700003600:${part}`);
    await expect(mintTurnCredentials("secret", 3600, 0, "a:b")).rejects.toThrow(/session part/);
  });
});
const EXPECTED = "UFVPHi030d9a7dvQfHKkSHvih3o=";
