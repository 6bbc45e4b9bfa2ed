/**
 * JIDs (RFC 7622 §3.1): `[localpart@]domainpart[/resourcepart]`. The resourcepart may itself contain '@' and '/'.
 * This server only needs to split addresses and compare its own domains, so no full PRECIS preparation is done here;
 * nicknames/resources get their own rules in features/nick.ts.
 */
export interface Jid {
  local: string;
  domain: string;
  resource: string;
}

/** Split a JID; `undefined` if it is structurally malformed (empty parts, over-long). */
export function parseJid(s: string): Jid | undefined {
  if (s.length === 0 || s.length > 3071) return undefined;
  const slash = s.indexOf("/");
  const bare = slash < 0 ? s : s.slice(0, slash);
  const resource = slash < 0 ? "" : s.slice(slash + 1);
  if (slash >= 0 && resource.length === 0) return undefined;
  const at = bare.indexOf("@");
  const local = at < 0 ? "" : bare.slice(0, at);
  const domain = (at < 0 ? bare : bare.slice(at + 1)).toLowerCase().replace(/\.$/, "");
  if (at >= 0 && local.length === 0) return undefined;
  if (domain.length === 0 || domain.includes("@")) return undefined;
  if (local.length > 1023 || domain.length > 1023 || resource.length > 1023) return undefined;
  return { local, domain, resource };
}
