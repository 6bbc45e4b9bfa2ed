/**
 * The PRECIS Nickname profile (RFC 8266), so that names which look alike are the same name: "alice" with a trailing
 * no-break space, fullwidth "ａｌｉｃｅ" and "ALICE" all collide with "alice". Pure; used for room nicknames.
 *
 * Enforcement (RFC 8266 §2.3), giving the nickname as shown:
 *   1. additional mapping (§2.1): every non-ASCII space (general category Zs) becomes SPACE, leading and trailing
 *      spaces are removed, interior runs of spaces become one;
 *   2. normalization: NFKC (which also does the width mapping: fullwidth and halfwidth forms, §2.1);
 *   then the result must be non-empty, made only of code points the FreeformClass allows (RFC 8264 §4.3, below),
 *   and stable: enforcing it again changes nothing (RFC 8264 §7).
 * Comparison (RFC 8266 §2.4), giving the key under which the room knows an occupant: additional mapping, case mapping
 * (Unicode toLowerCase), NFKC, applied to the enforced nickname.
 *
 * FreeformClass (RFC 8264 §4.3, §9): letters, marks, digits and other numbers, spaces, symbols and punctuation are
 * valid; control and format characters, line/paragraph separators, private-use, surrogate and unassigned code points,
 * default-ignorable code points (e.g. U+3164 HANGUL FILLER, variation selectors) and old Hangul jamo are not. The
 * joiners ZWJ/ZWNJ, valid only in a context (after a virama, RFC 5892 Appendix A.1/A.2), are refused outright.
 *
 * The length limit (MAX_NICK_CHARS code points after enforcement) is this service's (RFC 8266 §3 leaves it to the
 * application). A refused nickname is a malformed occupant JID: the join gets `<jid-malformed/>` (XEP-0045 §7.2.1),
 * with the reason as text.
 */

export const MAX_NICK_CHARS = 64;

export type NicknameCheck =
  | { ok: true; /** enforced, as shown */ value: string; /** comparison key */ key: string }
  | { ok: false; reason: string };

const ZS = /\p{Zs}/gu;
const SPACE_RUNS = / {2,}/g;
const EDGE_SPACES = /^ | $/g;
/** any code point outside the FreeformClass's valid categories */
const NOT_FREEFORM = /[^\p{L}\p{M}\p{N}\p{Zs}\p{S}\p{P}]/u;
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;
// Hangul_Syllable_Type L, V and T (conjoining jamo), RFC 5892 §2.9 OldHangulJamo
const OLD_HANGUL_JAMO = /[\u1100-\u11FF\uA960-\uA97F\uD7B0-\uD7FF]/u;

/** RFC 8266 §2.1 additional mapping rule. */
export function mapSpaces(s: string): string {
  return s.replace(ZS, " ").replace(SPACE_RUNS, " ").replace(EDGE_SPACES, "");
}

const enforceRules = (s: string) => mapSpaces(s).normalize("NFKC");

/** RFC 8266 §2.4 comparison rules, applied to an enforced nickname. */
const compareKey = (enforced: string) => mapSpaces(enforced).toLowerCase().normalize("NFKC");

/** RFC 8266 §2.3: the nickname as the room shows it, and its comparison key; or why it is refused. */
export function enforceNickname(raw: string): NicknameCheck {
  const value = enforceRules(raw);
  if (value.length === 0) return { ok: false, reason: "the nickname is empty" };
  const bad = NOT_FREEFORM.exec(value) ?? IGNORABLE.exec(value) ?? OLD_HANGUL_JAMO.exec(value);
  if (bad) {
    const cp = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    return { ok: false, reason: `the nickname contains U+${cp}, which nicknames may not contain (RFC 8266)` };
  }
  if (enforceRules(value) !== value) return { ok: false, reason: "the nickname is not stable under RFC 8266 enforcement" };
  let n = 0;
  for (const _ of value) {
    if (++n > MAX_NICK_CHARS) return { ok: false, reason: `the nickname is longer than ${MAX_NICK_CHARS} characters` };
  }
  return { ok: true, value, key: compareKey(value) };
}

/** The comparison key of a nickname as written in an address, or undefined when it cannot be a nickname. */
export function nicknameKey(raw: string): string | undefined {
  const v = enforceNickname(raw);
  return v.ok ? v.key : undefined;
}
