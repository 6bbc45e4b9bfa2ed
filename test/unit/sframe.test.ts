import { describe, expect, it } from "vitest";
import fc from "fast-check";
import vectors from "../fixtures/sframe-vectors.json";
import {
  SFrameError,
  SUITE_AES_128_GCM_SHA256_128,
  decodeHeader,
  deriveKeySaltBytes,
  deriveKidKey,
  encodeHeader,
  keyLabels,
  nonceFor,
  sframeDecrypt,
  sframeEncrypt,
} from "../../workers/web/src/e2ee/sframe";
import { OPUS_CLEAR, VP8_DELTA_FRAME_CLEAR, VP8_KEY_FRAME_CLEAR, clearBytes, codecFromMime } from "../../workers/web/src/e2ee/codec";
import { FrameDecryptError, FrameKeys, indexBits, makeKid, splitKid } from "../../workers/web/src/e2ee/frame-keys";

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (u: Uint8Array) => [...u].map((b) => b.toString(16).padStart(2, "0")).join("");

describe("SFrame header (RFC 9605 §4.3) against the working group's vectors", () => {
  it(`encodes and decodes all ${vectors.header.length} (KID, CTR) cases`, () => {
    for (const v of vectors.header) {
      const kid = BigInt(v.kid);
      const ctr = BigInt(v.ctr);
      expect(toHex(encodeHeader(kid, ctr))).toBe(v.header);
      const h = decodeHeader(hex(v.header));
      expect([h.kid, h.ctr, h.size]).toEqual([kid, ctr, v.header.length / 2]);
    }
  });

  it("refuses truncated, non-minimal and out-of-range headers", () => {
    expect(() => decodeHeader(new Uint8Array(0))).toThrow(SFrameError);
    expect(() => decodeHeader(hex("0901"))).toThrow(/truncated/); // CTR says 2 bytes, 1 present
    expect(() => decodeHeader(hex("0800"))).toThrow(/minimally/); // CTR 0 in extended form
    expect(() => decodeHeader(hex("090012"))).toThrow(/minimally/); // leading zero byte
    expect(() => decodeHeader(hex("8007"))).toThrow(/minimally/); // KID 7 must sit in the config byte
    expect(() => encodeHeader(-1n, 0n)).toThrow(/range/);
    expect(() => encodeHeader(0n, 1n << 64n)).toThrow(/range/);
  });

  it("round-trips any 64-bit KID and CTR, followed by any payload", () => {
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    fc.assert(
      fc.property(u64, u64, fc.uint8Array({ maxLength: 8 }), (kid, ctr, tail) => {
        const h = encodeHeader(kid, ctr);
        const buf = new Uint8Array([...h, ...tail]);
        expect(decodeHeader(buf)).toEqual({ kid, ctr, size: h.length });
      }),
    );
  });

  it("never throws anything but SFrameError on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), (b) => {
        try {
          const h = decodeHeader(b);
          expect(toHex(encodeHeader(h.kid, h.ctr))).toBe(toHex(b.subarray(0, h.size)));
        } catch (e) {
          expect(e).toBeInstanceOf(SFrameError);
        }
      }),
    );
  });
});

