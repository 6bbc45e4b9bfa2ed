/**
 * XEP-0199 XMPP Ping (§4.2 client-to-server, answered for the server, the MUC service and the room) and
 * XEP-0410 MUC Self-Ping (§3.2: a ping to one's own occupant JID is answered by the room: result when joined,
 * `<not-acceptable/>` when not an occupant).
 */
import type { XmlElement } from "../xmpp/xml";
import { NS } from "../xmpp/ns";
import { child } from "../xmpp/xml";

export const isPing = (el: XmlElement) => el.attrs["type"] === "get" && child(el, "ping", NS.PING) !== undefined;
