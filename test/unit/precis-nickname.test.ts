import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_NICK_CHARS, enforceNickname, mapSpaces, nicknameKey } from "../../durable/features/precis-nickname";

describe("PRECIS Nickname profile (RFC 8266)", () => {
  it.each([
    ["alice", "alice"],
    ["  Bob  Smith\u00A0", "Bob Smith"], // additional mapping: no-break space, trim, collapse
    ["a\u3000\u2003b", "a b"], // ideographic and em spaces are Zs
    ["\uFF21\uFF4E\uFF4E", "Ann"], // width mapping through NFKC
    ["e\u0301", "\u00E9"],
    ["\u2163", "IV"], // NFKC compatibility mapping
    ["Ren\u00E9e \u{1F600}", "Ren\u00E9e \u{1F600}"],
    ["x".repeat(MAX_NICK_CHARS), "x".repeat(MAX_NICK_CHARS)],
  ])("enforces %j as %j", (raw, want) => {
    expect(enforceNickname(raw)).toMatchObject({ ok: true, value: want });
  });

  it.each([
    "",
    "   ",
    "\u00A0\u3000",
    "a\u0000b", // Cc
    "a\u202Eb", // bidi override (Cf)
    "a\u200Bb", // zero-width space (Cf, default ignorable)
    "a\u200Db", // ZWJ outside its context
    "a\u2028b", // Zl
    "\u3164", // HANGUL FILLER: a letter that shows as nothing (default ignorable)
    "a\uFE0F", // variation selector (default ignorable)
    "\uE000", // private use
    "\u1113", // old Hangul jamo (does not compose into a syllable)
    "\uD800", // lone surrogate
    "x".repeat(MAX_NICK_CHARS + 1),
  ])("refuses %j", (raw) => {
    expect(enforceNickname(raw).ok).toBe(false);
  });

  it("says which code point it refused", () => {
    expect(enforceNickname("ok\u200B")).toEqual({ ok: false, reason: expect.stringContaining("U+200B") as string });
  });

  it("look-alikes share one comparison key; different names do not", () => {
    const k = nicknameKey("Bob Smith")!;
    for (const s of ["bob smith", "BOB SMITH\u00A0", " Bob\u2003 Smith", "\uFF22\uFF4F\uFF42 \uFF33mith"]) expect(nicknameKey(s), s).toBe(k);
    expect(nicknameKey("Bob Smyth")).not.toBe(k);
    expect(nicknameKey("\u0000")).toBeUndefined();
  });

  // Arbitrary strings: full Unicode with a bias toward spaces, compatibility and format characters.
  const interesting = fc.constantFrom(" ", "\u00A0", "\u3000", "\u2003", "\uFF21", "\u2163", "\u0301", "\u200B", "\u3164", "A", "\u00C9", "\u017F");
  const nickish = fc.array(fc.oneof(fc.string({ unit: "grapheme", maxLength: 3 }), interesting), { maxLength: 12 }).map((a) => a.join(""));

  it("enforcement is idempotent and its output is free of edge and double spaces", () => {
    fc.assert(
      fc.property(nickish, (raw) => {
        const v = enforceNickname(raw);
        if (!v.ok) return;
        expect(enforceNickname(v.value)).toEqual(v);
        expect(v.value).not.toMatch(/^ | $| {2}|[\u00A0\u3000\u2003]/);
        expect(v.value.normalize("NFKC")).toBe(v.value);
      }),
      { numRuns: 3000 },
    );
  });

  it("the comparison key ignores case and space spelling: variants of an accepted nickname share its key", () => {
    fc.assert(
      fc.property(nickish, fc.constantFrom("\u00A0", "\u2003", "\u3000", "  "), (raw, sp) => {
        const v = enforceNickname(raw);
        if (!v.ok) return;
        const swapped = v.value.replace(/[a-z]/gi, (ch) => (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()));
        expect(nicknameKey(swapped)).toBe(v.key);
        expect(nicknameKey(v.value.replace(/ /g, sp))).toBe(v.key);
        expect(nicknameKey(`${sp}${v.value}${sp}`)).toBe(v.key);
      }),
      { numRuns: 2000 },
    );
  });

  it("mapSpaces leaves no non-ASCII space, edge space or run of spaces", () => {
    fc.assert(
      fc.property(nickish, (raw) => {
        expect(mapSpaces(raw)).not.toMatch(/^ | $| {2}|\p{Zs}(?<! )/u);
      }),
    );
  });
});
