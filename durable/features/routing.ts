/**
 * Message and IQ routing inside the room (XEP-0045):
 *   - §7.4 groupchat: reflected to every occupant including the sender, `from` = room/sendernick, `id` and payload
 *     (incl. XEP-0359 origin-id) passed through unchanged. A non-occupant gets `<not-acceptable/>`.
 *   - §7.5 private messages to room/nick: delivered to the occupant's real JID from room/sendernick, with an empty
 *     muc#user `<x/>`. A `groupchat` to an occupant JID is a `<bad-request/>`.
 *   - IQs to room/nick (Jingle, disco, ... any payload, never parsed) routed the same way; results and errors sent
 *     back to room/nick are routed like any IQ, so replies find the requester.
 * The payload is passed through from the (validated) source text; the stanza's own prefix declarations are copied.
 */
import { roomJid } from "../../contract/jid";
import { DOMAIN_MARK, TO_MARK, type Out } from "../core/effects";
import { errorReply, prefixDecls } from "../core/reply";
import { fullJidAttr, type ConnState, type RoomState } from "../core/state";
import { NS } from "../xmpp/ns";
import { child, escapeAttr, innerXml, type XmlElement } from "../xmpp/xml";
import { nickKey } from "./nick";

function deny(c: ConnState, el: XmlElement, out: Out, type: "cancel" | "modify" | "auth", condition: "not-acceptable" | "bad-request" | "item-not-found" | "forbidden", text: string): void {
  const e = errorReply(c, el, { type, condition, text });
  if (e) out.send(c.id, e);
}

/** §7.4 / §8.1 groupchat to the bare room JID. */
export function handleGroupchat(room: RoomState, c: ConnState, el: XmlElement, out: Out): void {
  const occ = c.occ;
  if (!occ) return deny(c, el, out, "cancel", "not-acceptable", "only occupants may send messages to the room");
  // §8.1: a message with a <subject/> and no <body/> changes the subject: moderators only (subject is not stored).
  if (child(el, "subject", el.ns) && !child(el, "body", el.ns) && occ.role !== "moderator") {
    return deny(c, el, out, "auth", "forbidden", "only moderators may change the subject");
  }
  const id = el.attrs["id"];
  const lang = el.attrs["xml:lang"];
  const tpl =
    `<message xmlns="${NS.CLIENT}" to="${TO_MARK}" from="${roomJid(room.name, DOMAIN_MARK)}/${escapeAttr(occ.nick)}" type="groupchat"` +
    (id !== undefined ? ` id="${escapeAttr(id)}"` : "") +
    (lang !== undefined ? ` xml:lang="${escapeAttr(lang)}"` : "") +
    prefixDecls(el) +
    ">" +
    innerXml(el) +
    "</message>";
  out.fanout([...room.nicks.values()], tpl);
}

/** Deliver a message or IQ addressed to room/nick. Returns nothing; errors go back to the sender. */
export function routeToOccupant(room: RoomState, c: ConnState, el: XmlElement, nick: string, out: Out): void {
  const type = el.attrs["type"];
  const isIq = el.local === "iq";
  const isReply = type === "error" || (isIq && type === "result");
  const occ = c.occ;
  if (!occ) {
    if (isReply) return; // never answer replies (RFC 6120 §8.3.1)
    return deny(c, el, out, "cancel", "not-acceptable", "only occupants may address other occupants");
  }
  if (!isIq && type === "groupchat") return deny(c, el, out, "modify", "bad-request", "groupchat messages go to the room JID");
  const targetId = room.nicks.get(nickKey(nick.normalize("NFC")));
  const target = targetId !== undefined ? room.conns.get(targetId) : undefined;
  if (!target?.occ) {
    if (isReply) return;
    return deny(c, el, out, "cancel", "item-not-found", "no occupant with that nickname");
  }
  const id = el.attrs["id"];
  const lang = el.attrs["xml:lang"];
  const xml =
    `<${el.local} xmlns="${NS.CLIENT}" to="${fullJidAttr(target)}" from="${escapeAttr(roomJid(room.name, target.domain))}/${escapeAttr(occ.nick)}"` +
    (type !== undefined ? ` type="${escapeAttr(type)}"` : "") +
    (id !== undefined ? ` id="${escapeAttr(id)}"` : "") +
    (lang !== undefined ? ` xml:lang="${escapeAttr(lang)}"` : "") +
    prefixDecls(el) +
    ">" +
    innerXml(el) +
    (isIq ? "" : `<x xmlns="${NS.MUC_USER}"/>`) +
    `</${el.local}>`;
  out.send(target.id, xml);
}
