/**
 * Nick and resource rules (durable/features/nick.ts): NFC, length, no control or format characters, case-insensitive
 * comparison.
 */
import { describe, expect, it } from "vitest";
import { validateNick, nickKeyOf } from "../../durable/features/nick";

describe("nick and resource rules", () => {
  it.each([
    ["alice", "alice"],
    ["  padded  ", "padded"],
    ["e\u0301", "\u00e9"],
    ["x".repeat(64), "x".repeat(64)],
    ["😀".repeat(64), "😀".repeat(64)],
    ["a b", "a b"],
  ])("accepts %j as %j", (raw, want) => expect(validateNick(raw)).toMatchObject({ ok: true, value: want }));
  it.each(["", "   ", "x".repeat(65), "a\u0000b", "a\u0085b", "a\u202Eb", "a\u2028b", "a\u200Bb"])("rejects %j", (raw) => {
    expect(validateNick(raw).ok).toBe(false);
  });
  it("compares case-insensitively after normalisation", () => {
    expect(nickKeyOf("RENÉE")).toBe(nickKeyOf("renée"));
  });
});
