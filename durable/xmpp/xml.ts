/**
 * A small, strict, fast XML parser and serializer for XMPP-over-WebSocket frames.
 *
 * RFC 7395 §3.3.3: every WebSocket frame carries complete XML (one or more elements), so the parser works on a whole
 * frame string, never incrementally. It implements the XML subset XMPP allows (RFC 6120 §11.1 "Restrictions"):
 *   - no comments, processing instructions (except an XML declaration at the very start of a frame),
 *     DTDs/DOCTYPE, or entity references other than the five predefined ones and numeric character references
 *     -> `restricted-xml`;
 *   - anything not well-formed (XML 1.0 §2.1, Namespaces in XML 1.0 §7: unbound prefixes, duplicate attributes,
 *     mismatched end tags, illegal characters, '<' in attribute values, bare '&') -> `not-well-formed`;
 *   - nesting deeper than `maxDepth` -> `policy-violation`.
 * Namespaces are resolved (each element gets `ns`), prefixes are kept as written in `name` so elements re-serialize
 * faithfully. Each element records the source span of its content (`src`, `innerStart`, `innerEnd`) so the hot path
 * (groupchat reflection) can pass an already validated payload through without re-serializing it.
 */
import { escapeAttr, escapeText } from "../../contract/xml";
export { escapeAttr, escapeText };

export interface XmlElement {
  /** qualified name as written, e.g. "message" or "stream:error" */
  readonly name: string;
  /** local part of the name */
  readonly local: string;
  /** resolved namespace URI ("" when none is in scope) */
  readonly ns: string;
  /** attributes by qualified name (including xmlns declarations), values decoded */
  readonly attrs: Record<string, string>;
  readonly children: XmlNode[];
  /** source frame, and the span of this element's content inside it (only set by the parser) */
  readonly src?: string;
  readonly innerStart?: number;
  readonly innerEnd?: number;
}

export type XmlNode = XmlElement | string;

export type XmlErrorCondition = "not-well-formed" | "restricted-xml" | "policy-violation";

export class XmlError extends Error {
  override name = "XmlError";
  constructor(
    readonly condition: XmlErrorCondition,
    message: string,
  ) {
    super(message);
  }
}

export interface ParseOptions {
  /** maximum element nesting depth (default 32) */
  maxDepth?: number;
  /**
   * default namespace in scope at the top of the frame (default none). The stream's content namespace goes here
   * (RFC 6120 §4.8.3: jabber:client), so an unqualified stanza and its unqualified children resolve to what they mean
   * on the stream, and namespace checks see the same namespaces a re-serialized copy carries.
   */
  defaultNs?: string;
}

const XML_NS = "http://www.w3.org/XML/1998/namespace";

// XML 1.0 §2.2 Char: anything outside is not allowed anywhere in a document.
const ILLEGAL_CHARS = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
// A simplified NCName-based QName check (XML 1.0 §2.3 Name, Namespaces §4 QName).
const QNAME =
  /^[A-Za-z_\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\uD800-\uDBFF][A-Za-z0-9_.\-\u00B7\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u037D\u037F-\u1FFF\u200C\u200D\u203F\u2040\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\uD800-\uDFFF]*(?::[A-Za-z_\u00C0-\uFFFD][A-Za-z0-9_.\-\u00B7\u00C0-\uFFFD]*)?$/;

/** Names already validated (element and attribute names repeat constantly; bounded so hostile input cannot grow it). */
const knownNames = new Set<string>();
function validName(n: string): boolean {
  if (knownNames.has(n)) return true;
  if (!QNAME.test(n)) return false;
  if (knownNames.size < 2048) knownNames.add(n);
  return true;
}

/** Namespace scope: the declarations of one element, chained to its parent's scope (most elements declare none). */
interface Scope {
  /** default namespace in scope */
  readonly dflt: string;
  /** prefix declarations made on this element (undefined when none), then the parent's */
  readonly prefixes: Map<string, string> | undefined;
  readonly parent: Scope | undefined;
}
const ROOT_SCOPE: Scope = { dflt: "", prefixes: new Map([["xml", XML_NS]]), parent: undefined };

function lookupPrefix(scope: Scope | undefined, prefix: string): string | undefined {
  for (let s = scope; s; s = s.parent) {
    const ns = s.prefixes?.get(prefix);
    if (ns !== undefined) return ns;
  }
  return undefined;
}

const isWs = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

function fail(condition: XmlErrorCondition, message: string): never {
  throw new XmlError(condition, message);
}

