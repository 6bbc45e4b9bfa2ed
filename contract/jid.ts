/**
 * Room addresses: each XMPP domain D serves its rooms on the MUC service `conference.D` (XEP-0045 §4.1), so room R
 * is `R@conference.D` and its occupant N is `R@conference.D/N`. The room server answers for these addresses and
 * the web app sends to them.
 */
export function mucDomain(domain: string): string {
  return `conference.${domain}`;
}

export function roomJid(room: string, domain: string): string {
  return `${room}@${mucDomain(domain)}`;
}
