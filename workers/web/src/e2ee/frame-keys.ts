/**
 * Per-sender SFrame keys from MLS (RFC 9605 §5.2) and the frame transform's encrypt/decrypt.
 *
 * Each MLS epoch gives one `base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)` (group.ts). Senders are told
 * apart by the KID, which enters the key derivation (§4.4.2), so every (epoch, sender, context) has its own key:
 *   KID = (context << (S + E)) + (sender_index << E) + (epoch mod 2^E)
 * with E = EPOCH_BITS (4: 16 epochs can be told apart) and S the bits of a leaf index (smallest S with
 * leaf_count <= 2^S). The context tells one sender's streams apart (0 audio, 1 camera, 2 screen, ...), so each
 * stream has its own counter and no (KID, CTR) is used twice (§9.1).
 *
 * A new epoch replaces the one with the same low E bits (§5.2 MUST); older epochs stay usable for decryption for
 * `retainMs` (late frames sent before the commit reached their sender), at most `maxEpochs` of them.
 * Keys are for encryption (own index) or decryption (every other index), never both (§4.4.1 MUST).
 * Replay (§7.4, §9.3): per KID, a sliding window of REPLAY_WINDOW counters as in RFC 3711 §3.3.2.
 */
import { clearBytes, type MediaCodec } from "./codec";
import { decodeHeader, deriveKidKey, encryptAfter, SFrameError, sframeDecrypt, type KidKey } from "./sframe";

const EPOCH_BITS = 4;
const EPOCH_MASK = (1n << BigInt(EPOCH_BITS)) - 1n;
/** contexts a sender may use (streams per sender); frames with a larger one are refused before any key work */
const MAX_CONTEXTS = 8;
const REPLAY_WINDOW = 128n;
const DEFAULT_RETAIN_MS = 10_000;
const DEFAULT_MAX_EPOCHS = 4;

/** S of §5.2: the smallest S with leafCount <= 2^S. */
export function indexBits(leafCount: number): number {
  if (!Number.isInteger(leafCount) || leafCount < 1) throw new RangeError(`leaf count must be a positive integer: ${leafCount}`);
  let s = 0;
  while (1 << s < leafCount) s++;
  return s;
}

export function makeKid(epoch: bigint, index: number, leafCount: number, context = 0): bigint {
  const s = indexBits(leafCount);
  if (!Number.isInteger(index) || index < 0 || index >= leafCount) throw new RangeError(`sender index ${index} outside 0..${leafCount - 1}`);
  if (!Number.isInteger(context) || context < 0 || context >= MAX_CONTEXTS) throw new RangeError(`context ${context} outside 0..${MAX_CONTEXTS - 1}`);
  const e = BigInt(EPOCH_BITS);
  return (BigInt(context) << (BigInt(s) + e)) | (BigInt(index) << e) | (epoch & EPOCH_MASK);
}

export interface KidParts {
  epochLow: number;
  index: number;
  context: bigint;
}

export function splitKid(kid: bigint, leafCount: number): KidParts {
  const s = BigInt(indexBits(leafCount));
  const e = BigInt(EPOCH_BITS);
  return {
    epochLow: Number(kid & EPOCH_MASK),
    index: Number((kid >> e) & ((1n << s) - 1n)),
    context: kid >> (s + e),
  };
}

export interface EpochKeys {
  epoch: bigint;
  /** MLS-Exporter("SFrame 1.0 Base Key", "", 16) of that epoch */
  baseKey: Uint8Array;
  /** leaves in that epoch's ratchet tree (S is derived from it) */
  leafCount: number;
  /** own leaf index in that epoch */
  ownIndex: number;
}

interface EpochEntry extends EpochKeys {
  /** when this epoch stops being usable for decryption (Infinity while current) */
  retireAt: number;
  /** per KID: the key being derived, then the key itself (frames then use it without waiting on a promise) */
  kidKeys: Map<bigint, KidKey | Promise<KidKey>>;
  /** own KID per context (computed once per epoch, not per frame) */
  ownKids: Map<number, bigint>;
}

interface Replay {
  max: bigint;
  /** bit i set: counter max - i was seen */
  seen: bigint;
}

/** Why a frame was not decrypted: `no-key` frames may be retried once the epoch arrives (§4.4.4 MAY buffer). */
export type DecryptFailure = "no-key" | "own-key" | "replay" | "malformed" | "auth";

