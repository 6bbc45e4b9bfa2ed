/**
 * SFrame (RFC 9605) with cipher suite AES_128_GCM_SHA256_128 (0x0004, §4.5 and §8.1), WebCrypto only so it runs the
 * same in browsers, Workers and workerd.
 *   - header (§4.3): config byte `X|K(3)|Y|C(3)`, then KID and CTR as minimal big-endian integers when >= 8;
 *   - key derivation (§4.4.2): sframe_secret = HKDF-Extract("", base_key);
 *     sframe_key  = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret key "  + KID(8 bytes) + suite(2 bytes), Nk);
 *     sframe_salt = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret salt " + KID(8 bytes) + suite(2 bytes), Nn);
 *   - encryption (§4.4.3): nonce = sframe_salt XOR CTR (big-endian, Nn bytes), AAD = header + metadata,
 *     output = header + AEAD ciphertext (tag of Nt = 16 bytes appended).
 * Header values are 64-bit, so they are `bigint`s here.
 */

export const SUITE_AES_128_GCM_SHA256_128 = 0x0004;
/** §4.5 table: key, nonce and tag sizes of AES_128_GCM_SHA256_128 */
export const NK = 16;
const NN = 12;
const NT = 16;
const MAX_U64 = (1n << 64n) - 1n;

export class SFrameError extends Error {
  override name = "SFrameError";
}

const enc = new TextEncoder();

/** A copy-free view typed for WebCrypto (which wants ArrayBuffer-backed views). */
function ab(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? (u as Uint8Array<ArrayBuffer>) : new Uint8Array(u);
}

function checkU64(name: string, v: bigint): void {
  if (v < 0n || v > MAX_U64) throw new SFrameError(`${name} out of range (0..2^64-1): ${v}`);
}

/**
 * Every frame goes through the helpers below, so they work on two 32-bit halves as plain numbers: bigint arithmetic
 * allocates at each step.
 */
function halves(v: bigint): [hi: number, lo: number] {
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

/** Bytes needed to write `v` big-endian with no leading zero byte (v >= 8 here, so at least 1). */
function byteLength(v: bigint): number {
  const [hi, lo] = halves(v);
  const bits = hi !== 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(lo);
  return Math.ceil(bits / 8);
}

/** Write the low `len` (<= 8) bytes of `v` big-endian at `at`. */
function writeBE(out: Uint8Array, at: number, v: bigint, len: number): void {
  const [hi, lo] = halves(v);
  for (let i = 0; i < len; i++) {
    const shift = 8 * i;
    out[at + len - 1 - i] = (shift < 32 ? lo >>> shift : hi >>> (shift - 32)) & 0xff;
  }
}

function readBE(buf: Uint8Array, at: number, len: number): bigint {
  if (len <= 6) {
    let n = 0;
    for (let i = 0; i < len; i++) n = n * 256 + buf[at + i]!;
    return BigInt(n);
  }
  let v = 0n;
  for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(buf[at + i]!);
  return v;
}

/** §4.3: encode the SFrame header for (KID, CTR). */
export function encodeHeader(kid: bigint, ctr: bigint): Uint8Array {
  checkU64("KID", kid);
  checkU64("CTR", ctr);
  const klen = kid < 8n ? 0 : byteLength(kid);
  const clen = ctr < 8n ? 0 : byteLength(ctr);
  const out = new Uint8Array(1 + klen + clen);
  const k = klen === 0 ? Number(kid) << 4 : 0x80 | ((klen - 1) << 4);
  const c = clen === 0 ? Number(ctr) : 0x08 | (clen - 1);
  out[0] = k | c;
  if (klen) writeBE(out, 1, kid, klen);
  if (clen) writeBE(out, 1 + klen, ctr, clen);
  return out;
}

export interface Header {
  kid: bigint;
  ctr: bigint;
  /** bytes the header takes at the start of the buffer */
  size: number;
}

/**
 * §4.3: decode the header at the start of `buf`. Values written with more bytes than needed (a leading zero byte,
 * or a value < 8 in extended form) are refused: the RFC says they MUST use the minimum, and accepting two encodings
 * of one (KID, CTR) would give one nonce two different AADs.
 */
export function decodeHeader(buf: Uint8Array): Header {
  if (buf.length < 1) throw new SFrameError("empty SFrame");
  const cfg = buf[0]!;
  let at = 1;
  const field = (extended: boolean, bits: number, name: string): bigint => {
    if (!extended) return BigInt(bits);
    const len = bits + 1;
    if (buf.length < at + len) throw new SFrameError(`SFrame header truncated in ${name}`);
    const v = readBE(buf, at, len);
    if (buf[at] === 0 || v < 8n) throw new SFrameError(`SFrame header: ${name} not minimally encoded`);
    at += len;
    return v;
  };
  const kid = field((cfg & 0x80) !== 0, (cfg >> 4) & 0x07, "KID");
  const ctr = field((cfg & 0x08) !== 0, cfg & 0x07, "CTR");
  return { kid, ctr, size: at };
}

/** The HKDF-Expand labels of §4.4.2 (KID as 8 bytes, suite as 2 bytes, both big-endian). */
export function keyLabels(kid: bigint, suite = SUITE_AES_128_GCM_SHA256_128): { key: Uint8Array; salt: Uint8Array } {
  checkU64("KID", kid);
  const tail = new Uint8Array(10);
  writeBE(tail, 0, kid, 8);
  writeBE(tail, 8, BigInt(suite), 2);
  const label = (s: string) => {
    const p = enc.encode(s);
    const out = new Uint8Array(p.length + tail.length);
    out.set(p);
    out.set(tail, p.length);
    return out;
  };
  return { key: label("SFrame 1.0 Secret key "), salt: label("SFrame 1.0 Secret salt ") };
}

/** §4.4.2 derive_key_salt, raw bytes (HKDF with an empty salt is HKDF-Extract("", base_key) then Expand). */
export async function deriveKeySaltBytes(baseKey: Uint8Array, kid: bigint): Promise<{ key: Uint8Array; salt: Uint8Array }> {
  const ikm = await crypto.subtle.importKey("raw", ab(baseKey), "HKDF", false, ["deriveBits"]);
  const labels = keyLabels(kid);
  const expand = async (info: Uint8Array, n: number) =>
    new Uint8Array(
      await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: ab(info) }, ikm, n * 8),
    );
  return { key: await expand(labels.key, NK), salt: await expand(labels.salt, NN) };
}

