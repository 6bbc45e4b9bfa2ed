/**
 * Message and IQ routing inside the room (XEP-0045):
 *   - §7.4 groupchat: reflected to every occupant including the sender, `from` = room/sendernick, `id` and payload
 *     (incl. XEP-0359 origin-id) passed through unchanged. A non-occupant gets `<not-acceptable/>`.
 *   - §7.5 private messages to room/nick: delivered to the occupant's real JID from room/sendernick, with an empty
 *     muc#user `<x/>`. A `groupchat` to an occupant JID is a `<bad-request/>`.
 *   - IQs to room/nick (Jingle, disco, ... any payload, never parsed) routed the same way under an id the room
 *     gives (iq-routes.ts); a result or error goes back only to the occupant that asked, with its id restored, and
 *     one that answers nothing is dropped.
 * The payload is passed through from the (validated) source text; the stanza's own prefix declarations are copied.
 * Client-supplied muc#user elements are removed from relayed messages: status codes, items and invitations in that
 * namespace speak for the room (XEP-0045 §7.2.2, §15.6), so only the room may write them (as Prosody's mod_muc does).
 */
import { roomJid } from "../../contract/jid";
import type { Deps } from "../core/deps";
import { DOMAIN_MARK, TO_MARK, type Out } from "../core/effects";
import { errorReply, prefixDecls } from "../core/reply";
import { fullJidAttr, type ConnState, type RoomState } from "../core/state";
import { NS } from "../xmpp/ns";
import { child, escapeAttr, innerXml, serialize, type XmlElement } from "../xmpp/xml";
import type { IqRoutes } from "./iq-routes";
import { nickKeyOf } from "./nick";

function deny(
  c: ConnState,
  el: XmlElement,
  out: Out,
  type: "cancel" | "modify" | "auth" | "wait",
  condition: "not-acceptable" | "bad-request" | "item-not-found" | "forbidden" | "resource-constraint",
  text: string,
): void {
  const e = errorReply(c, el, { type, condition, text });
  if (e) out.send(c.id, e);
}

/** A message's content for the relayed copy: the source text, less any top-level muc#user element (see above). */
function relayedContent(el: XmlElement): string {
  let strip = false;
  for (const ch of el.children) if (typeof ch !== "string" && ch.ns === NS.MUC_USER) strip = true;
  if (!strip) return innerXml(el);
  let s = "";
  for (const ch of el.children) if (typeof ch === "string" || ch.ns !== NS.MUC_USER) s += serialize(ch);
  return s;
}

/** §7.4 / §8.1 groupchat to the bare room JID. */
export function handleGroupchat(room: RoomState, c: ConnState, el: XmlElement, out: Out): void {
  const occ = c.occ;
  if (!occ) return deny(c, el, out, "cancel", "not-acceptable", "only occupants may send messages to the room");
  // §8.1: a message with a <subject/> and no <body/> changes the subject: moderators only (subject is not stored).
  // Matched by namespace, whatever prefix the client wrote (the core parses stanzas with jabber:client as default).
  if (child(el, "subject", NS.CLIENT) && !child(el, "body", NS.CLIENT) && occ.role !== "moderator") {
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
    relayedContent(el) +
    "</message>";
  out.fanout([...room.nicks.values()], tpl);
}

/** Deliver a message or IQ addressed to room/nick. Returns nothing; errors go back to the sender. */
export function routeToOccupant(room: RoomState, iqs: IqRoutes, deps: Deps, c: ConnState, el: XmlElement, nick: string, out: Out): void {
  const type = el.attrs["type"];
  const isIq = el.local === "iq";
  const isReply = type === "error" || (isIq && type === "result");
  const occ = c.occ;
  if (!occ) {
    if (isReply) return; // never answer replies (RFC 6120 §8.3.1)
    return deny(c, el, out, "cancel", "not-acceptable", "only occupants may address other occupants");
  }
  if (!isIq && type === "groupchat") return deny(c, el, out, "modify", "bad-request", "groupchat messages go to the room JID");
  const key = nickKeyOf(nick);
  const targetId = key === undefined ? undefined : room.nicks.get(key);
  const target = targetId !== undefined ? room.conns.get(targetId) : undefined;
  if (!target?.occ) {
    if (isReply) return;
    return deny(c, el, out, "cancel", "item-not-found", "no occupant with that nickname");
  }
  let id = el.attrs["id"];
  if (isIq && id !== undefined) {
    // the IQ checks in step.ts guarantee an id and a type of get, set, result or error
    id = isReply ? iqs.close(c.id, target.id, id, deps.now()) : iqs.open(c.id, target.id, id, deps.now(), deps.randomId());
    if (id === undefined) {
      if (isReply) return; // answers no request of that occupant to this one
      return deny(c, el, out, "wait", "resource-constraint", "too many requests awaiting an answer");
    }
  }
  const lang = el.attrs["xml:lang"];
  const xml =
    `<${el.local} xmlns="${NS.CLIENT}" to="${fullJidAttr(target)}" from="${escapeAttr(roomJid(room.name, target.domain))}/${escapeAttr(occ.nick)}"` +
    (type !== undefined ? ` type="${escapeAttr(type)}"` : "") +
    (id !== undefined ? ` id="${escapeAttr(id)}"` : "") +
    (lang !== undefined ? ` xml:lang="${escapeAttr(lang)}"` : "") +
    prefixDecls(el) +
    ">" +
    (isIq ? innerXml(el) : relayedContent(el) + `<x xmlns="${NS.MUC_USER}"/>`) +
    `</${el.local}>`;
  out.send(target.id, xml);
}
