import { describe, expect, it } from "vitest";
import { MlsGroup, MlsGroupError, newKeyPackage, safetyCode, type PendingCommit } from "../../workers/web/src/e2ee/group";
import { FrameKeys } from "../../workers/web/src/e2ee/frame-keys";

const gid = new TextEncoder().encode("room-1");
const toHex = (u: Uint8Array) => [...u].map((b) => b.toString(16).padStart(2, "0")).join("");
const opus = (n: number) => new Uint8Array([0xfc, n, n, n, n]);

/** A member: its MLS group and the frame keys of the epochs it knows. */
async function member(g: MlsGroup, now = () => 0) {
  const keys = new FrameKeys({ now, retainMs: 0 });
  keys.setEpoch(await g.epochKeys());
  return { g, keys };
}

async function advance(m: { g: MlsGroup; keys: FrameKeys }) {
  m.keys.setEpoch(await m.g.epochKeys());
}

describe("MLS group wrapper (RFC 9420 via ts-mls, suite 1)", () => {
  it("three members share epoch, member list, safety code and frame keys; the code changes with each membership change", async () => {
    const [kpA, kpB, kpC] = await Promise.all([newKeyPackage("alice"), newKeyPackage("bob"), newKeyPackage("carol")]);
    const a = await MlsGroup.create(gid, kpA);
    expect(a.epoch).toBe(0n);
    const codes = [a.safetyCode()];

    const addB = await a.commit({ add: [kpB.encoded] });
    expect(addB.welcome).toBeDefined();
    a.apply(addB);
    const b = await MlsGroup.join(addB.welcome!, kpB);
    codes.push(a.safetyCode());

    const addC = await a.commit({ add: [kpC.encoded] });
    a.apply(addC);
    await b.process(addC.commit);
    const c = await MlsGroup.join(addC.welcome!, kpC);
    codes.push(a.safetyCode());

    for (const x of [a, b, c]) {
      expect(x.epoch).toBe(2n);
      expect(x.safetyCode()).toBe(a.safetyCode());
      expect(x.members()).toEqual([
        { index: 0, identity: "alice" },
        { index: 1, identity: "bob" },
        { index: 2, identity: "carol" },
      ]);
      expect(toHex(await x.sframeBaseKey())).toBe(toHex(await a.sframeBaseKey()));
    }
    expect(a.safetyCode()).toMatch(/^\d{5}( \d{5}){5}$/);
    expect([a.ownIndex, b.ownIndex, c.ownIndex]).toEqual([0, 1, 2]);

    // frames of each sender decrypt at the two others
    const ms = await Promise.all([a, b, c].map((g) => member(g)));
    for (const [i, s] of ms.entries()) {
      const f = await s.keys.encrypt("opus", opus(i));
      for (const [j, r] of ms.entries()) {
        if (i === j) continue;
        const d = await r.keys.decrypt("opus", f);
        expect([d.senderIndex, toHex(d.frame)]).toEqual([i, toHex(opus(i))]);
      }
    }

    // removal: a new epoch and a new code again
    const rmB = await c.commit({ remove: ["bob"] });
    c.apply(rmB);
    await a.process(rmB.commit);
    codes.push(a.safetyCode());
    expect(a.safetyCode()).toBe(c.safetyCode());
    expect(a.members().map((m) => m.identity)).toEqual(["alice", "carol"]);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it("a removed member cannot decrypt frames of the next epoch", async () => {
    const [kpA, kpB, kpC] = await Promise.all([newKeyPackage("alice"), newKeyPackage("bob"), newKeyPackage("carol")]);
    const a = await MlsGroup.create(gid, kpA);
    const add = await a.commit({ add: [kpB.encoded, kpC.encoded] });
    a.apply(add);
    const b = await MlsGroup.join(add.welcome!, kpB);
    const c = await MlsGroup.join(add.welcome!, kpC);
    const [ma, mb, mc] = await Promise.all([member(a), member(b), member(c)]);
    expect((await mc.keys.decrypt("opus", await ma.keys.encrypt("opus", opus(1)))).senderIndex).toBe(0);

    const rm = await a.commit({ remove: ["carol"] });
    a.apply(rm);
    await b.process(rm.commit);
    await advance(ma);
    await advance(mb);
    const frame = await ma.keys.encrypt("opus", opus(2));
    expect((await mb.keys.decrypt("opus", frame)).epoch).toBe(2n);
    // carol, still at epoch 1, has no key for it
    await expect(mc.keys.decrypt("opus", frame)).rejects.toMatchObject({ reason: "no-key" });
    // processing the commit that removes her marks her removed and gives her no keys of epoch 2
    await c.process(rm.commit);
    expect(c.removed).toBe(true);
    await expect(c.epochKeys()).rejects.toThrow(/removed/);
    // whatever exporter value her state still gives does not authenticate epoch 2's frames
    const forged = new FrameKeys({ now: () => 0 });
    forged.setEpoch({ epoch: 2n, baseKey: await c.sframeBaseKey(), leafCount: 4, ownIndex: 2 });
    await expect(forged.decrypt("opus", frame)).rejects.toMatchObject({ reason: "auth" });
  });

  it("a newcomer cannot decrypt frames of the epoch before its join", async () => {
    const [kpA, kpB, kpC] = await Promise.all([newKeyPackage("alice"), newKeyPackage("bob"), newKeyPackage("carol")]);
    const a = await MlsGroup.create(gid, kpA);
    const addB = await a.commit({ add: [kpB.encoded] });
    a.apply(addB);
    const b = await MlsGroup.join(addB.welcome!, kpB);
    const ma = await member(a);
    const before = await ma.keys.encrypt("opus", opus(7));
    const epoch1Key = toHex(await a.sframeBaseKey());

    const addC = await b.commit({ add: [kpC.encoded] });
    b.apply(addC);
    await a.process(addC.commit);
    const c = await MlsGroup.join(addC.welcome!, kpC);
    const mc = await member(c);
    expect(c.epoch).toBe(2n);
    await expect(mc.keys.decrypt("opus", before)).rejects.toMatchObject({ reason: "no-key" });
    expect(toHex(await c.sframeBaseKey())).not.toBe(epoch1Key);
    await advance(ma);
    expect((await mc.keys.decrypt("opus", await ma.keys.encrypt("opus", opus(8)))).epoch).toBe(2n);
  });

  it("a commit made on a stale epoch is refused, and only the accepted commit is applied", async () => {
    const [kpA, kpB, kpC, kpD] = await Promise.all(["alice", "bob", "carol", "dave"].map(newKeyPackage));
    const a = await MlsGroup.create(gid, kpA!);
    const add = await a.commit({ add: [kpB!.encoded] });
    a.apply(add);
    const b = await MlsGroup.join(add.welcome!, kpB!);
    // both commit on epoch 1; the room accepts alice's
    const fromA: PendingCommit = await a.commit({ add: [kpC!.encoded] });
    const fromB: PendingCommit = await b.commit({ add: [kpD!.encoded] });
    a.apply(fromA);
    await b.process(fromA.commit); // bob drops his pending commit and follows the accepted one
    expect(() => b.apply(fromB)).toThrow(/epoch 1, the group is at 2/);
    await expect(a.process(fromB.commit)).rejects.toThrow(/epoch 1, the group is at 2/);
    expect(b.safetyCode()).toBe(a.safetyCode());
  });

  it("refuses malformed input with a clear error", async () => {
    const kpA = await newKeyPackage("alice");
    const a = await MlsGroup.create(gid, kpA);
    await expect(a.process(new Uint8Array([0, 1, 0, 2, 9]))).rejects.toThrow(/well-formed/);
    await expect(a.process(kpA.encoded)).rejects.toThrow(/expected a PrivateMessage/);
    await expect(a.commit({ add: [new Uint8Array([1, 2, 3])] })).rejects.toThrow(/well-formed/);
    await expect(a.commit({ remove: ["nobody"] })).rejects.toThrow(/no member/);
    await expect(a.commit({ remove: ["alice"] })).rejects.toThrow(/own removal/);
    await expect(MlsGroup.join(kpA.encoded, kpA)).rejects.toThrow(/expected a Welcome/);
  });

  it("safety code: 6 groups of 5 digits from the authenticator bytes", () => {
    expect(safetyCode(new Uint8Array(32))).toBe("00000 00000 00000 00000 00000 00000");
    expect(safetyCode(new Uint8Array(32).fill(0xff))).toBe("27775 27775 27775 27775 27775 27775"); // (2^40 - 1) mod 1e5
    expect(() => safetyCode(new Uint8Array(29))).toThrow(RangeError);
  });
});