export class FrameDecryptError extends SFrameError {
  constructor(
    readonly reason: DecryptFailure,
    message: string,
    /** `no-key` for an epoch that may still come (not one already forgotten): worth holding the frame a moment */
    readonly keyMayCome = false,
  ) {
    super(message);
  }
}

export interface Decrypted {
  frame: Uint8Array;
  epoch: bigint;
  senderIndex: number;
}

export interface FrameKeysOptions {
  now: () => number;
  retainMs?: number;
  maxEpochs?: number;
}

export class FrameKeys {
  readonly #now: () => number;
  readonly #retainMs: number;
  readonly #maxEpochs: number;
  /** by epoch mod 2^E */
  readonly #epochs = new Map<number, EpochEntry>();
  #current: EpochEntry | undefined;
  /** next CTR per own KID */
  readonly #counters = new Map<bigint, bigint>();
  readonly #replay = new Map<bigint, Replay>();
  /** the earliest retireAt among the epochs (Infinity: none retires) */
  #nextRetire = Infinity;

  constructor(opts: FrameKeysOptions) {
    this.#now = opts.now;
    this.#retainMs = opts.retainMs ?? DEFAULT_RETAIN_MS;
    this.#maxEpochs = opts.maxEpochs ?? DEFAULT_MAX_EPOCHS;
  }

  get epoch(): bigint | undefined {
    return this.#current?.epoch;
  }

