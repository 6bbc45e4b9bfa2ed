/**
 * Names in the room: nicknames follow the PRECIS Nickname profile (precis-nickname.ts, RFC 8266); resourceparts
 * (RFC 7622 §3.4) chosen at binding follow the simpler rules below:
 *   - Unicode NFC normalisation;
 *   - leading/trailing spaces removed;
 *   - 1..64 characters (code points) after normalisation;
 *   - no control characters (Unicode Cc/Cf/Zl/Zp, RFC 8264 §9.11/9.12 disallow them).
 */
import { enforceNickname, nicknameKey, type NicknameCheck } from "./precis-nickname";

export type NameCheck = { ok: true; value: string } | { ok: false; reason: string };

const MAX_NAME_CHARS = 64;

// Cc (C0, DEL, C1), Cf (format chars such as bidi overrides), line/paragraph separators.
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/** A client-requested resourcepart for binding. */
export function validateResource(raw: string): NameCheck {
  const value = raw.normalize("NFC").replace(/^ +| +$/g, "");
  if (value.length === 0) return { ok: false, reason: "resource must not be empty" };
  if (CONTROL.test(value)) return { ok: false, reason: "resource must not contain control characters" };
  let count = 0;
  for (const _ of value) if (++count > MAX_NAME_CHARS) return { ok: false, reason: `resource is longer than ${MAX_NAME_CHARS} characters` };
  return { ok: true, value };
}

/** A room nickname: the resourcepart of the occupant JID `room@conference.domain/nick` (RFC 8266 enforcement). */
export const validateNick = (raw: string): NicknameCheck => enforceNickname(raw);

/** The key under which the room knows the occupant addressed as room/`raw` (RFC 8266 comparison), if any. */
export const nickKeyOf = (raw: string): string | undefined => nicknameKey(raw);
