/** XML namespaces used by the room server, as constants (`as const`) with derived types. */
export const NS = {
  CLIENT: "jabber:client",
  FRAMING: "urn:ietf:params:xml:ns:xmpp-framing", // RFC 7395 §3.3.1
  STREAM: "http://etherx.jabber.org/streams", // RFC 6120 §4.9
  STREAMS: "urn:ietf:params:xml:ns:xmpp-streams", // RFC 6120 §4.9.3 stream error conditions
  STANZAS: "urn:ietf:params:xml:ns:xmpp-stanzas", // RFC 6120 §8.3.3 stanza error conditions
  SASL: "urn:ietf:params:xml:ns:xmpp-sasl", // RFC 6120 §6
  BIND: "urn:ietf:params:xml:ns:xmpp-bind", // RFC 6120 §7
  SESSION: "urn:ietf:params:xml:ns:xmpp-session", // RFC 3921 §3, draft-cridland-xmpp-session-01
  DISCO_INFO: "http://jabber.org/protocol/disco#info", // XEP-0030
  DISCO_ITEMS: "http://jabber.org/protocol/disco#items", // XEP-0030
  PING: "urn:xmpp:ping", // XEP-0199
  EXTDISCO: "urn:xmpp:extdisco:2", // XEP-0215
  MUC: "http://jabber.org/protocol/muc", // XEP-0045
  MUC_USER: "http://jabber.org/protocol/muc#user",
  MUC_OWNER: "http://jabber.org/protocol/muc#owner",
  MUC_ADMIN: "http://jabber.org/protocol/muc#admin",
  MUC_ROOMCONFIG: "http://jabber.org/protocol/muc#roomconfig",
  MUC_ROOMINFO: "http://jabber.org/protocol/muc#roominfo",
  DATA: "jabber:x:data", // XEP-0004
  SID: "urn:xmpp:sid:0", // XEP-0359
  PARLEY_MEDIA: "urn:parley:media:0", // our media-mode announcements (docs/architecture.md)
} as const;

type Namespace = (typeof NS)[keyof typeof NS];