  /** Start encrypting with a new epoch's keys; the previous epochs stay for decryption a little while. */
  setEpoch(k: EpochKeys): void {
    if (this.#current && k.epoch <= this.#current.epoch) throw new RangeError(`epoch ${k.epoch} is not after ${this.#current.epoch}`);
    if (k.ownIndex < 0 || k.ownIndex >= k.leafCount) throw new RangeError(`own index ${k.ownIndex} outside the tree`);
    const now = this.#now();
    if (this.#current) {
      this.#current.retireAt = now + this.#retainMs;
      this.#nextRetire = Math.min(this.#nextRetire, this.#current.retireAt);
    }
    const low = Number(k.epoch & EPOCH_MASK);
    const old = this.#epochs.get(low);
    if (old) this.#forget(low, old);
    const entry: EpochEntry = { ...k, baseKey: new Uint8Array(k.baseKey), retireAt: Infinity, kidKeys: new Map(), ownKids: new Map() };
    this.#epochs.set(low, entry);
    this.#current = entry;
    this.#expire(now);
    const byAge = [...this.#epochs.entries()].sort((a, b) => (a[1].epoch < b[1].epoch ? -1 : 1));
    while (byAge.length > this.#maxEpochs) {
      const [l, e] = byAge.shift()!;
      this.#forget(l, e);
    }
  }

  /** Forget every key (leaving the call). */
  clear(): void {
    for (const [l, e] of [...this.#epochs]) this.#forget(l, e);
    this.#current = undefined;
  }

  /** Encrypt one encoded frame of ours: clear prefix, then the SFrame ciphertext. */
  async encrypt(codec: MediaCodec, frame: Uint8Array, context = 0): Promise<Uint8Array> {
    const cur = this.#current;
    if (!cur) throw new SFrameError("no epoch keys yet");
    let kid = cur.ownKids.get(context);
    if (kid === undefined) {
      kid = makeKid(cur.epoch, cur.ownIndex, cur.leafCount, context);
      cur.ownKids.set(context, kid);
    }
    const clear = clearBytes(codec, frame);
    // The receiver counts the clear bytes from the frame's first bytes: a frame without all of them cannot be sent.
    if (frame.length === 0 || frame.length < clear) throw new SFrameError(`${codec} frame of ${frame.length} bytes is shorter than its clear bytes`);
    const ctr = this.#counters.get(kid) ?? 0n;
    this.#counters.set(kid, ctr + 1n);
    const k = this.#keyFor(cur, kid);
    const key = k instanceof Promise ? await k : k;
    const prefix = frame.subarray(0, clear);
    return encryptAfter(prefix, key, ctr, prefix, frame.subarray(clear));
  }

  /** Decrypt one received frame; throws FrameDecryptError (the caller drops the frame, or keeps it for `no-key`). */
  async decrypt(codec: MediaCodec, data: Uint8Array): Promise<Decrypted> {
    const clear = clearBytes(codec, data);
    if (data.length <= clear) throw new FrameDecryptError("malformed", "frame shorter than its clear bytes");
    const sf = data.subarray(clear);
    let header;
    try {
      header = decodeHeader(sf);
    } catch (e) {
      throw new FrameDecryptError("malformed", (e as Error).message);
    }
    const now = this.#now();
    this.#expire(now);
    const low = Number(header.kid & EPOCH_MASK);
    const entry = this.#epochs.get(low);
    if (!entry) throw new FrameDecryptError("no-key", "no keys for this frame's epoch", this.#mayCome(low));
    const parts = splitKid(header.kid, entry.leafCount);
    if (parts.context >= BigInt(MAX_CONTEXTS)) throw new FrameDecryptError("malformed", "KID context out of range");
    if (parts.index >= entry.leafCount) throw new FrameDecryptError("no-key", "sender index outside this epoch's tree");
    if (parts.index === entry.ownIndex) throw new FrameDecryptError("own-key", "frame carries one of our own encryption KIDs");
    const rp = this.#replay.get(header.kid);
    if (rp && (header.ctr + REPLAY_WINDOW <= rp.max || (header.ctr <= rp.max && (rp.seen >> (rp.max - header.ctr)) & 1n))) {
      throw new FrameDecryptError("replay", "frame counter already seen or too old");
    }
    const k = this.#keyFor(entry, header.kid);
    const key = k instanceof Promise ? await k : k;
    let pt: Uint8Array;
    try {
      pt = await sframeDecrypt(key, header, data.subarray(0, clear), sf);
    } catch {
      throw new FrameDecryptError("auth", "SFrame authentication failed");
    }
    this.#markSeen(header.kid, header.ctr);
    const out = new Uint8Array(clear + pt.length);
    out.set(data.subarray(0, clear));
    out.set(pt, clear);
    return { frame: out, epoch: entry.epoch, senderIndex: parts.index };
  }

  /**
   * Whether an epoch with these low bits, not among ours, may be one still to come: with none yet, or up to half the
   * 2^E epoch space ahead of the current one. Further "ahead" means so far behind that it was forgotten.
   */
  #mayCome(low: number): boolean {
    const cur = this.#current;
    if (!cur) return true;
    const ahead = (low - Number(cur.epoch & EPOCH_MASK) + (1 << EPOCH_BITS)) % (1 << EPOCH_BITS);
    return ahead >= 1 && ahead <= 1 << (EPOCH_BITS - 1);
  }

  #markSeen(kid: bigint, ctr: bigint): void {
    const rp = this.#replay.get(kid);
    if (!rp) {
      this.#replay.set(kid, { max: ctr, seen: 1n });
    } else if (ctr > rp.max) {
      const shift = ctr - rp.max;
      rp.seen = shift >= REPLAY_WINDOW ? 1n : ((rp.seen << shift) | 1n) & ((1n << REPLAY_WINDOW) - 1n);
      rp.max = ctr;
    } else {
      rp.seen |= 1n << (rp.max - ctr);
    }
  }

  #keyFor(entry: EpochEntry, kid: bigint): KidKey | Promise<KidKey> {
    const known = entry.kidKeys.get(kid);
    if (known) return known;
    const p = deriveKidKey(entry.baseKey, kid);
    entry.kidKeys.set(kid, p);
    p.then((k) => entry.kidKeys.get(kid) === p && entry.kidKeys.set(kid, k)).catch(() => undefined);
    return p;
  }

  #expire(now: number): void {
    // Every decrypted frame calls this: look at the epochs only when one of them is due.
    if (now < this.#nextRetire) return;
    this.#nextRetire = Infinity;
    for (const [l, e] of [...this.#epochs]) {
      if (e.retireAt <= now) this.#forget(l, e);
      else this.#nextRetire = Math.min(this.#nextRetire, e.retireAt);
    }
  }

  #forget(low: number, e: EpochEntry): void {
    this.#epochs.delete(low);
    e.baseKey.fill(0);
    // KIDs carry only the epoch's low bits: counters and replay windows of that slot start over with the next epoch.
    const sameSlot = (kid: bigint) => (kid & EPOCH_MASK) === BigInt(low);
    for (const kid of [...this.#counters.keys()]) if (sameSlot(kid)) this.#counters.delete(kid);
    for (const kid of [...this.#replay.keys()]) if (sameSlot(kid)) this.#replay.delete(kid);
    if (this.#current === e) this.#current = undefined;
  }
}