/** A derived per-KID key: the AES-GCM key (not extractable) and the salt. */
export interface KidKey {
  kid: bigint;
  key: CryptoKey;
  salt: Uint8Array;
}

export async function deriveKidKey(baseKey: Uint8Array, kid: bigint): Promise<KidKey> {
  const { key, salt } = await deriveKeySaltBytes(baseKey, kid);
  const aes = await crypto.subtle.importKey("raw", ab(key), "AES-GCM", false, ["encrypt", "decrypt"]);
  key.fill(0);
  return { kid, key: aes, salt };
}

/** §4.4.3: nonce = sframe_salt XOR encode_big_endian(CTR, Nn). */
export function nonceFor(salt: Uint8Array, ctr: bigint): Uint8Array<ArrayBuffer> {
  checkU64("CTR", ctr);
  const n = new Uint8Array(salt);
  const [hi, lo] = halves(ctr);
  for (let i = 0; i < 4; i++) {
    n[NN - 1 - i]! ^= (lo >>> (8 * i)) & 0xff;
    n[NN - 5 - i]! ^= (hi >>> (8 * i)) & 0xff;
  }
  return n;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** §4.4.3 encrypt(CTR, KID, metadata, plaintext) -> header + ciphertext (with its 16-byte tag). */
export function sframeEncrypt(k: KidKey, ctr: bigint, metadata: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  return encryptAfter(new Uint8Array(0), k, ctr, metadata, plaintext);
}

/**
 * `prefix` + sframeEncrypt(...), in one buffer: a media frame is its clear bytes followed by the SFrame, and building
 * it here saves copying the whole frame once more.
 */
export async function encryptAfter(prefix: Uint8Array, k: KidKey, ctr: bigint, metadata: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  const header = encodeHeader(k.kid, ctr);
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonceFor(k.salt, ctr), additionalData: concat(header, metadata), tagLength: NT * 8 },
    k.key,
    ab(plaintext),
  );
  const out = new Uint8Array(prefix.length + header.length + ct.byteLength);
  out.set(prefix);
  out.set(header, prefix.length);
  out.set(new Uint8Array(ct), prefix.length + header.length);
  return out;
}

/**
 * §4.4.4 decrypt(metadata, sframe_ciphertext) with the key the caller looked up for `header.kid`. Any failure is
 * one SFrameError ("authentication failed"), whatever the cause, so callers cannot leak which check failed.
 */
export async function sframeDecrypt(k: KidKey, header: Header, metadata: Uint8Array, sframe: Uint8Array): Promise<Uint8Array> {
  if (header.kid !== k.kid) throw new SFrameError("key does not match the frame's KID");
  if (sframe.length < header.size + NT) throw new SFrameError("SFrame shorter than its header and tag");
  try {
    const pt = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: nonceFor(k.salt, header.ctr),
        additionalData: concat(sframe.subarray(0, header.size), metadata),
        tagLength: NT * 8,
      },
      k.key,
      ab(sframe.subarray(header.size)),
    );
    return new Uint8Array(pt);
  } catch {
    throw new SFrameError("SFrame authentication failed");
  }
}
