/**
 * The MLS member behind a worker boundary (workers/web/src/e2ee/mls-remote.ts): RemoteMember on the page's side,
 * MlsMember served at the other end of a real MessageChannel as mls-worker.ts serves it, with the room's real
 * Delivery Service logic (helpers/mls-room.ts). The page's view (keys, members, safety code, identity, a lost group)
 * must follow the member in the worker, and agree with members running in this thread.
 */
import { describe, expect, it } from "vitest";
import { RemoteMember } from "../../workers/web/src/e2ee/mls-remote";
import { Room } from "./helpers/mls-room";

/** Payloads cross a MessageChannel (one task each way): wait for a condition instead of for the room to settle. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("MLS member in a worker, seen from the page", { timeout: 30_000 }, () => {
  it("joins, leaves and epochs reach the page: same keys and safety code as a member in this thread", async () => {
    const room = new Room();
    const alice = room.member("a", ["alice"]);
    const bob = room.remoteMember("b", ["bob"]);
    const carol = room.remoteMember("c", ["carol"]);
    const bobEpochs: bigint[] = [];
    bob.onEpoch((k) => bobEpochs.push(k.epoch));
    let bobChanges = 0;
    bob.onChange(() => bobChanges++);
    expect(await bob.publish()).toBe("bob");
    expect(bob.identity).toBe("bob");
    await carol.publish();
    await alice.publish();
    room.join("b"); // bob creates the group, in his worker
    await until(() => bob.current()?.epoch === 0n, "bob's group");
    room.join("a");
    await until(() => alice.current()?.epoch === 1n && bob.current()?.epoch === 1n, "alice added");
    expect(bob.safetyCode()).toBe(alice.safetyCode());
    expect(bob.current()!.baseKey).toEqual(alice.current()!.baseKey);
    expect(bob.current()!.ownIndex).not.toBe(alice.current()!.ownIndex);
    room.join("c");
    await until(() => [alice, bob, carol].every((m) => m.current()?.epoch === 2n), "carol added");
    expect(new Set([alice, bob, carol].map((m) => m.safetyCode())).size).toBe(1);
    expect(carol.members().map((m) => m.identity).sort()).toEqual(["alice", "bob", "carol"]);
    room.leave("c");
    await until(() => alice.current()?.epoch === 3n && bob.current()?.epoch === 3n, "carol removed");
    expect(bob.safetyCode()).toBe(alice.safetyCode());
    expect(bob.members().map((m) => m.identity).sort()).toEqual(["alice", "bob"]);
    expect(bobEpochs).toEqual([0n, 1n, 2n, 3n]);
    expect(bobChanges).toBe(4);
  });

  it("the member in the worker losing the group reaches the page (which then joins again as a new member)", async () => {
    const room = new Room();
    const alice = room.member("a", ["alice"]);
    const bob = room.remoteMember("b", ["bob"]);
    await alice.publish();
    await bob.publish();
    room.join("a");
    room.join("b");
    await until(() => bob.current()?.epoch === 1n, "bob added");
    const lost: string[] = [];
    bob.onLost((why) => lost.push(why));
    bob.receive({ kind: "commit", epoch: 2n, message: new Uint8Array([1, 2, 3]) }); // epoch 1's commit never came
    await until(() => lost.length === 1, "the loss on the page");
    expect(lost[0]).toMatch(/commit of epoch 1 never came/);
  });

  it("a new session: the old keys are gone on the page at once, and the member comes back under a fresh identity", async () => {
    const room = new Room();
    const alice = room.member("a", ["alice"]);
    const bob = room.remoteMember("b", ["bob-1", "bob-2"]);
    await alice.publish();
    await bob.publish();
    room.join("a");
    room.join("b");
    await until(() => bob.current()?.epoch === 1n, "bob added");
    const before = alice.safetyCode();
    room.leave("b");
    room.reconnect(bob, "b2");
    const republished = bob.publish();
    expect(bob.current()).toBeUndefined(); // synchronously: nothing of the old group is used after this
    expect(bob.safetyCode()).toBeUndefined();
    expect(await republished).toBe("bob-2");
    expect(bob.identity).toBe("bob-2");
    room.join("b2");
    await until(() => bob.current() !== undefined && bob.safetyCode() === alice.safetyCode(), "bob added again");
    expect(alice.safetyCode()).not.toBe(before);
    expect(alice.members().map((m) => m.identity).sort()).toEqual(["alice", "bob-2"]);
  });

  it("a worker that failed: pending publishes reject, no keys", async () => {
    const { port1 } = new MessageChannel(); // nothing serves the other end
    const m = new RemoteMember(port1, { request: async () => ({ ok: true }) });
    const p = m.publish();
    m.fail("the MLS worker failed");
    await expect(p).rejects.toThrow("the MLS worker failed");
    expect(m.current()).toBeUndefined();
  });
});
