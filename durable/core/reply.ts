/**
 * Replies from the server or the room to the sending connection: IQ results and error stanzas.
 * RFC 6120 §8.3.1: an error reply swaps addresses (from = what the client addressed), keeps the id, and is never
 * sent in answer to an error stanza. The original payload is not echoed (it may hold a password).
 */
import { stanzaErrorXml, type StanzaError } from "../xmpp/errors";
import { NS } from "../xmpp/ns";
import { escapeAttr, type XmlElement } from "../xmpp/xml";
import { fullJid, type ConnState } from "./state";

/** RFC 6120 §8.3.1. Returns undefined for stanzas that must not be answered (type='error'). */
export function errorReply(c: ConnState, el: XmlElement, err: StanzaError): string | undefined {
  return errorReplyXml(c, el, stanzaErrorXml(err));
}

/** errorReply with the `<error/>` element already serialized (one carrying an application-specific condition). */
export function errorReplyXml(c: ConnState, el: XmlElement, errorXml: string): string | undefined {
  if (el.attrs["type"] === "error") return undefined;
  const id = el.attrs["id"];
  const from = el.attrs["to"];
  return (
    `<${el.local} xmlns="${NS.CLIENT}" type="error" to="${escapeAttr(fullJid(c))}"` +
    (from ? ` from="${escapeAttr(from)}"` : "") +
    (id !== undefined ? ` id="${escapeAttr(id)}"` : "") +
    ">" +
    errorXml +
    `</${el.local}>`
  );
}

/** An IQ result (RFC 6120 §8.2.3) from the addressed entity with optional payload. */
export function iqResult(c: ConnState, el: XmlElement, payload = ""): string {
  const from = el.attrs["to"];
  return (
    `<iq xmlns="${NS.CLIENT}" type="result" to="${escapeAttr(fullJid(c))}"` +
    (from ? ` from="${escapeAttr(from)}"` : "") +
    ` id="${escapeAttr(el.attrs["id"] ?? "")}">` +
    payload +
    `</iq>`
  );
}

/** `xmlns:*` declarations of a stanza, to carry onto a rewritten copy whose payload is passed through raw. */
export function prefixDecls(el: XmlElement): string {
  let s = "";
  for (const k in el.attrs) if (k.startsWith("xmlns:")) s += ` ${k}="${escapeAttr(el.attrs[k]!)}"`;
  return s;
}
