/**
 * RFC 7395 (XMPP over WebSocket) framing: `<open/>` / `<close/>` in the framing namespace replace the TCP stream
 * header (§3.3.2, §3.3.3); every frame is a complete XML document (§3.3.3), so frames we send that use the
 * `stream:` prefix declare it themselves.
 */
import { NS } from "./ns";
import { escapeAttr, type XmlElement } from "./xml";

/** A top-level element received on the stream, classified. */
export type Incoming =
  | { kind: "open"; to: string | undefined; version: string | undefined; el: XmlElement }
  | { kind: "close"; el: XmlElement }
  | { kind: "stanza"; stanza: "message" | "presence" | "iq"; el: XmlElement }
  | { kind: "nonza"; el: XmlElement }
  | { kind: "bad-namespace"; el: XmlElement }
  | { kind: "bad-prefix"; el: XmlElement };

export function classify(el: XmlElement): Incoming {
  if (el.local === "open" || el.local === "close") {
    if (el.ns !== NS.FRAMING) return { kind: "bad-namespace", el };
    return el.local === "open"
      ? { kind: "open", to: el.attrs["to"], version: el.attrs["version"], el }
      : { kind: "close", el };
  }
  if (el.local === "message" || el.local === "presence" || el.local === "iq") {
    // RFC 7395 §3.3.3 / RFC 6120 §4.8.3: stanzas are qualified by jabber:client. Frames are parsed with jabber:client
    // as the default namespace (some clients rely on the stream default), so an unqualified stanza is one too.
    if (el.ns !== NS.CLIENT) return { kind: "bad-namespace", el };
    // A prefixed stanza (`<c:message xmlns:c='jabber:client'>`) is refused (RFC 6120 §4.9.3.2 bad-namespace-prefix):
    // its unprefixed children would sit in whatever default namespace the frame declares, while the room relays its
    // content inside `<message xmlns='jabber:client'>`, where the same children would mean something else.
    if (el.name !== el.local) return { kind: "bad-prefix", el };
    return { kind: "stanza", stanza: el.local, el };
  }
  return { kind: "nonza", el };
}

/** The server's `<open/>` (RFC 7395 §3.4): framing xmlns, from, a fresh id, version 1.0. */
export function openXml(domain: string, id: string): string {
  return `<open xmlns="${NS.FRAMING}" from="${escapeAttr(domain)}" id="${escapeAttr(id)}" version="1.0" xml:lang="en"/>`;
}

export const CLOSE_XML = `<close xmlns="${NS.FRAMING}"/>`;

/** `<stream:features>` with the prefix declared in the frame. */
export function featuresXml(inner: string): string {
  return `<stream:features xmlns:stream="${NS.STREAM}">${inner}</stream:features>`;
}
