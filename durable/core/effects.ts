/**
 * What a core step asks the shell (room-do.ts) to do. Data only; the shell runs them in order.
 */
import { CLOSE_XML } from "../xmpp/framing";
import { escapeAttr } from "../xmpp/xml";

export const TO_MARK = "\u0001";
export const DOMAIN_MARK = "\u0002";

export type Effect =
  /** send one frame to one connection */
  | { kind: "send"; conn: string; xml: string }
  /**
   * send one stanza to many connections: `tpl` contains TO_MARK where the recipient's full JID (escaped) goes and
   * DOMAIN_MARK where the recipient's XMPP domain goes. Serialized once per broadcast (hot path).
   * Both marks are control characters the XML parser rejects, so they can never come from a client.
   */
  | { kind: "fanout"; conns: string[]; tpl: string }
  /** close a connection's WebSocket (after its <close/> was sent) */
  | { kind: "close"; conn: string; code: number; reason: string }
  /** persist a connection's state into its WebSocket attachment */
  | { kind: "save-conn"; conn: string }
  /** persist room meta (SQLite) */
  | { kind: "save-room" }
  /** persist the MLS Delivery Service's public state (features/mls-room.ts) and re-arm the alarm for its deadline */
  | { kind: "save-mls" }
  /** persist (or delete, when gone from the map) one password-failure record */
  | { kind: "save-pw-failure"; ipKey: string }
  /**
   * the set of occupants changed (the shell may re-evaluate the media mode); `kicked`: a moderator removed that nick
   * (of session `kickedConn`), so the shell also removes it, and that session's lobby connections, from the media bridge
   */
  | { kind: "occupants-changed"; kicked?: string; kickedConn?: string }
  /**
   * a session became bound (`bound`), or a bound one went (`gone`; its lobby connections on the media bridge go too):
   * who waits on the hair check may have changed
   */
  | { kind: "sessions-changed"; bound?: string; gone?: string }
  /** an occupant reports that the room's bridge does not answer it (features/media.ts): the shell checks the bridge */
  | { kind: "bridge-unreachable"; conn: string };

export class Out {
  readonly effects: Effect[] = [];
  send(conn: string, xml: string): void {
    this.effects.push({ kind: "send", conn, xml });
  }
  fanout(conns: string[], tpl: string): void {
    if (conns.length) this.effects.push({ kind: "fanout", conns, tpl });
  }
  close(conn: string, code = 1000, reason = ""): void {
    this.effects.push({ kind: "send", conn, xml: CLOSE_XML }, { kind: "close", conn, code, reason });
  }
  saveConn(conn: string): void {
    this.effects.push({ kind: "save-conn", conn });
  }
  saveRoom(): void {
    this.effects.push({ kind: "save-room" });
  }
  saveMls(): void {
    if (!this.effects.some((e) => e.kind === "save-mls")) this.effects.push({ kind: "save-mls" });
  }
  savePwFailure(ipKey: string): void {
    this.effects.push({ kind: "save-pw-failure", ipKey });
  }
  sessionsChanged(bound?: string): void {
    this.effects.push(bound === undefined ? { kind: "sessions-changed" } : { kind: "sessions-changed", bound });
  }
  sessionGone(conn: string): void {
    this.effects.push({ kind: "sessions-changed", gone: conn });
  }
  occupantsChanged(): void {
    this.effects.push({ kind: "occupants-changed" });
  }
  bridgeUnreachable(conn: string): void {
    this.effects.push({ kind: "bridge-unreachable", conn });
  }
  kicked(nick: string, conn: string): void {
    this.effects.push({ kind: "occupants-changed", kicked: nick, kickedConn: conn });
  }
}

/**
 * Render a fanout template for one recipient. `cache` maps domain -> [head, tail] split around the (single) TO_MARK;
 * `tail` is null when the template has no TO_MARK.
 */
export function renderFor(
  tpl: string,
  toEscaped: string,
  domain: string,
  cache: Map<string, [string, string | null]>,
): string {
  let parts = cache.get(domain);
  if (!parts) {
    const withDomain = tpl.indexOf(DOMAIN_MARK) < 0 ? tpl : tpl.split(DOMAIN_MARK).join(escapeAttr(domain));
    const at = withDomain.indexOf(TO_MARK);
    parts = at < 0 ? [withDomain, null] : [withDomain.slice(0, at), withDomain.slice(at + 1)];
    cache.set(domain, parts);
  }
  return parts[1] === null ? parts[0] : parts[0] + toEscaped + parts[1];
}
