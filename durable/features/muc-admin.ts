/**
 * XEP-0045 §8.2 kicking an occupant: a moderator sets `role='none'` for a nick via muc#admin.
 *   - the sender must be a moderator (`<forbidden/>` otherwise);
 *   - the target must be present (`<item-not-found/>`); an owner cannot be kicked (`<not-allowed/>`, §8.2);
 *   - the kicked occupant gets unavailable presence with status 307 (+110), actor and reason; the others get it
 *     with 307; then the moderator gets the IQ result.
 * Other role/affiliation changes are `<feature-not-implemented/>`.
 */
import type { Out } from "../core/effects";
import { errorReply, iqResult } from "../core/reply";
import type { ConnState, RoomState } from "../core/state";
import type { StanzaError } from "../xmpp/errors";
import { NS } from "../xmpp/ns";
import { child, childElements, text, type XmlElement } from "../xmpp/xml";
import { actorReason, removeOccupant } from "./muc-occupant";
import { nickKeyOf } from "./nick";

export interface Kicked {
  nick: string;
  conn: string;
}

const fail = (c: ConnState, el: XmlElement, out: Out, err: StanzaError) => {
  const e = errorReply(c, el, err);
  if (e) out.send(c.id, e);
};

export function handleAdmin(room: RoomState, c: ConnState, el: XmlElement, query: XmlElement, out: Out): Kicked | undefined {
  if (el.attrs["type"] !== "set") {
    fail(c, el, out, { type: "cancel", condition: "feature-not-implemented", text: "occupant lists are not available" });
    return undefined;
  }
  if (c.occ?.role !== "moderator") {
    fail(c, el, out, { type: "auth", condition: "forbidden", text: "only moderators may kick" });
    return undefined;
  }
  const items = childElements(query, NS.MUC_ADMIN).filter((i) => i.local === "item");
  const item = items[0];
  if (!item || items.length !== 1 || item.attrs["role"] !== "none" || item.attrs["nick"] === undefined) {
    fail(c, el, out, { type: "cancel", condition: "feature-not-implemented", text: "only kicking one nick (role='none') is supported" });
    return undefined;
  }
  const nick = item.attrs["nick"];
  const key = nickKeyOf(nick);
  const targetId = key === undefined ? undefined : room.nicks.get(key);
  const target = targetId !== undefined ? room.conns.get(targetId) : undefined;
  if (!target?.occ) {
    fail(c, el, out, { type: "cancel", condition: "item-not-found", text: "no occupant with that nickname" });
    return undefined;
  }
  if (target.occ.affiliation === "owner") {
    fail(c, el, out, { type: "cancel", condition: "not-allowed", text: "the room owner cannot be kicked" });
    return undefined;
  }
  const reason = text(child(item, "reason", NS.MUC_ADMIN)) || undefined;
  const kicked = { nick: target.occ.nick, conn: target.id };
  removeOccupant(room, target, out, { notifySelf: true, codes: ["307"], itemInner: actorReason(c.occ.nick, reason) });
  out.send(c.id, iqResult(c, el));
  return kicked;
}
