/**
 * The web app's MLS member (workers/web/src/e2ee/member.ts) against the room's real Delivery Service logic
 * (durable/features/mls-delivery.ts, pure), with real MLS (ts-mls): requests go straight into the Delivery Service,
 * its payloads are parsed from the XML it produces and delivered in order. Joins, leaves, a commit that loses its
 * epoch to another, and a rejoin as a new member.
 */
import { describe, expect, it } from "vitest";
import type { MlsMember } from "../../workers/web/src/e2ee/member";
import { Room } from "./helpers/mls-room";

const codes = (...ms: MlsMember[]) => ms.map((m) => m.safetyCode());

/** alice and bob in the group (epoch 1); carol's KeyPackage handed in, not joined. */
async function aliceAndBobInGroup() {
  const room = new Room();
  const a = room.member("a", ["alice"]);
  const b = room.member("b", ["bob"]);
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