describe("SFrame encryption, AES_128_GCM_SHA256_128 (RFC 9605 Appendix C.3 vector)", () => {
  const v = vectors.sframe[0]!;
  it("is the suite 0x0004 vector", () => {
    expect(vectors.sframe).toHaveLength(1);
    expect(Number(v.cipher_suite)).toBe(SUITE_AES_128_GCM_SHA256_128);
  });

  it("derives the same labels, key, salt and nonce", async () => {
    const kid = BigInt(v.kid);
    const labels = keyLabels(kid);
    expect(toHex(labels.key)).toBe(v.sframe_key_label);
    expect(toHex(labels.salt)).toBe(v.sframe_salt_label);
    const ks = await deriveKeySaltBytes(hex(v.base_key), kid);
    expect(toHex(ks.key)).toBe(v.sframe_key);
    expect(toHex(ks.salt)).toBe(v.sframe_salt);
    expect(toHex(nonceFor(ks.salt, BigInt(v.ctr)))).toBe(v.nonce);
  });

  it("encrypt(ctr, kid, metadata, pt) == ct and decrypt(metadata, ct) == pt", async () => {
    const k = await deriveKidKey(hex(v.base_key), BigInt(v.kid));
    const ct = await sframeEncrypt(k, BigInt(v.ctr), hex(v.metadata), hex(v.pt));
    expect(toHex(ct)).toBe(v.ct);
    const header = decodeHeader(hex(v.ct));
    expect(toHex(hex(v.aad))).toBe(toHex(new Uint8Array([...hex(v.ct).subarray(0, header.size), ...hex(v.metadata)])));
    expect(toHex(await sframeDecrypt(k, header, hex(v.metadata), hex(v.ct)))).toBe(v.pt);
  });

  it("rejects a changed header, metadata, ciphertext or tag", async () => {
    const k = await deriveKidKey(hex(v.base_key), BigInt(v.kid));
    const ct = hex(v.ct);
    const header = decodeHeader(ct);
    const flip = (u: Uint8Array, i: number) => {
      const c = new Uint8Array(u);
      c[i]! ^= 1;
      return c;
    };
    await expect(sframeDecrypt(k, header, flip(hex(v.metadata), 0), ct)).rejects.toThrow(/authentication/);
    for (const i of [3, header.size, ct.length - 1]) { // a CTR byte, the first encrypted byte, the last tag byte
      const bad = flip(ct, i);
      await expect(sframeDecrypt(k, decodeHeader(bad), hex(v.metadata), bad)).rejects.toThrow(SFrameError);
    }
    await expect(sframeDecrypt(k, header, hex(v.metadata), ct.subarray(0, header.size + 15))).rejects.toThrow(/shorter/);
  });
});

describe("codec clear bytes", () => {
  it("VP8: 10 on key frames (frame tag bit 0 clear), 3 on delta frames; Opus: the TOC byte", () => {
    expect(clearBytes("vp8", hex("9001009d012a"))).toBe(VP8_KEY_FRAME_CLEAR);
    expect(clearBytes("vp8", hex("3101"))).toBe(VP8_DELTA_FRAME_CLEAR);
    expect(clearBytes("opus", hex("fc"))).toBe(OPUS_CLEAR);
    expect(clearBytes("opus", new Uint8Array(0))).toBe(0);
    expect([codecFromMime("video/VP8"), codecFromMime("audio/opus"), codecFromMime("video/H264")]).toEqual(["vp8", "opus", undefined]);
  });
});

describe("MLS KIDs (RFC 9605 §5.2)", () => {
  it("matches the RFC's example sequence (E=4, S=6)", () => {
    // Figure 7: epoch 14 index 3 -> 0x3e, index 20 -> 0x14e; epoch 16 index 2 context 2 -> 0x820; epoch 17 index 51 -> 0x331
    expect(makeKid(14n, 3, 64)).toBe(0x3en);
    expect(makeKid(14n, 20, 64)).toBe(0x14en);
    expect(makeKid(16n, 2, 64, 2)).toBe(0x820n);
    expect(makeKid(16n, 2, 64, 3)).toBe(0xc20n);
    expect(makeKid(17n, 51, 64)).toBe(0x331n);
    expect(splitKid(0xc20n, 64)).toEqual({ epochLow: 0, index: 2, context: 3n });
    expect(indexBits(1)).toBe(0);
    expect(indexBits(2)).toBe(1);
    expect(indexBits(5)).toBe(3);
    expect(indexBits(64)).toBe(6);
  });
});

