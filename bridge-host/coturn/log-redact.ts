/**
 * Masks IP addresses (IPv4, IPv6, with or without a port) in coturn log lines before the launcher forwards
 * them (PRIVACY.md: no client addresses in logs). coturn's non-verbose log already has no per-session lines;
 * this is the second line of defence for the error paths that print an address.
 */
const IPV4 = String.raw`(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])`;
/** compressed form (contains "::", incl. "::1" and "::ffff:1.2.3.4") */
const IPV6_COMPRESSED = String.raw`(?<![\w:])\[?(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?(?::(?:\d{1,3}\.){3}\d{1,3})?\]?(?::\d{1,5})?(?![\w:.])`;
/** full form: exactly 8 groups */
const IPV6_FULL = String.raw`(?<![\w:])\[?(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\]?(?::\d{1,5})?(?![\w:.])`;

const ADDRESS = new RegExp(`${IPV6_FULL}|${IPV6_COMPRESSED}|${IPV4}`, "gi");

export const MASK = "<addr>";

export function redactAddresses(line: string): string {
  return line.replace(ADDRESS, MASK);
}
