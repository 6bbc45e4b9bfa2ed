/**
 * Nickname (XEP-0045 §7.2.1, RFC 8266 PRECIS Nickname profile, simplified) and resourcepart (RFC 7622 §3.4) rules:
 *   - Unicode NFC normalisation (RFC 8266 §2.2 step 4 uses NFKC for nicknames; we keep NFC so the name shows as
 *     typed, and compare case-insensitively per RFC 8266 §2.4 via `nickKey`);
 *   - leading/trailing spaces removed (RFC 8266 §2.2 step 2);
 *   - 1..64 characters (code points) after normalisation;
 *   - no control characters (Unicode Cc/Cf/Zl/Zp, RFC 8264 §9.11/9.12 disallow them).
 */
export type NameCheck = { ok: true; value: string } | { ok: false; reason: string };

export const MAX_NAME_CHARS = 64;

// Cc (C0, DEL, C1), Cf (format chars such as bidi overrides), line/paragraph separators.
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

function check(raw: string, what: string): NameCheck {
  const value = raw.normalize("NFC").replace(/^ +| +$/g, "");
  if (value.length === 0) return { ok: false, reason: `${what} must not be empty` };
  if (CONTROL.test(value)) return { ok: false, reason: `${what} must not contain control characters` };
  let count = 0;
  for (const _ of value) if (++count > MAX_NAME_CHARS) return { ok: false, reason: `${what} is longer than ${MAX_NAME_CHARS} characters` };
  return { ok: true, value };
}

/** A room nickname: the resourcepart of the occupant JID `room@conference.domain/nick`. */
export const validateNick = (raw: string): NameCheck => check(raw, "nickname");

/** A client-requested resourcepart for binding. */
export const validateResource = (raw: string): NameCheck => check(raw, "resource");

/** Comparison key for nick conflicts and addressing: NFC + case folding (RFC 8266 §2.4 comparison). */
export function nickKey(nfcNick: string): string {
  return nfcNick.toLowerCase().normalize("NFC");
}
