/**
 * The unit abuse limits count by: one client *network*, not one address string.
 *
 *  - IPv4: the address itself (NAT puts a whole office behind one; limits per address are sized for that).
 *  - IPv6: the /64 prefix. RFC 4291 §2.5.4 gives global unicast addresses a 64-bit interface identifier, and
 *    RFC 8981 (temporary addresses) has hosts pick new random identifiers at will, so a single host can rotate
 *    through 2^64 addresses of its /64; counting per address would let it evade every limit.
 *  - IPv4-mapped IPv6 (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) counts as the IPv4 address.
 *  - Anything that parses as neither (no CF-Connecting-IP in local tests) is keyed by its text, cut to 64.
 * Pure: no I/O. The key never leaves the edge except hashed (room objects salt and hash it, SECURITY.md).
 */

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The eight 16-bit groups of an IPv6 address (RFC 4291 §2.2 text forms, zone index refused), or null. */
export function ipv6Groups(text: string): number[] | null {
  if (!/^[0-9a-f:.]{2,45}$/i.test(text)) return null;
  let s = text;
  const lastColon = s.lastIndexOf(":");
  const last = s.slice(lastColon + 1);
  if (last.includes(".")) {
    // §2.2 form 3 (x:x:x:x:x:x:d.d.d.d): rewrite the dotted tail as two hex groups
    if (!V4.test(last)) return null;
    const b = last.split(".").map(Number);
    s = s.slice(0, lastColon + 1) + ((b[0]! << 8) | b[1]!).toString(16) + ":" + ((b[2]! << 8) | b[3]!).toString(16);
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const parse = (h: string) => (h === "" ? [] : h.split(":").map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if ([...head, ...rest].some(Number.isNaN)) return null;
  if (halves.length === 2) {
    if (head.length + rest.length >= 8) return null;
    return [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  }
  return head.length === 8 ? head : null;
}

/** `4:<address>` for IPv4 (and IPv4-mapped IPv6), `6:<first four groups>::/64` for IPv6, else `?:<text>`. */
export function networkKey(ip: string): string {
  const t = ip.trim();
  if (V4.test(t)) return `4:${t}`;
  const g = ipv6Groups(t);
  if (g) {
    if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
      return `4:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
    }
    return `6:${g.slice(0, 4).map((x) => x.toString(16)).join(":")}::/64`;
  }
  return `?:${t.slice(0, 64)}`;
}

/** The network key of a request's client (`CF-Connecting-IP`, set by Cloudflare's edge). */
export function clientNetworkKey(headers: Headers): string {
  return networkKey(headers.get("cf-connecting-ip") ?? "unknown");
}
