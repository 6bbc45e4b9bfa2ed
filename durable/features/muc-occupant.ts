/**
 * XEP-0045 occupant presence: how an occupant's presence is shown to others (§7.2.3, §7.7), self-presence status
 * codes (§7.2.2 "110"), and removal with an unavailable broadcast (§7.14 exit; also on stream close, global
 * unavailable presence or a dropped connection; §8.2 kick with "307"), then the ownership hand-over when the owner
 * left (muc-owner.ts, §10.6).
 * Semi-anonymous room (XEP-0045 §4.2, "muc_semianonymous"): only moderators see occupants' real JIDs in `<item jid=…>`.
 */
import { roomJid } from "../../contract/jid";
import { DOMAIN_MARK, Out, TO_MARK, renderFor } from "../core/effects";
import { MAX_PRESENCE_PAYLOAD, fullJid, fullJidAttr, occupants, type ConnState, type RoomState } from "../core/state";
import { NS } from "../xmpp/ns";
import { escapeAttr, escapeText, serialize, type XmlElement } from "../xmpp/xml";
import { NS_RESUME } from "../../contract/resume";
import { ownerSuccessor, promoteToOwner } from "./muc-owner";

export interface PresenceOpts {
  type?: "unavailable";
  id?: string;
  /** show the occupant's real JID (to moderators and to the occupant itself) */
  withJid: boolean;
  /** XEP-0045 §15.6 status codes */
  codes?: string[];
  /** extra XML inside <item/> (actor, reason) */
  itemInner?: string;
  /** payload of an unavailable presence (the leaver's status, XEP-0045 §7.14) */
  leavePayload?: string;
}

/** Template (effects.ts marks) of occupant `c`'s presence. */
export function presenceTpl(room: RoomState, c: ConnState, o: PresenceOpts): string {
  const occ = c.occ!;
  let s =
    `<presence xmlns="${NS.CLIENT}" to="${TO_MARK}" from="${roomJid(room.name, DOMAIN_MARK)}/${escapeAttr(occ.nick)}"` +
    (o.type ? ` type="${o.type}"` : "") +
    (o.id !== undefined ? ` id="${escapeAttr(o.id)}"` : "") +
    ">" +
    (o.type ? (o.leavePayload ?? "") : occ.pres) +
    `<x xmlns="${NS.MUC_USER}"><item affiliation="${occ.affiliation}" role="${o.type ? "none" : occ.role}"` +
    (o.withJid ? ` jid="${escapeAttr(fullJid(c))}"` : "");
  s += o.itemInner ? `>${o.itemInner}</item>` : "/>";
  for (const code of o.codes ?? []) s += `<status code="${code}"/>`;
  return s + "</x></presence>";
}

/** Render a template for one recipient connection. */
export function renderOne(tpl: string, to: ConnState): string {
  return renderFor(tpl, fullJidAttr(to), to.domain, new Map());
}

/**
 * Send `c`'s presence to every other occupant: moderators get the variant with the real JID.
 * `mk(withJid)` builds the template.
 */
export function broadcastOthers(room: RoomState, c: ConnState, out: Out, mk: (withJid: boolean) => string): void {
  const mods: string[] = [];
  const rest: string[] = [];
  for (const o of occupants(room)) {
    if (o.id === c.id) continue;
    (o.occ!.role === "moderator" ? mods : rest).push(o.id);
  }
  if (mods.length) out.fanout(mods, mk(true));
  if (rest.length) out.fanout(rest, mk(false));
}

/**
 * The payload of a presence kept for the room: every child except the MUC join element and any client-supplied
 * muc#user element (status codes and items come only from the room). Prefix declarations on the stanza are carried
 * onto each child so it stays well-formed on its own.
 */
export function presencePayload(el: XmlElement): string {
  let decls: Record<string, string> | undefined;
  for (const k in el.attrs) if (k.startsWith("xmlns:")) (decls ??= {})[k] = el.attrs[k]!;
  let s = "";
  for (const ch of el.children) {
    if (typeof ch === "string") continue; // whitespace between children is not significant in presence
    // the resume token is a secret between the occupant and the room (muc-resume.ts)
    if (ch.ns === NS.MUC || ch.ns === NS.MUC_USER || ch.ns === NS_RESUME) continue;
    if (decls) {
      const attrs = Object.create(null) as Record<string, string>;
      for (const k in decls) if (!(k in ch.attrs)) attrs[k] = decls[k]!;
      Object.assign(attrs, ch.attrs);
      s += serialize({ ...ch, attrs });
    } else s += serialize(ch);
  }
  return s;
}

/**
 * Remove `c` from the room: unavailable presence to the others (and to itself when `notifySelf`, with 110),
 * then forget its occupancy. When the room becomes empty it is destroyed (XEP-0045 §4.2 temporary room: "a room
 * that is destroyed if the last occupant exits"): password cleared, created time reset.
 */
export function removeOccupant(
  room: RoomState,
  c: ConnState,
  out: Out,
  o: { notifySelf: boolean; codes?: string[]; itemInner?: string; id?: string; leavePayload?: string },
): void {
  const occ = c.occ;
  if (!occ) return;
  const codes = o.codes ?? [];
  const base = {
    type: "unavailable" as const,
    codes,
    ...(o.itemInner ? { itemInner: o.itemInner } : {}),
    ...(o.leavePayload && o.leavePayload.length <= MAX_PRESENCE_PAYLOAD ? { leavePayload: o.leavePayload } : {}),
  };
  broadcastOthers(room, c, out, (withJid) => presenceTpl(room, c, { ...base, withJid }));
  if (o.notifySelf) {
    const selfTpl = presenceTpl(room, c, {
      ...base,
      withJid: true,
      codes: [...codes, "110"],
      ...(o.id !== undefined ? { id: o.id } : {}),
    });
    out.send(c.id, renderOne(selfTpl, c));
  }
  room.nicks.delete(occ.key);
  delete c.occ;
  out.saveConn(c.id);
  if (room.nicks.size === 0) {
    room.meta.createdAt = null;
    room.meta.pwHash = null;
    room.meta.pwSalt = null;
    out.saveRoom();
  } else if (occ.affiliation === "owner") handOverOwnership(room, out);
  out.occupantsChanged();
}

/**
 * The owner left an occupied room: promote the longest-present occupant (muc-owner.ts) and announce its new
 * affiliation/role with its presence to every occupant, status 110 to itself (XEP-0045 §10.6, §9.6, §7.2.2); then
 * tell it the others' real JIDs.
 */
function handOverOwnership(room: RoomState, out: Out): void {
  const heir = ownerSuccessor(room);
  if (!heir) return;
  promoteToOwner(heir);
  out.saveConn(heir.id);
  broadcastOthers(room, heir, out, (withJid) => presenceTpl(room, heir, { withJid }));
  out.send(heir.id, renderOne(presenceTpl(room, heir, { withJid: true, codes: ["110"] }), heir));
  // Semi-anonymous room (§4.2, §7.2.4): real JIDs go to moderators only, so the new moderator, who had everyone's
  // presence without them, gets each other occupant's current presence again, now with `jid` (as Prosody re-sends
  // the occupant list to an occupant who becomes moderator).
  for (const o of occupants(room)) {
    if (o.id !== heir.id) out.send(heir.id, renderOne(presenceTpl(room, o, { withJid: true }), heir));
  }
}

/** `<item>` inner XML for kicks: actor and reason (XEP-0045 §8.2). */
export function actorReason(actorNick: string, reason: string | undefined): string {
  return `<actor nick="${escapeAttr(actorNick)}"/>` + (reason ? `<reason>${escapeText(reason)}</reason>` : "");
}

