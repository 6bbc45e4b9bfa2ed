/**
 * The web app's MLS member (workers/web/src/e2ee/member.ts) against the room's real Delivery Service logic
 * (durable/features/mls-delivery.ts, pure), with real MLS (ts-mls): requests go straight into the Delivery Service,
 * its payloads are parsed from the XML it produces and delivered in order. Joins, leaves, a commit that loses its
 * epoch to another, a commit a member cannot process, and a rejoin as a new member.
 */
import { describe, expect, it } from "vitest";
import type { MlsMember, RoomPayload } from "../../workers/web/src/e2ee/member";
import { Room } from "./helpers/mls-room";

const codes = (...ms: MlsMember[]) => ms.map((m) => m.safetyCode());
/** `message` with a byte of its ciphertext flipped (its framing intact, so the room still takes it) */
const damaged = (message: Uint8Array) => message.map((x, i) => (i === message.length - 5 ? x ^ 1 : x));

/** alice and bob in the group (epoch 1); carol's KeyPackage handed in, not joined. */
async function aliceAndBobInGroup() {
  const room = new Room();
  const a = room.member("a", ["alice"]);
  const b = room.member("b", ["bob", "bob-2"]);
  const c = room.member("c", ["carol"]);
  for (const m of [a, b, c]) await m.publish();
  room.join("a");
  room.join("b");
  await room.settle();
  return { room, a, b, c };
}