describe("FrameKeys: per-sender keys, epochs and replay", () => {
  const base = (b: number) => new Uint8Array(16).fill(b);
  const keyFrame = () => new Uint8Array([0x90, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, ...new Array(40).fill(7)]);
  const setup = (now: { t: number }) => {
    const alice = new FrameKeys({ now: () => now.t, retainMs: 5_000 });
    const bob = new FrameKeys({ now: () => now.t, retainMs: 5_000 });
    alice.setEpoch({ epoch: 1n, baseKey: base(1), leafCount: 2, ownIndex: 0 });
    bob.setEpoch({ epoch: 1n, baseKey: base(1), leafCount: 2, ownIndex: 1 });
    return { alice, bob };
  };

  it("keeps the codec's clear bytes, authenticates them, and decrypts to the same frame", async () => {
    const now = { t: 0 };
    const { alice, bob } = setup(now);
    const f = keyFrame();
    const e = await alice.encrypt("vp8", f);
    expect(toHex(e.subarray(0, 10))).toBe(toHex(f.subarray(0, 10)));
    expect(toHex(e)).not.toContain(toHex(f.subarray(10, 30)));
    expect(e.length).toBe(f.length + 1 + 16); // KID 0 (index 0, epoch 1 -> 0x01) and CTR 0: one header byte, 16-byte tag
    const d = await bob.decrypt("vp8", e);
    expect(toHex(d.frame)).toBe(toHex(f));
    expect([d.epoch, d.senderIndex]).toEqual([1n, 0]);
    const tampered = await alice.encrypt("vp8", f);
    tampered[4]! ^= 0x10; // a clear byte (part of the dimensions)
    await expect(bob.decrypt("vp8", tampered)).rejects.toMatchObject({ reason: "auth" });
    // the sender cannot decrypt with its own encryption key (a key is for one direction only)
    await expect(alice.decrypt("vp8", e)).rejects.toMatchObject({ reason: "own-key" });
  });

  it("refuses replays inside the window and counters older than it, accepts reordering", async () => {
    const now = { t: 0 };
    const { alice, bob } = setup(now);
    const frames = [];
    for (let i = 0; i < 140; i++) frames.push(await alice.encrypt("opus", new Uint8Array([0xfc, i, 1, 2])));
    await bob.decrypt("opus", frames[1]!);
    await bob.decrypt("opus", frames[0]!); // late, in the window
    await expect(bob.decrypt("opus", frames[1]!)).rejects.toMatchObject({ reason: "replay" });
    await bob.decrypt("opus", frames[139]!);
    await expect(bob.decrypt("opus", frames[5]!)).rejects.toMatchObject({ reason: "replay" }); // 134 behind
    await bob.decrypt("opus", frames[20]!); // 119 behind: still in the 128 window
  });

  it("keeps the previous epoch for late frames only for a while, and drops it when its E bits come back", async () => {
    const now = { t: 0 };
    const { alice, bob } = setup(now);
    const late = await alice.encrypt("opus", new Uint8Array([0xfc, 1]));
    alice.setEpoch({ epoch: 2n, baseKey: base(2), leafCount: 3, ownIndex: 0 });
    bob.setEpoch({ epoch: 2n, baseKey: base(2), leafCount: 3, ownIndex: 1 });
    const fresh = await alice.encrypt("opus", new Uint8Array([0xfc, 2]));
    expect((await bob.decrypt("opus", fresh)).epoch).toBe(2n);
    now.t = 4_999;
    expect((await bob.decrypt("opus", late)).epoch).toBe(1n);
    const late2 = new FrameKeys({ now: () => now.t });
    late2.setEpoch({ epoch: 1n, baseKey: base(1), leafCount: 2, ownIndex: 0 });
    const l2 = await late2.encrypt("opus", new Uint8Array([0xfc, 3, 3]));
    now.t = 5_000;
    await expect(bob.decrypt("opus", l2)).rejects.toMatchObject({ reason: "no-key" });
    // epoch 18 has epoch 2's low bits: frames of epoch 2 no longer decrypt once it is installed
    alice.setEpoch({ epoch: 18n, baseKey: base(18), leafCount: 3, ownIndex: 0 });
    bob.setEpoch({ epoch: 18n, baseKey: base(18), leafCount: 3, ownIndex: 1 });
    await expect(bob.decrypt("opus", fresh)).rejects.toBeInstanceOf(FrameDecryptError);
    expect((await bob.decrypt("opus", await alice.encrypt("opus", new Uint8Array([0xfc, 9])))).epoch).toBe(18n);
  });

  it("tells a frame of an epoch still to come (worth holding) from one of an epoch already forgotten", async () => {
    const now = { t: 0 };
    const { alice, bob } = setup(now);
    const sender = (epoch: bigint) => {
      const k = new FrameKeys({ now: () => now.t });
      k.setEpoch({ epoch, baseKey: base(Number(epoch)), leafCount: 2, ownIndex: 0 });
      return k.encrypt("opus", new Uint8Array([0xfc, 1, 2]));
    };
    const newcomer = new FrameKeys({ now: () => now.t });
    // no keys at all yet: whatever epoch, it may come
    await expect(newcomer.decrypt("opus", await alice.encrypt("opus", new Uint8Array([0xfc, 1])))).rejects.toMatchObject({ reason: "no-key", keyMayCome: true });
    // bob is on epoch 1: epochs 2 and 9 may come; 10 (= 1 + 9) and 0 (just before 1, forgotten or never had) may not
    for (const [epoch, mayCome] of [[2n, true], [9n, true], [10n, false], [16n, false]] as const) {
      await expect(bob.decrypt("opus", await sender(epoch))).rejects.toMatchObject({ reason: "no-key", keyMayCome: mayCome });
    }
    // failures other than a missing key are never worth holding
    const tampered = await alice.encrypt("opus", new Uint8Array([0xfc, 1, 2]));
    tampered[tampered.length - 1]! ^= 1;
    await expect(bob.decrypt("opus", tampered)).rejects.toMatchObject({ reason: "auth", keyMayCome: false });
  });

  it("gives each sender index and each context its own key", async () => {
    const now = { t: 0 };
    const carol = new FrameKeys({ now: () => now.t });
    carol.setEpoch({ epoch: 1n, baseKey: base(1), leafCount: 2, ownIndex: 1 });
    const { alice } = setup(now);
    const a = await alice.encrypt("opus", new Uint8Array([0xfc, 1, 2, 3]), 0);
    const c = await carol.encrypt("opus", new Uint8Array([0xfc, 1, 2, 3]), 0);
    const a1 = await alice.encrypt("opus", new Uint8Array([0xfc, 1, 2, 3]), 1);
    // same counter 0, same plaintext: different KIDs give different keys, so different ciphertexts
    expect(toHex(a.subarray(2))).not.toBe(toHex(c.subarray(2)));
    expect(toHex(a.subarray(2))).not.toBe(toHex(a1.subarray(3)));
  });

  it("throws only FrameDecryptError on arbitrary received bytes, and never decrypts a forgery (fuzz)", async () => {
    const now = { t: 0 };
    const { alice, bob } = setup(now);
    const genuine = await alice.encrypt("vp8", keyFrame());
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("vp8", "opus") as fc.Arbitrary<"vp8" | "opus">, fc.uint8Array({ maxLength: 80 }), fc.nat(genuine.length - 1), fc.integer({ min: 1, max: 255 }), async (codec, junk, at, x) => {
          await expect(bob.decrypt(codec, junk)).rejects.toBeInstanceOf(FrameDecryptError);
          const forged = new Uint8Array(genuine);
          forged[at]! ^= x;
          await expect(bob.decrypt("vp8", forged)).rejects.toBeInstanceOf(FrameDecryptError);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses frames too short for their clear bytes, and encrypting before any epoch", async () => {
    const now = { t: 0 };
    const { alice } = setup(now);
    await expect(alice.encrypt("vp8", new Uint8Array([0x90, 1, 2]))).rejects.toThrow(/shorter/);
    await expect(alice.encrypt("opus", new Uint8Array(0))).rejects.toThrow(/shorter/);
    await expect(new FrameKeys({ now: () => 0 }).encrypt("opus", new Uint8Array([1]))).rejects.toThrow(/no epoch/);
  });
});
