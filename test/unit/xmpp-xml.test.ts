import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { XmlError, child, escapeAttr, escapeText, innerXml, parseFrame, serialize, text, x, type XmlElement } from "../../durable/xmpp/xml";

function fails(src: string): string {
  try {
    parseFrame(src);
  } catch (e) {
    if (e instanceof XmlError) return e.condition;
    throw e;
  }
  return "ok";
}

describe("xml parser: well-formed input", () => {
  it("parses elements, attributes (either quote), text and namespaces", () => {
    const [m] = parseFrame(`<message xmlns='jabber:client' to="r@c.d" type='groupchat'><body>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;</body></message>`);
    expect(m!.name).toBe("message");
    expect(m!.ns).toBe("jabber:client");
    expect(m!.attrs).toEqual({ xmlns: "jabber:client", to: "r@c.d", type: "groupchat" });
    const body = child(m!, "body", "jabber:client");
    expect(text(body)).toBe(`a <b> & "c" 'd'`);
  });
  it("resolves prefixes and default namespaces per element", () => {
    const [e] = parseFrame(`<stream:error xmlns:stream="http://etherx.jabber.org/streams"><x xmlns="urn:a"><y/></x></stream:error>`);
    expect(e!.ns).toBe("http://etherx.jabber.org/streams");
    expect(e!.local).toBe("error");
    const xx = e!.children[0] as XmlElement;
    expect(xx.ns).toBe("urn:a");
    expect((xx.children[0] as XmlElement).ns).toBe("urn:a");
  });
  it("decodes numeric character references including astral ones", () => {
    const [e] = parseFrame(`<a b="&#x1F600;&#65;">&#233;&#x10FFFF;</a>`);
    expect(e!.attrs["b"]).toBe("😀A");
    expect(text(e)).toBe("é\u{10FFFF}");
  });
  it("parses several top-level elements in one frame, ignoring whitespace between them", () => {
    const els = parseFrame(` <a/>\n<b x='1'></b>\t<c>t</c> `);
    expect(els.map((e) => e.name)).toEqual(["a", "b", "c"]);
  });
  it("accepts CDATA sections as text and an XML declaration at the start", () => {
    const [e] = parseFrame(`<?xml version='1.0' encoding='UTF-8'?><a><![CDATA[<not> &markup;]]></a>`);
    expect(text(e)).toBe("<not> &markup;");
  });
  it("normalizes literal whitespace in attribute values (XML 1.0 §3.3.3)", () => {
    expect(parseFrame(`<a b="x\ny\tz"/>`)[0]!.attrs["b"]).toBe("x y z");
  });
  it("keeps the content span for pass-through", () => {
    const [m] = parseFrame(`<message xmlns="jabber:client"><body>x&amp;y</body><z xmlns="u"/></message>`);
    expect(innerXml(m!)).toBe(`<body>x&amp;y</body><z xmlns="u"/>`);
  });
  it("treats attribute names like Object.prototype members as ordinary attributes", () => {
    const [e] = parseFrame(`<a constructor="1" toString="2" hasOwnProperty="3"/>`);
    expect(e!.attrs).toEqual({ constructor: "1", toString: "2", hasOwnProperty: "3" });
    expect(Object.hasOwn(parseFrame(`<a/>`)[0]!.attrs, "constructor")).toBe(false);
  });
  it("resolves prefixed attributes and nested prefix declarations", () => {
    const [e] = parseFrame(`<a xmlns:p="urn:p" p:x="1"><p:b xmlns:q="urn:q"><q:c p:y="2"/></p:b></a>`);
    const b = e!.children[0] as XmlElement;
    expect(b.ns).toBe("urn:p");
    expect((b.children[0] as XmlElement).ns).toBe("urn:q");
    expect(fails(`<a><p:b xmlns:p="urn:p"/><p:c/></a>`)).toBe("not-well-formed");
  });
  it("allows an end tag with trailing whitespace", () => {
    expect(parseFrame(`<a></a  >`)[0]!.name).toBe("a");
  });
});

