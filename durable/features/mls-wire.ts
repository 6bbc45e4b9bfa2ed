/**
 * Wire format of the MLS Delivery Service (docs/e2ee-protocol.md), namespace urn:parley:mls:0:
 * parsing of the clients' requests (zod at the boundary, every field size-limited), the room's payloads, and a
 * reader of the few clear header fields of MLS messages (RFC 9420 §6, §10, §12.4) the room checks. The room never
 * holds a key: it reads group id, epoch, content type, cipher suite and the KeyPackage's credential identity only.
 */
import { z } from "zod";
import { toBase64 } from "../../contract/hmac";
import { stanzaErrorXml, type StanzaError } from "../xmpp/errors";
import { childElements, escapeAttr, text, type XmlElement } from "../xmpp/xml";

export const NS_MLS = "urn:parley:mls:0";

/** Decoded sizes. Together (commit + welcome + group info, base64) they fit the default 64 KiB stanza limit. */
export const LIMITS = {
  keyPackage: 2048,
  commit: 16_384,
  welcome: 16_384,
  groupInfo: 12_288,
  identity: 128,
  groupId: 64,
  /** members added or removed by one commit */
  changes: 32,
} as const;

/** RFC 9420 §17.1 cipher suite 1; §6 WireFormat values; §6 ContentType commit; §5.3 BasicCredential */
const SUITE_1 = 1;
const MLS10 = 1;
const WIRE = { publicMessage: 1, privateMessage: 2, welcome: 3, groupInfo: 4, keyPackage: 5 } as const;
const CONTENT_COMMIT = 3;
const CREDENTIAL_BASIC = 1;

export class MlsWireError extends Error {
  override name = "MlsWireError";
  constructor(readonly error: StanzaError) {
    super(error.text ?? error.condition);
  }
}

const bad = (text: string) => new MlsWireError({ type: "modify", condition: "bad-request", text });
const tooBig = (what: string, max: number) =>
  new MlsWireError({ type: "modify", condition: "policy-violation", text: `${what} larger than ${max} bytes` });

