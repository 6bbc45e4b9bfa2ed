/**
 * RFC 7395 framing (durable/xmpp/framing.ts): classifying <open/>, <close/>, stanzas and nonzas, and our <open/>.
 */
import { describe, expect, it } from "vitest";
import { classify, openXml } from "../../durable/xmpp/framing";
import { parseFrame } from "../../durable/xmpp/xml";
import { el } from "./helpers/core-harness";

const OPEN = `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.org" version="1.0"/>`;

describe("RFC 7395 framing", () => {
  it("classifies open/close/stanzas/nonzas and wrong namespaces", () => {
    expect(classify(el(OPEN)).kind).toBe("open");
    expect(classify(el(`<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`)).kind).toBe("close");
    expect(classify(el(`<open xmlns="jabber:client"/>`)).kind).toBe("bad-namespace");
    expect(classify(el(`<message xmlns="jabber:client"/>`))).toMatchObject({ kind: "stanza", stanza: "message" });
    // the core parses frames with jabber:client as the default namespace, so an unqualified stanza is one
    expect(classify(parseFrame(`<iq/>`, { defaultNs: "jabber:client" })[0]!)).toMatchObject({ kind: "stanza", stanza: "iq" });
    expect(classify(el(`<iq/>`)).kind).toBe("bad-namespace");
    expect(classify(el(`<c:iq xmlns:c="jabber:client"/>`)).kind).toBe("bad-prefix");
    expect(classify(el(`<presence xmlns="jabber:server"/>`)).kind).toBe("bad-namespace");
    expect(classify(el(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`)).kind).toBe("nonza");
  });
  it("answers with an <open/> carrying the framing namespace, from, id and version", () => {
    const o = el(openXml("example.org", "abc"));
    expect(o.ns).toBe("urn:ietf:params:xml:ns:xmpp-framing");
    expect(o.attrs).toMatchObject({ from: "example.org", id: "abc", version: "1.0" });
  });
});