describe("xml parser: hostile and malformed input", () => {
  const table: [string, string, string][] = [
    ["DOCTYPE", `<!DOCTYPE foo [<!ENTITY x "y">]><a/>`, "restricted-xml"],
    ["DOCTYPE inside", `<a><!DOCTYPE a></a>`, "restricted-xml"],
    ["comment", `<a><!-- hi --></a>`, "restricted-xml"],
    ["top-level comment", `<!-- hi --><a/>`, "restricted-xml"],
    ["processing instruction", `<a><?php echo 1 ?></a>`, "restricted-xml"],
    ["PI not at start", `<a/><?xml version='1.0'?>`, "restricted-xml"],
    ["custom entity", `<a>&xxe;</a>`, "restricted-xml"],
    ["custom entity in attribute", `<a b="&lol9;"/>`, "restricted-xml"],
    ["billion laughs", `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>`, "restricted-xml"],
    ["bare ampersand", `<a>fish & chips</a>`, "not-well-formed"],
    ["unterminated reference", `<a>&amp</a>`, "not-well-formed"],
    ["illegal char ref", `<a>&#0;</a>`, "not-well-formed"],
    ["illegal char ref (surrogate)", `<a>&#xD800;</a>`, "not-well-formed"],
    ["out of range char ref", `<a>&#x110000;</a>`, "not-well-formed"],
    ["control character", `<a>\u0001</a>`, "not-well-formed"],
    ["U+FFFE", `<a>\uFFFE</a>`, "not-well-formed"],
    ["mismatched end tag", `<a><b></a></b>`, "not-well-formed"],
    ["unclosed element", `<a><b></b>`, "not-well-formed"],
    ["stray end tag", `</a>`, "not-well-formed"],
    ["text at top level", `hello<a/>`, "not-well-formed"],
    ["text after element", `<a/>junk`, "not-well-formed"],
    ["duplicate attribute", `<a b="1" b="2"/>`, "not-well-formed"],
    ["unquoted attribute", `<a b=1/>`, "not-well-formed"],
    ["attribute without value", `<a b/>`, "not-well-formed"],
    ["< in attribute", `<a b="<"/>`, "not-well-formed"],
    ["unterminated attribute", `<a b="x/>`, "not-well-formed"],
    ["attributes not separated", `<a b="1"c="2"/>`, "not-well-formed"],
    ["bad element name", `<1a/>`, "not-well-formed"],
    ["empty element name", `< a/>`, "not-well-formed"],
    ["unbound element prefix", `<foo:a/>`, "not-well-formed"],
    ["unbound attribute prefix", `<a foo:b="1"/>`, "not-well-formed"],
    ["empty prefixed namespace", `<a xmlns:p=""/>`, "not-well-formed"],
    ["]]> in text", `<a>x]]>y</a>`, "not-well-formed"],
    ["unterminated CDATA", `<a><![CDATA[x</a>`, "not-well-formed"],
    ["CDATA at top level", `<![CDATA[x]]>`, "restricted-xml"],
    ["unterminated start tag", `<a b="1"`, "not-well-formed"],
    ["slash without >", `<a / >`, "not-well-formed"],
    ["malformed XML declaration", `<?xml version='2' junk?><a/>`, "not-well-formed"],
    ["deep nesting", "<a>".repeat(40) + "</a>".repeat(40), "policy-violation"],
    ["__proto__ attribute", `<a __proto__="x"/>`, "policy-violation"],
  ];
  it.each(table)("%s", (_name, src, condition) => {
    expect(fails(src)).toBe(condition);
  });
  it("never throws anything but XmlError on random input", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme-composite", maxLength: 200 }), (s) => {
        try {
          parseFrame(s);
        } catch (e) {
          expect(e).toBeInstanceOf(XmlError);
        }
      }),
      { numRuns: 500 },
    );
  });
  it("never throws anything but XmlError on mutated XML-like input", () => {
    const alphabet = fc.constantFrom("<", ">", "/", "a", "b:", "=", '"', "'", "&", ";", "#", "x", " ", "!", "?", "[", "]", "-", "amp", "xmlns", "CDATA");
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 60 }), (parts) => {
        try {
          parseFrame(parts.join(""));
        } catch (e) {
          expect(e).toBeInstanceOf(XmlError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("xml serializer", () => {
  it("escapes text and attributes", () => {
    expect(escapeText(`a<b>&c`)).toBe("a&lt;b&gt;&amp;c");
    expect(escapeAttr(`"'<&>\n\t\r`)).toBe("&quot;'&lt;&amp;&gt;&#10;&#9;&#13;");
    expect(serialize(x("a", { b: `x"y`, c: undefined, d: 1 }, "t<", x("e")))).toBe(`<a b="x&quot;y" d="1">t&lt;<e/></a>`);
  });
  const name = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
  const textArb = fc.string({ maxLength: 20 }).filter((s) => !/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF\uD800-\uDFFF]/.test(s));
  const tree: fc.Arbitrary<XmlElement> = fc.letrec<{ el: XmlElement }>((tie) => ({
    el: fc
      .tuple(name, fc.dictionary(name, textArb, { maxKeys: 3 }), fc.array(fc.oneof(textArb.filter((s) => s.length > 0), tie("el")), { maxLength: 3 }))
      .map(([n, attrs, children]) => x(n, attrs, ...children)),
  })).el;
  it("round-trips: parse(serialize(t)) serializes identically", () => {
    fc.assert(
      fc.property(tree, (t) => {
        const s = serialize(t);
        const back = parseFrame(s);
        expect(back).toHaveLength(1);
        expect(serialize(back[0]!)).toBe(s);
      }),
      { numRuns: 300 },
    );
  });
});