/** Decode the predefined entities and numeric character references in `s` (XML 1.0 §4.1, §4.6). */
function decodeEntities(s: string): string {
  let amp = s.indexOf("&");
  if (amp < 0) return s;
  let out = "";
  let last = 0;
  while (amp >= 0) {
    const semi = s.indexOf(";", amp + 1);
    if (semi < 0 || semi - amp > 12) fail("not-well-formed", "'&' must start a character or entity reference");
    const ref = s.slice(amp + 1, semi);
    let ch: string;
    switch (ref) {
      case "lt":
        ch = "<";
        break;
      case "gt":
        ch = ">";
        break;
      case "amp":
        ch = "&";
        break;
      case "quot":
        ch = '"';
        break;
      case "apos":
        ch = "'";
        break;
      default: {
        let cp: number;
        if (/^#x[0-9a-fA-F]{1,6}$/.test(ref)) cp = parseInt(ref.slice(2), 16);
        else if (/^#[0-9]{1,7}$/.test(ref)) cp = parseInt(ref.slice(1), 10);
        else if (/^[A-Za-z_][A-Za-z0-9._-]*$/.test(ref)) {
          // RFC 6120 §11.1: entity references other than the predefined ones are restricted XML.
          fail("restricted-xml", `entity reference '&${ref};' is not allowed`);
        } else fail("not-well-formed", "malformed character reference");
        const legal =
          cp === 0x9 ||
          cp === 0xa ||
          cp === 0xd ||
          (cp >= 0x20 && cp <= 0xd7ff) ||
          (cp >= 0xe000 && cp <= 0xfffd) ||
          (cp >= 0x10000 && cp <= 0x10ffff);
        if (!legal) fail("not-well-formed", `character reference '&${ref};' is not a legal XML character`);
        ch = String.fromCodePoint(cp);
      }
    }
    out += s.slice(last, amp) + ch;
    last = semi + 1;
    amp = s.indexOf("&", last);
  }
  return out + s.slice(last);
}

function normalizeAttr(v: string): string {
  // XML 1.0 §3.3.3 attribute-value normalization (CDATA type): literal whitespace characters become spaces.
  return /[\t\n\r]/.test(v) ? v.replace(/[\t\n\r]/g, " ") : v;
}

interface Open {
  el: XmlElement;
  scope: Scope;
}

/**
 * Parse one WebSocket frame into its top-level elements. Throws XmlError on anything not allowed.
 * Whitespace between top-level elements is ignored; other top-level text is not well-formed.
 */
export function parseFrame(src: string, opts: ParseOptions = {}): XmlElement[] {
  const maxDepth = opts.maxDepth ?? 32;
  const root: Scope = opts.defaultNs ? { dflt: opts.defaultNs, prefixes: undefined, parent: ROOT_SCOPE } : ROOT_SCOPE;
  if (ILLEGAL_CHARS.test(src)) fail("not-well-formed", "illegal character in XML");
  const out: XmlElement[] = [];
  const stack: Open[] = [];
  const n = src.length;
  let i = 0;

  // An XML declaration is allowed only at the very start of a frame (each frame is a standalone document).
  if (src.startsWith("<?xml") && (n === 5 || isWs(src.charCodeAt(5)) || src.charCodeAt(5) === 0x3f)) {
    const end = src.indexOf("?>", 5);
    if (end < 0) fail("not-well-formed", "unterminated XML declaration");
    if (!/^<\?xml\s+version\s*=\s*(['"])1\.[0-9]+\1(\s+encoding\s*=\s*(['"])utf-8\3)?(\s+standalone\s*=\s*(['"])(yes|no)\5)?\s*$/i.test(src.slice(0, end)))
      fail("not-well-formed", "malformed XML declaration");
    i = end + 2;
  }

  while (i < n) {
    const lt = src.indexOf("<", i);
    if (stack.length === 0) {
      // top level: only whitespace may appear between elements
      const stop = lt < 0 ? n : lt;
      for (let k = i; k < stop; k++) if (!isWs(src.charCodeAt(k))) fail("not-well-formed", "text outside of an element");
      if (lt < 0) break;
    } else {
      if (lt < 0) fail("not-well-formed", `unclosed element <${stack[stack.length - 1]!.el.name}>`);
      if (lt > i) {
        const raw = src.slice(i, lt);
        if (raw.includes("]]>")) fail("not-well-formed", "']]>' is not allowed in text");
        stack[stack.length - 1]!.el.children.push(decodeEntities(raw));
      }
    }
    i = lt + 1;
    const c = src.charCodeAt(i);
    if (c === 0x2f /* / */) {
      // end tag
      const gt = src.indexOf(">", i);
      if (gt < 0) fail("not-well-formed", "unterminated end tag");
      let nameEnd = gt;
      while (nameEnd > i + 1 && isWs(src.charCodeAt(nameEnd - 1))) nameEnd--;
      const name = src.slice(i + 1, nameEnd);
      const top = stack.pop();
      if (!top) fail("not-well-formed", `unexpected end tag </${name}>`);
      if (top.el.name !== name) fail("not-well-formed", `end tag </${name}> does not match <${top.el.name}>`);
      (top.el as { innerEnd: number }).innerEnd = lt;
      i = gt + 1;
      if (stack.length === 0) out.push(top.el);
      continue;
    }
    if (c === 0x21 /* ! */) {
      if (src.startsWith("<![CDATA[", lt) && stack.length > 0) {
        const end = src.indexOf("]]>", lt + 9);
        if (end < 0) fail("not-well-formed", "unterminated CDATA section");
        stack[stack.length - 1]!.el.children.push(src.slice(lt + 9, end));
        i = end + 3;
        continue;
      }
      if (src.startsWith("<!--", lt)) fail("restricted-xml", "comments are not allowed (RFC 6120 §11.1)");
      if (src.startsWith("<!DOCTYPE", lt)) fail("restricted-xml", "DTDs are not allowed (RFC 6120 §11.1)");
      fail("restricted-xml", "markup declarations are not allowed (RFC 6120 §11.1)");
    }
    if (c === 0x3f /* ? */) fail("restricted-xml", "processing instructions are not allowed (RFC 6120 §11.1)");

    // start tag
    let j = i;
    while (j < n) {
      const d = src.charCodeAt(j);
      if (isWs(d) || d === 0x3e || d === 0x2f) break;
      j++;
    }
    const name = src.slice(i, j);
    if (!validName(name)) fail("not-well-formed", `invalid element name '${name.slice(0, 64)}'`);
    // A plain object (null-prototype objects are slow dictionaries in V8); own-property checks only, and the one name
    // that would reach the prototype setter is refused.
    const attrs: Record<string, string> = {};
    let dflt: string | undefined;
    let prefixes: Map<string, string> | undefined;
    let prefixedAttrs: string[] | undefined;
    let selfClosing = false;
    for (;;) {
      const wsStart = j;
      while (j < n && isWs(src.charCodeAt(j))) j++;
      if (j >= n) fail("not-well-formed", `unterminated start tag <${name}>`);
      const d = src.charCodeAt(j);
      if (d === 0x3e) {
        j++;
        break;
      }
      if (d === 0x2f) {
        if (src.charCodeAt(j + 1) !== 0x3e) fail("not-well-formed", "'/' must be followed by '>'");
        j += 2;
        selfClosing = true;
        break;
      }
      if (j === wsStart) fail("not-well-formed", "attributes must be separated by whitespace");
      const an = j;
      while (j < n) {
        const e = src.charCodeAt(j);
        if (e === 0x3d || isWs(e) || e === 0x3e || e === 0x2f) break;
        j++;
      }
      const aname = src.slice(an, j);
      if (!validName(aname)) fail("not-well-formed", `invalid attribute name '${aname.slice(0, 64)}'`);
      while (j < n && isWs(src.charCodeAt(j))) j++;
      if (src.charCodeAt(j) !== 0x3d) fail("not-well-formed", `attribute '${aname}' has no value`);
      j++;
      while (j < n && isWs(src.charCodeAt(j))) j++;
      const q = src.charCodeAt(j);
      if (q !== 0x22 && q !== 0x27) fail("not-well-formed", `attribute '${aname}' value must be quoted`);
      const close = src.indexOf(q === 0x22 ? '"' : "'", j + 1);
      if (close < 0) fail("not-well-formed", "unterminated attribute value");
      const rawVal = src.slice(j + 1, close);
      if (rawVal.includes("<")) fail("not-well-formed", "'<' is not allowed in attribute values");
      if (Object.hasOwn(attrs, aname)) fail("not-well-formed", `duplicate attribute '${aname}'`);
      if (aname === "__proto__") fail("policy-violation", "attribute name '__proto__' is not accepted");
      const val = normalizeAttr(decodeEntities(rawVal));
      attrs[aname] = val;
      if (aname === "xmlns") dflt = val;
      else if (aname.startsWith("xmlns:")) {
        const p = aname.slice(6);
        if (p === "xmlns" || p === "xml" || val === "") fail("not-well-formed", `illegal namespace declaration '${aname}'`);
        (prefixes ??= new Map()).set(p, val);
      } else if (aname.includes(":")) (prefixedAttrs ??= []).push(aname);
      j = close + 1;
    }
    if (stack.length >= maxDepth) fail("policy-violation", `elements nested deeper than ${maxDepth}`);
    const parentScope = stack.length ? stack[stack.length - 1]!.scope : root;
    const scope: Scope =
      dflt === undefined && prefixes === undefined
        ? parentScope
        : { dflt: dflt ?? parentScope.dflt, prefixes, parent: parentScope };
    const colon = name.indexOf(":");
    const prefix = colon < 0 ? "" : name.slice(0, colon);
    const local = colon < 0 ? name : name.slice(colon + 1);
    const ns = colon < 0 ? scope.dflt : lookupPrefix(scope, prefix);
    if (ns === undefined) fail("not-well-formed", `unbound namespace prefix '${prefix}'`);
    if (prefixedAttrs) {
      for (const a of prefixedAttrs) {
        const ap = a.slice(0, a.indexOf(":"));
        if (lookupPrefix(scope, ap) === undefined) fail("not-well-formed", `unbound namespace prefix '${ap}'`);
      }
    }
    const el: XmlElement = { name, local, ns, attrs, children: [], src, innerStart: j, innerEnd: j };
    i = j;
    if (selfClosing) {
      if (stack.length === 0) out.push(el);
      else stack[stack.length - 1]!.el.children.push(el);
    } else {
      if (stack.length > 0) stack[stack.length - 1]!.el.children.push(el);
      stack.push({ el, scope });
    }
  }
  if (stack.length) fail("not-well-formed", `unclosed element <${stack[stack.length - 1]!.el.name}>`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Serialization


/** Serialize a node. Attributes come out double-quoted, in insertion order; empty elements self-close. */
export function serialize(node: XmlNode): string {
  if (typeof node === "string") return escapeText(node);
  let s = "<" + node.name;
  for (const k in node.attrs) s += " " + k + '="' + escapeAttr(node.attrs[k]!) + '"';
  if (node.children.length === 0) return s + "/>";
  s += ">";
  for (const c of node.children) s += serialize(c);
  return s + "</" + node.name + ">";
}

/** Serialized children of an element (from source when available: it was validated on parse). */
export function innerXml(el: XmlElement): string {
  if (el.src !== undefined && el.innerStart !== undefined && el.innerEnd !== undefined) {
    return el.src.slice(el.innerStart, el.innerEnd);
  }
  let s = "";
  for (const c of el.children) s += serialize(c);
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Builders and queries

export type Attrs = Record<string, string | number | undefined | null | false>;

/** Build an element: `x("iq", { type: "result", id }, x("query", { xmlns: NS }))`. Undefined/null/false attrs are skipped. */
export function x(name: string, attrs: Attrs = {}, ...children: (XmlNode | XmlNode[] | undefined | null | false)[]): XmlElement {
  const a = Object.create(null) as Record<string, string>;
  for (const k in attrs) {
    const v = attrs[k];
    if (v === undefined || v === null || v === false) continue;
    a[k] = String(v);
  }
  const ch: XmlNode[] = [];
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) ch.push(...c);
    else ch.push(c);
  }
  const colon = name.indexOf(":");
  return { name, local: colon < 0 ? name : name.slice(colon + 1), ns: a["xmlns"] ?? "", attrs: a, children: ch };
}

/** First child element with local name `local` (and namespace `ns` if given). */
export function child(el: XmlElement, local: string, ns?: string): XmlElement | undefined {
  for (const c of el.children) {
    if (typeof c !== "string" && c.local === local && (ns === undefined || c.ns === ns)) return c;
  }
  return undefined;
}

/** All child elements (optionally filtered by namespace). */
export function childElements(el: XmlElement, ns?: string): XmlElement[] {
  const out: XmlElement[] = [];
  for (const c of el.children) if (typeof c !== "string" && (ns === undefined || c.ns === ns)) out.push(c);
  return out;
}

/** Concatenated text content of the direct text children. */
export function text(el: XmlElement | undefined): string {
  if (!el) return "";
  let s = "";
  for (const c of el.children) if (typeof c === "string") s += c;
  return s;
}
