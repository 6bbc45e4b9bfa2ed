/**
 * Signed HTTP requests between the edge and bridge hosts (both directions), with a key per bridge host.
 *   X-Parley-Timestamp: unix milliseconds
 *   X-Parley-Nonce:     16+ random bytes, base64url
 *   X-Parley-Signature: base64url(HMAC-SHA256(key, METHOD \n HOST \n PATH(+query) \n TIMESTAMP \n NONCE \n hex(SHA-256(body))))
 * `key` is bridgeControlKey(BRIDGE_SECRET, the bridge's control URL as the edge knows it): a key that leaks from one
 * bridge host controls that host only. HOST is the authority (host[:port]) of the URL the request is sent to, so a
 * request signed for one host is refused by any other (each receiver checks against its own authority).
 * The receiver rejects a skew over MAX_SKEW_MS and any nonce it has already seen within that window (replay).
 */
import { SIGNATURE_HEADERS } from "./headers";
import { fromBase64Url, hmac, timingSafeEqualBytes, toBase64Url } from "./hmac";

const MAX_SKEW_MS = 30_000;
const { timestamp: HEADER_TS, nonce: HEADER_NONCE, signature: HEADER_SIG } = SIGNATURE_HEADERS;

const enc = new TextEncoder();

async function sha256Hex(body: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(body)));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function canonical(method: string, host: string, path: string, ts: string, nonce: string, bodyHash: string): string {
  return `${method.toUpperCase()}\n${host.toLowerCase()}\n${path}\n${ts}\n${nonce}\n${bodyHash}`;
}

/**
 * The control key of one bridge host: base64url(HMAC-SHA256(secret, "parley bridge control v1|" + origin)), where
 * origin is the origin of its control URL (as in the edge's BRIDGES, e.g. "https://bridge1.example:4444").
 */
export async function bridgeControlKey(secret: string, controlUrl: string): Promise<string> {
  return toBase64Url(await hmac("SHA-256", secret, `parley bridge control v1|${new URL(controlUrl).origin}`));
}

/** Headers to add to a request `METHOD path` to `host` (the URL's authority) carrying `body` ("" for none). */
export async function signRequest(
  key: string,
  method: string,
  host: string,
  path: string,
  body: string,
  nowMs: number = Date.now(),
): Promise<Record<string, string>> {
  const ts = String(nowMs);
  const nonce = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  const sig = await hmac("SHA-256", key, canonical(method, host, path, ts, nonce, await sha256Hex(body)));
  return { [HEADER_TS]: ts, [HEADER_NONCE]: nonce, [HEADER_SIG]: toBase64Url(sig) };
}

export type SignatureCheck =
  | { ok: true; nonce: string; timestamp: number }
  | { ok: false; reason: "missing" | "stale" | "bad-signature" | "replayed" };

/**
 * Remembers nonces for the skew window. One instance per receiving process (bridge) or object (edge).
 */
export class NonceCache {
  #seen = new Map<string, number>();
  /** true if new (and records it), false if seen within the window */
  check(nonce: string, nowMs: number): boolean {
    if (this.#seen.size > 10_000) for (const [n, t] of this.#seen) if (t < nowMs - 2 * MAX_SKEW_MS) this.#seen.delete(n);
    if (this.#seen.has(nonce)) return false;
    this.#seen.set(nonce, nowMs);
    return true;
  }
}

/** `host`: the receiver's own authority (not the Host header: a request signed for another host must fail). */
export async function verifyRequest(
  key: string,
  method: string,
  host: string,
  path: string,
  body: string,
  headers: { get(name: string): string | null | undefined },
  nonces: NonceCache,
  nowMs: number = Date.now(),
): Promise<SignatureCheck> {
  const ts = headers.get(HEADER_TS);
  const nonce = headers.get(HEADER_NONCE);
  const sig = headers.get(HEADER_SIG);
  if (!ts || !nonce || !sig || nonce.length > 64 || sig.length > 128) return { ok: false, reason: "missing" };
  const t = Number(ts);
  if (!Number.isSafeInteger(t) || Math.abs(nowMs - t) > MAX_SKEW_MS) return { ok: false, reason: "stale" };
  let given: Uint8Array;
  try {
    given = fromBase64Url(sig);
  } catch {
    return { ok: false, reason: "bad-signature" };
  }
  const expected = await hmac("SHA-256", key, canonical(method, host, path, ts, nonce, await sha256Hex(body)));
  if (!timingSafeEqualBytes(given, expected)) return { ok: false, reason: "bad-signature" };
  if (!nonces.check(nonce, nowMs)) return { ok: false, reason: "replayed" };
  return { ok: true, nonce, timestamp: t };
}
