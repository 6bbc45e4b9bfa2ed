/**
 * XEP-0030 service discovery for the three entities this object answers for:
 *   - the server (domain): identity server/im; features incl. XEP-0199 ping and XEP-0215 extdisco (§3.1);
 *     items: the MUC service (§4);
 *   - the MUC service (conference.domain): identity conference/text, feature muc (XEP-0045 §6.1); no public rooms;
 *   - the room: identity conference/text, XEP-0045 §6.4 room features (muc_passwordprotected/muc_unsecured, ...)
 *     and the muc#roominfo form (§15.5.4) with the occupant count.
 */
import { mucDomain } from "../../contract/jid";
import { occupants, type ConnState, type RoomState } from "../core/state";
import { NS } from "../xmpp/ns";
import { errorReply, iqResult } from "../core/reply";
import { escapeAttr, type XmlElement } from "../xmpp/xml";
import { isPasswordProtected } from "./muc-password";

const features = (fs: readonly string[]) => fs.map((f) => `<feature var="${f}"/>`).join("");

const SERVER_FEATURES = [NS.DISCO_INFO, NS.DISCO_ITEMS, NS.PING, NS.EXTDISCO] as const;

function serverInfo(): string {
  return `<query xmlns="${NS.DISCO_INFO}"><identity category="server" type="im" name="Parley"/>${features(SERVER_FEATURES)}</query>`;
}

function serverItems(c: ConnState): string {
  return `<query xmlns="${NS.DISCO_ITEMS}"><item jid="${escapeAttr(mucDomain(c.domain))}" name="Rooms"/></query>`;
}

function mucServiceInfo(): string {
  return `<query xmlns="${NS.DISCO_INFO}"><identity category="conference" type="text" name="Rooms"/>${features([NS.DISCO_INFO, NS.DISCO_ITEMS, NS.MUC, NS.PING])}</query>`;
}

function emptyItems(): string {
  return `<query xmlns="${NS.DISCO_ITEMS}"/>`;
}

function roomInfo(room: RoomState): string {
  const pw = isPasswordProtected(room.meta);
  const fs = [
    NS.DISCO_INFO,
    NS.MUC,
    NS.PING,
    pw ? "muc_passwordprotected" : "muc_unsecured",
    "muc_temporary",
    "muc_open",
    "muc_semianonymous",
    "muc_unmoderated",
    "muc_hidden",
  ];
  const form =
    `<x xmlns="${NS.DATA}" type="result">` +
    `<field var="FORM_TYPE" type="hidden"><value>${NS.MUC_ROOMINFO}</value></field>` +
    `<field var="muc#roominfo_occupants" label="Number of occupants"><value>${occupants(room).length}</value></field>` +
    `</x>`;
  return `<query xmlns="${NS.DISCO_INFO}"><identity category="conference" type="text" name="${room.name}"/>${features(fs)}${form}</query>`;
}

/** Answer a disco#info / disco#items get for `entity`; undefined if `q` is not a disco query. */
export function handleDisco(
  entity: "server" | "muc-service" | "room",
  room: RoomState,
  c: ConnState,
  el: XmlElement,
  q: XmlElement,
): string | undefined {
  if (el.attrs["type"] !== "get" || q.local !== "query") return undefined;
  const node = q.attrs["node"];
  if (q.ns === NS.DISCO_INFO) {
    // XEP-0030 §3.2: unknown nodes -> item-not-found
    if (node !== undefined) return errorReply(c, el, { type: "cancel", condition: "item-not-found" });
    const body = entity === "server" ? serverInfo() : entity === "muc-service" ? mucServiceInfo() : roomInfo(room);
    return iqResult(c, el, body);
  }
  if (q.ns === NS.DISCO_ITEMS) {
    if (node !== undefined) return errorReply(c, el, { type: "cancel", condition: "item-not-found" });
    // rooms are hidden and their occupant lists private (XEP-0045 §6.3, §6.5)
    return iqResult(c, el, entity === "server" ? serverItems(c) : emptyItems());
  }
  return undefined;
}