/** Strict base64 (RFC 4648 §4, padded); the size is checked before decoding. */
function decodeB64(s: string, what: string, max: number): Uint8Array {
  const t = s.trim();
  if (Math.floor(t.length / 4) * 3 > max + 2) throw tooBig(what, max);
  if (t.length === 0 || t.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(t)) throw bad(`${what}: not base64`);
  const bin = atob(t);
  if (bin.length > max) throw tooBig(what, max);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** A cursor over MLS' TLS presentation language (RFC 9420 §2.1: big-endian integers, §2.1.2 variable-size vectors). */
class Reader {
  at = 0;
  constructor(
    readonly b: Uint8Array,
    readonly what: string,
  ) {}
  #need(n: number): void {
    if (this.at + n > this.b.length) throw bad(`${this.what}: truncated`);
  }
  u8(): number {
    this.#need(1);
    return this.b[this.at++]!;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  u64(): bigint {
    this.#need(8);
    let v = 0n;
    for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(this.b[this.at++]!);
    return v;
  }
  /** §2.1.2: 2-bit prefix gives 1, 2 or 4 length bytes; prefix 0b11 is invalid */
  vector(): Uint8Array {
    const first = this.u8();
    const prefix = first >> 6;
    let len = first & 0x3f;
    if (prefix === 3) throw bad(`${this.what}: invalid vector length`);
    for (let i = 0; i < (1 << prefix) - 1; i++) len = len * 256 + this.u8();
    this.#need(len);
    const v = this.b.subarray(this.at, this.at + len);
    this.at += len;
    return v;
  }
  header(wire: number, name: string): void {
    if (this.u16() !== MLS10) throw bad(`${this.what}: not MLS 1.0`);
    if (this.u16() !== wire) throw bad(`${this.what}: not a ${name}`);
  }
}

/** KeyPackage (§10): protocol version, cipher suite 1, and the BasicCredential identity of its leaf node. */
export function peekKeyPackage(b: Uint8Array): { identity: string } {
  const r = new Reader(b, "key package");
  r.header(WIRE.keyPackage, "KeyPackage");
  if (r.u16() !== MLS10) throw bad("key package: not MLS 1.0");
  if (r.u16() !== SUITE_1) throw bad("key package: cipher suite must be 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)");
  r.vector(); // init_key
  r.vector(); // leaf_node.encryption_key
  r.vector(); // leaf_node.signature_key
  if (r.u16() !== CREDENTIAL_BASIC) throw bad("key package: credential must be basic");
  const id = r.vector();
  if (id.length === 0 || id.length > LIMITS.identity) throw bad(`key package: identity must be 1..${LIMITS.identity} bytes`);
  let identity: string;
  try {
    identity = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(id);
  } catch {
    throw bad("key package: identity is not UTF-8");
  }
  if (/[\u0000-\u001f\u007f]/.test(identity)) throw bad("key package: identity has control characters");
  return { identity };
}

/** PrivateMessage (§6.3) carrying a commit: its group id and epoch (both in the clear). */
export function peekCommit(b: Uint8Array): { groupId: Uint8Array; epoch: bigint } {
  const r = new Reader(b, "commit");
  r.header(WIRE.privateMessage, "PrivateMessage");
  const groupId = r.vector();
  const epoch = r.u64();
  if (r.u8() !== CONTENT_COMMIT) throw bad("commit: content type is not commit");
  return { groupId, epoch };
}

/** GroupInfo (§12.4.3): cipher suite, group id and epoch of its GroupContext. */
export function peekGroupInfo(b: Uint8Array): { groupId: Uint8Array; epoch: bigint } {
  const r = new Reader(b, "group info");
  r.header(WIRE.groupInfo, "GroupInfo");
  if (r.u16() !== MLS10) throw bad("group info: not MLS 1.0");
  if (r.u16() !== SUITE_1) throw bad("group info: cipher suite must be 1");
  const groupId = r.vector();
  return { groupId, epoch: r.u64() };
}

/** Welcome (§12.4.3.1): cipher suite. */
export function peekWelcome(b: Uint8Array): void {
  const r = new Reader(b, "welcome");
  r.header(WIRE.welcome, "Welcome");
  if (r.u16() !== SUITE_1) throw bad("welcome: cipher suite must be 1");
}

/** Requests a session sends to the room, as `<iq/>` children in NS_MLS. */
export type MlsRequest =
  | { kind: "key-package"; keyPackage: Uint8Array; identity: string }
  | { kind: "create"; groupInfo: Uint8Array; groupId: Uint8Array }
  | {
      kind: "commit";
      epoch: bigint;
      message: Uint8Array;
      groupInfo: Uint8Array;
      welcome: Uint8Array | undefined;
      adds: string[];
      removes: string[];
    }
  | { kind: "group-info" };

const epochAttr = z.string().regex(/^(0|[1-9]\d{0,19})$/, "epoch must be a decimal integer").transform(BigInt);
const identityAttr = z.string().min(1).max(LIMITS.identity);
const Flat = z.object({
  name: z.enum(["key-package", "create", "commit", "group"]),
  type: z.enum(["get", "set"]),
  attrs: z.record(z.string(), z.string()),
  body: z.string(),
  parts: z
    .array(z.object({ name: z.string(), attrs: z.record(z.string(), z.string()), body: z.string() }))
    .max(LIMITS.changes * 2 + 4, "too many child elements"),
});
const CommitAttrs = z.object({ epoch: epochAttr });

/** Parse the NS_MLS child of an `<iq/>` of type `iqType`; throws MlsWireError (bad-request / policy-violation). */
export function parseRequest(el: XmlElement, iqType: string): MlsRequest {
  if (el.ns !== NS_MLS) throw bad(`expected an element in ${NS_MLS}`);
  const flat = Flat.safeParse({
    name: el.local,
    type: iqType,
    attrs: el.attrs,
    body: childElements(el).length ? "" : text(el),
    parts: childElements(el, NS_MLS).map((c) => ({ name: c.local, attrs: c.attrs, body: text(c) })),
  });
  if (!flat.success) throw bad(flat.error.issues.map((i) => i.message).join("; "));
  const f = flat.data;
  const one = (name: string, what: string, max: number, required: boolean): Uint8Array | undefined => {
    const ps = f.parts.filter((p) => p.name === name);
    if (ps.length > 1) throw bad(`more than one <${name}/>`);
    if (!ps[0]) {
      if (required) throw bad(`<${name}/> missing`);
      return undefined;
    }
    return decodeB64(ps[0].body, what, max);
  };
  const want = (t: "get" | "set") => {
    if (f.type !== t) throw bad(`<${f.name}/> is sent in an iq of type ${t}`);
  };
  switch (f.name) {
    case "key-package": {
      want("set");
      const keyPackage = decodeB64(f.body, "key package", LIMITS.keyPackage);
      return { kind: "key-package", keyPackage, identity: peekKeyPackage(keyPackage).identity };
    }
    case "create": {
      want("set");
      const groupInfo = one("group-info", "group info", LIMITS.groupInfo, true)!;
      const gi = peekGroupInfo(groupInfo);
      if (gi.epoch !== 0n) throw bad("create: the group info must be of epoch 0");
      if (gi.groupId.length < 1 || gi.groupId.length > LIMITS.groupId) throw bad(`group id must be 1..${LIMITS.groupId} bytes`);
      return { kind: "create", groupInfo, groupId: gi.groupId };
    }
    case "commit": {
      want("set");
      const a = CommitAttrs.safeParse(f.attrs);
      if (!a.success) throw bad(a.error.issues.map((i) => i.message).join("; "));
      const ids = (name: string) =>
        f.parts
          .filter((p) => p.name === name)
          .map((p) => {
            const r = identityAttr.safeParse(p.attrs["identity"]);
            if (!r.success) throw bad(`<${name}/> needs an identity of 1..${LIMITS.identity} bytes`);
            return r.data;
          });
      const adds = ids("add");
      const removes = ids("remove");
      if (adds.length + removes.length > LIMITS.changes) throw tooBig("changes in one commit", LIMITS.changes);
      return {
        kind: "commit",
        epoch: a.data.epoch,
        message: one("message", "commit", LIMITS.commit, true)!,
        groupInfo: one("group-info", "group info", LIMITS.groupInfo, true)!,
        welcome: one("welcome", "welcome", LIMITS.welcome, false),
        adds,
        removes,
      };
    }
    case "group":
      want("get");
      return { kind: "group-info" };
    default: {
      const never: never = f.name;
      throw bad(`unknown request ${String(never)}`);
    }
  }
}

const b64 = (u: Uint8Array) => toBase64(u);

/** Room -> committer: make a commit on `epoch` adding these KeyPackages and removing these members. */
export function commitRequestXml(r: { epoch: bigint | undefined; adds: { identity: string; keyPackage: Uint8Array }[]; removes: string[] }): string {
  const head = r.epoch === undefined ? `<commit-request xmlns="${NS_MLS}" create="true">` : `<commit-request xmlns="${NS_MLS}" epoch="${r.epoch}">`;
  return (
    head +
    r.adds.map((a) => `<add identity="${escapeAttr(a.identity)}">${b64(a.keyPackage)}</add>`).join("") +
    r.removes.map((id) => `<remove identity="${escapeAttr(id)}"/>`).join("") +
    `</commit-request>`
  );
}

/** Room -> other members: the accepted commit of `epoch`. */
export const commitXml = (epoch: bigint, message: Uint8Array) => `<commit xmlns="${NS_MLS}" epoch="${epoch}">${b64(message)}</commit>`;

/** Room -> added member: its Welcome into `epoch`. */
export const welcomeXml = (epoch: bigint, welcome: Uint8Array) => `<welcome xmlns="${NS_MLS}" epoch="${epoch}">${b64(welcome)}</welcome>`;

/** Result of `<group/>` (get): the stored public state, or an empty element when there is no group. */
export function groupXml(g: { epoch: bigint; groupInfo: Uint8Array } | undefined): string {
  if (!g) return `<group xmlns="${NS_MLS}"/>`;
  return `<group xmlns="${NS_MLS}" epoch="${g.epoch}"><group-info>${b64(g.groupInfo)}</group-info></group>`;
}

/** An error of the Delivery Service; `currentEpoch` rides along as `<stale-epoch current='N'/>` (retry on N). */
export interface DsError extends StanzaError {
  currentEpoch?: bigint;
}

/** The `<error/>` element for a DsError (RFC 6120 §8.3.2, with an application-specific condition). */
export function dsErrorXml(e: DsError): string {
  const base = stanzaErrorXml(e);
  if (e.currentEpoch === undefined) return base;
  return base.replace(/<\/error>$/, `<stale-epoch xmlns="${NS_MLS}" current="${e.currentEpoch}"/></error>`);
}