describe("web MLS member with the room's Delivery Service", { timeout: 30_000 }, () => {
  it("two, then three, then two: the same safety code for all, a new one after every join and leave", async () => {
    const room = new Room();
    const a = room.member("a", ["alice"]);
    const b = room.member("b", ["bob"]);
    const c = room.member("c", ["carol"]);
    const epochs: bigint[] = [];
    a.onEpoch((k) => epochs.push(k.epoch));
    for (const m of [a, b, c]) await m.publish();
    await room.settle();
    room.join("a");
    await room.settle();
    expect(a.current()?.epoch).toBe(0n);
    const c0 = a.safetyCode();
    room.join("b");
    await room.settle();
    const c1 = a.safetyCode();
    expect(codes(a, b)).toEqual([c1, c1]);
    expect(c1).not.toBe(c0);
    expect(b.current()!.baseKey).toEqual(a.current()!.baseKey);
    expect(b.current()!.ownIndex).not.toBe(a.current()!.ownIndex);
    room.join("c");
    await room.settle();
    const c2 = a.safetyCode();
    expect(codes(a, b, c)).toEqual([c2, c2, c2]);
    expect(c.members().map((m) => m.identity).sort()).toEqual(["alice", "bob", "carol"]);
    room.leave("c");
    await room.settle();
    const c3 = a.safetyCode();
    expect(codes(a, b)).toEqual([c3, c3]);
    expect(new Set([c0, c1, c2, c3]).size).toBe(4);
    expect(a.members().map((m) => m.identity).sort()).toEqual(["alice", "bob"]);
    expect(epochs).toEqual([0n, 1n, 2n, 3n]);
  });

  it("a commit that loses its epoch is dropped; the member follows the winner and answers the next request", async () => {
    const { room, a, b, c } = await aliceAndBobInGroup();
    expect(b.current()?.epoch).toBe(1n);
    // carol joins: alice is asked; bob's (stale) turn comes by the deadline: both commit on epoch 1, bob's first
    const held: (() => void)[] = [];
    room.hold = (go) => held.push(go);
    room.join("c");
    const asked = room.settle();
    while (held.length === 0) await new Promise((r) => setTimeout(r, 20)); // alice's commit, held
    room.hold = undefined;
    await b.receive({ kind: "commit-request", create: false, epoch: 1n, adds: [], removes: [] }); // bob commits an update
    expect(b.current()!.epoch).toBe(2n);
    held[0]!(); // alice's commit now reaches the room: refused (bob's won epoch 1); the room asks her again on 2
    await asked;
    await room.settle();
    const code = a.safetyCode();
    expect(codes(a, b, c)).toEqual([code, code, code]);
    expect(a.current()!.epoch).toBe(3n);
  });

  it("asked again for the same epoch before it answered, the member commits once, with everything asked", async () => {
    const { room, a, b, c } = await aliceAndBobInGroup();
    expect(a.current()?.epoch).toBe(1n);
    const commits: bigint[] = [];
    room.hold = (go) => (commits.push(a.current()!.epoch), go());
    // carol joins as bob goes: alice is asked to add carol, then at once to add carol and remove bob
    room.join("c");
    room.leave("b");
    await room.settle();
    expect(commits).toEqual([1n]); // one commit round, not one per request
    expect(a.current()!.epoch).toBe(2n);
    expect(codes(a, c)).toEqual([a.safetyCode(), a.safetyCode()]);
    expect(c.members().map((m) => m.identity).sort()).toEqual(["alice", "carol"]);
  });

  it("a member that cannot process its epoch's commit hears it lost the group; back as a new member, it shares the keys again", async () => {
    const { room, a, b, c } = await aliceAndBobInGroup();
    const lost: string[] = [];
    b.onLost((why) => lost.push(why));
    // bob's copy of the next commit arrives damaged (or a member sent one nobody can process)
    const receive = b.receive.bind(b);
    room.reconnect({ receive: (p: RoomPayload) => receive(p.kind === "commit" ? { ...p, message: damaged(p.message) } : p) } as MlsMember, "b");
    room.join("c");
    await room.settle();
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatch(/commit of epoch 1 cannot be processed/);
    expect(codes(a, c)).toEqual([a.safetyCode(), a.safetyCode()]);
    expect(b.current()!.epoch).toBe(1n); // its last keys stay in use until new ones come
    // the call joins again (a new XMPP session): bob is a new member and shares the keys again
    room.reconnect(b, "b");
    room.leave("b");
    room.reconnect(b, "b2");
    await b.publish();
    room.join("b2");
    await room.settle();
    expect(codes(a, b, c)).toEqual([a.safetyCode(), a.safetyCode(), a.safetyCode()]);
    expect(a.members().map((m) => m.identity).sort()).toEqual(["alice", "bob-2", "carol"]);
    expect(lost).toHaveLength(1);
  });

  it("someone who sends commits nobody can process: the others keep their keys, rejoin, and get a new group once that one is kicked", async () => {
    const room = new Room();
    const a = room.member("a", ["alice"]);
    const b = room.member("b", ["bob", "bob-2"]);
    const c = room.member("c", ["carol", "carol-2"]);
    const d = room.member("d", ["dave"]);
    for (const m of [a, b, c, d]) await m.publish();
    for (const s of ["a", "b", "c"]) room.join(s);
    await room.settle();
    const before = b.current()!;
    // alice's next commit reaches everyone damaged, and from then on she answers no commit request
    const lost: string[] = [];
    for (const [m, s] of [[b, "b"], [c, "c"]] as const) {
      m.onLost(() => lost.push(s));
      const receive = m.receive.bind(m);
      room.reconnect({ receive: (p: RoomPayload) => receive(p.kind === "commit" ? { ...p, message: damaged(p.message) } : p) } as MlsMember, s);
    }
    room.join("d");
    await room.settle();
    expect(lost.sort()).toEqual(["b", "c"]);
    expect(b.current()!.baseKey).toEqual(before.baseKey); // bob and carol still share their last keys
    expect(c.current()!.baseKey).toEqual(before.baseKey);
    room.reconnect({ receive: async () => undefined } as unknown as MlsMember, "a");
    // bob and carol join again as new members; only alice could add them, and she does not
    for (const [m, s] of [[b, "b"], [c, "c"]] as const) {
      room.leave(s);
      room.reconnect(m, `${s}2`);
      await m.publish();
      room.join(`${s}2`);
    }
    await room.settle();
    expect(b.current()).toBeUndefined();
    // a moderator kicks alice: no member of the old group is left in the room, and the others make a new one
    room.leave("a");
    await room.settle();
    expect(codes(b, c, d)).toEqual([b.safetyCode(), b.safetyCode(), b.safetyCode()]);
    expect(b.safetyCode()).toBeDefined();
    expect(d.members().map((m) => m.identity).sort()).toEqual(["bob-2", "carol-2", "dave"]);
  });

  it("a commit for an epoch after ours means one was missed: the group is lost; one for an epoch before ours is ignored", async () => {
    const { a } = await aliceAndBobInGroup();
    const lost: string[] = [];
    a.onLost((why) => lost.push(why));
    await a.receive({ kind: "commit", epoch: 0n, message: new Uint8Array([1, 2, 3]) });
    expect(lost).toEqual([]);
    await a.receive({ kind: "commit", epoch: 3n, message: new Uint8Array([1, 2, 3]) });
    expect(lost).toEqual(["the commit of epoch 1 never came (got one of epoch 3)"]);
    // lost once: what comes after is not ours to process
    await a.receive({ kind: "commit", epoch: 1n, message: new Uint8Array([1, 2, 3]) });
    expect(lost).toHaveLength(1);
  });

  it("a new XMPP session is a new member: old keys gone, added again under a fresh identity", async () => {
    const room = new Room();
    const a = room.member("a", ["alice"]);
    const b = room.member("b", ["bob-1", "bob-2"]);
    await a.publish();
    await b.publish();
    room.join("a");
    room.join("b");
    await room.settle();
    const before = a.safetyCode();
    // bob's socket dropped; his page reconnects as session b2 (same member object, a fresh KeyPackage)
    room.leave("b");
    await room.settle();
    room.reconnect(b, "b2");
    expect(await b.publish()).toBe("bob-2");
    expect(b.current()).toBeUndefined();
    await room.settle();
    room.join("b2");
    await room.settle();
    expect(b.safetyCode()).toBe(a.safetyCode());
    expect(a.safetyCode()).not.toBe(before);
    expect(a.members().map((m) => m.identity).sort()).toEqual(["alice", "bob-2"]);
  });
});
