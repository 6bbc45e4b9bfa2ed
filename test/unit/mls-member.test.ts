/**
 * The web app's MLS member (workers/web/src/e2ee/member.ts) against the room's real Delivery Service logic
 * (durable/features/mls-delivery.ts, pure), with real MLS (ts-mls): requests go straight into the Delivery Service,
 * its payloads are parsed from the XML it produces and delivered in order. Joins, leaves, a commit that loses its
 * epoch to another, and a rejoin as a new member.
 */
import { describe, expect, it } from "vitest";
import { childElements, parseFrame, text } from "../../durable/xmpp/xml";
import { handleRequest, newDs, occupantJoined, sessionLeft, type DsEffect, type DsState } from "../../durable/features/mls-delivery";
import { peekGroupInfo, peekKeyPackage, type MlsRequest } from "../../durable/features/mls-wire";
import { MlsMember, type DsAnswer, type DsRequest, type RoomPayload } from "../../workers/web/src/e2ee/member";

const fromB64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** The room's payload XML as the member's shell would hand it over. */
function payload(xml: string): RoomPayload {
  const el = parseFrame(xml)[0]!;
  const epoch = el.attrs["epoch"] === undefined ? undefined : BigInt(el.attrs["epoch"]);
  switch (el.local) {
    case "commit-request":
      if (el.attrs["create"] === "true") return { kind: "commit-request", create: true };
      return {
        kind: "commit-request",
        create: false,
        epoch: epoch!,
        adds: childElements(el).filter((c) => c.local === "add").map((c) => ({ identity: c.attrs["identity"]!, keyPackage: fromB64(text(c)) })),
        removes: childElements(el).filter((c) => c.local === "remove").map((c) => c.attrs["identity"]!),
      };
    case "commit":
      return { kind: "commit", epoch: epoch!, message: fromB64(text(el)) };
    case "welcome":
      return { kind: "welcome", epoch: epoch!, welcome: fromB64(text(el)) };
    default:
      throw new Error(`unexpected payload ${xml}`);
  }
}

function toDs(r: DsRequest): MlsRequest {
  switch (r.kind) {
    case "key-package":
      return { kind: "key-package", keyPackage: r.keyPackage, identity: peekKeyPackage(r.keyPackage).identity };
    case "create":
      return { kind: "create", groupInfo: r.groupInfo, groupId: peekGroupInfo(r.groupInfo).groupId };
    case "commit":
      return { kind: "commit", epoch: r.epoch, message: r.message, groupInfo: r.groupInfo, welcome: r.welcome, adds: r.adds, removes: r.removes };
  }
}

/** A room: the Delivery Service plus members by session; payloads are delivered asynchronously, in order. */
class Room {
  readonly ds: DsState = newDs();
  readonly members = new Map<string, MlsMember>();
  /** the session each member speaks from now (a reconnection changes it) */
  readonly sessions = new Map<MlsMember, string>();
  now = 1000;
  /** requests the room holds back (to make two commits race) */
  hold: ((go: () => void) => void) | undefined;
  #pending: Promise<unknown>[] = [];

  member(session: string, identities: string[]): MlsMember {
    let n = 0;
    const m: MlsMember = new MlsMember(
      {
        request: (r) => this.#request(this.sessions.get(m)!, r),
      },
      { newIdentity: () => identities[n++]!, log: () => undefined },
    );
    this.members.set(session, m);
    this.sessions.set(m, session);
    return m;
  }
  /** `m` reconnected: it now speaks from `session`. */
  reconnect(m: MlsMember, session: string): void {
    this.members.set(session, m);
    this.sessions.set(m, session);
  }
  async #request(session: string, r: DsRequest): Promise<DsAnswer> {
    if (this.hold && r.kind === "commit") await new Promise<void>((go) => this.hold!(go));
    const o = handleRequest(this.ds, session, toDs(r), this.now);
    this.deliver(o.effects);
    return o.ok ? { ok: true } : { ok: false, condition: o.error.condition, ...(o.error.text ? { text: o.error.text } : {}) };
  }
  deliver(effects: DsEffect[]): void {
    for (const e of effects) if (e.kind === "send") this.#pending.push(this.members.get(e.session)!.receive(payload(e.payload)));
  }
  join(session: string): void {
    this.deliver(occupantJoined(this.ds, session, this.now++));
  }
  leave(session: string): void {
    this.deliver(sessionLeft(this.ds, session, true, this.now++));
  }
  /** Wait until no payload is in flight. */
  async settle(): Promise<void> {
    while (this.#pending.length) await Promise.all(this.#pending.splice(0));
  }
}

const codes = (...ms: MlsMember[]) => ms.map((m) => m.safetyCode());

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
    const room = new Room();
    const a = room.member("a", ["alice"]);
    const b = room.member("b", ["bob"]);
    const c = room.member("c", ["carol"]);
    for (const m of [a, b, c]) await m.publish();
    room.join("a");
    room.join("b");
    await room.settle();
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
