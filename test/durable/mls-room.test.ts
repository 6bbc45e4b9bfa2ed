/**
 * The room as MLS Delivery Service (docs/e2ee-protocol.md §4), over real WebSockets to the real room Durable Object
 * in workerd, with real MLS groups (ts-mls, workers/web/src/e2ee/group.ts) on the client side: who is asked to
 * commit, what every membership change asks for (join -> Add, leave/kick/dropped socket -> Remove), which commits are
 * refused (old epoch, non-member), what a session on the hair check or outside a locked room gets (no keys), and the
 * errors for malformed or oversized MLS stanzas.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toBase64 } from "../../contract/hmac";
import { NS_MLS } from "../../durable/features/mls-wire";
import { NS_RESUME } from "../../contract/resume";
import { FrameKeys } from "../../workers/web/src/e2ee/frame-keys";
import { MlsGroup, newKeyPackage, type OwnKeyPackage, type PendingCommit } from "../../workers/web/src/e2ee/group";
import type { ConnState } from "../../durable/core/state";
import { RoomDO } from "../../durable/room-do";
import { connect, join, lockRoom, login, type Frame, type TestClient } from "./helpers";

const b64 = (u: Uint8Array) => toBase64(u);
const fromB64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
let iqN = 0;

/** A test occupant with its MLS state. */
class Peer {
  group: MlsGroup | undefined;
  constructor(
    readonly c: TestClient,
    readonly room: string,
    readonly kp: OwnKeyPackage,
  ) {}
  get roomJid() {
    return `${this.room}@conference.${this.c.domain}`;
  }
  /** Send an iq with this NS_MLS payload to the room; resolves with the answer frame. */
  async iq(type: "get" | "set", payload: string): Promise<Frame> {
    const id = `mls-${++iqN}`;
    this.c.send(`<iq xmlns="jabber:client" type="${type}" id="${id}" to="${this.roomJid}">${payload}</iq>`);
    return this.c.next((f) => f.raw.startsWith("<iq") && f.raw.includes(`id="${id}"`), 10_000, `answer to ${id}`);
  }
  publish(): Promise<Frame> {
    return this.iq("set", `<key-package xmlns="${NS_MLS}">${b64(this.kp.encoded)}</key-package>`);
  }
  /** The next MLS payload from the room of this element name. */
  async payload(name: string, timeoutMs = 10_000): Promise<Frame> {
    return this.c.next((f) => f.raw.includes(`<${name} xmlns="${NS_MLS}"`), timeoutMs, `<${name}/>`);
  }
  commitXml(p: PendingCommit, adds: string[], removes: string[], epoch = p.epoch): string {
    return (
      `<commit xmlns="${NS_MLS}" epoch="${epoch}"><message>${b64(p.commit)}</message><group-info>${b64(p.groupInfo)}</group-info>` +
      (p.welcome ? `<welcome>${b64(p.welcome)}</welcome>` : "") +
      adds.map((a) => `<add identity="${a}"/>`).join("") +
      removes.map((r) => `<remove identity="${r}"/>`).join("") +
      `</commit>`
    );
  }
  /** Answer the room's next commit request as the protocol says: create, or commit its adds and removes. */
  async answerRequest(): Promise<{ adds: string[]; removes: string[]; answer: Frame }> {
    const req = (await this.payload("commit-request")).raw;
    if (req.includes('create="true"')) {
      this.group = await MlsGroup.create(crypto.getRandomValues(new Uint8Array(16)), this.kp);
      const answer = await this.iq("set", `<create xmlns="${NS_MLS}"><group-info>${b64(await this.group.groupInfo())}</group-info></create>`);
      return { adds: [], removes: [], answer };
    }
    const adds = [...req.matchAll(/<add identity="([^"]+)">([^<]+)<\/add>/g)].map((m) => ({ id: m[1]!, kp: fromB64(m[2]!) }));
    const removes = [...req.matchAll(/<remove identity="([^"]+)"\/>/g)].map((m) => m[1]!);
    const p = await this.group!.commit({ add: adds.map((a) => a.kp), remove: removes });
    const answer = await this.iq("set", this.commitXml(p, adds.map((a) => a.id), removes));
    if (answer.raw.includes('type="result"')) this.group!.apply(p);
    return { adds: adds.map((a) => a.id), removes, answer };
  }
  /** Process the room's next relayed commit. */
  async processCommit(): Promise<void> {
    const f = (await this.payload("commit")).raw;
    await this.group!.process(fromB64(/>([^<]+)<\/commit>/.exec(f)![1]!));
  }
  async joinFromWelcome(): Promise<void> {
    const f = (await this.payload("welcome")).raw;
    this.group = await MlsGroup.join(fromB64(/>([^<]+)<\/welcome>/.exec(f)![1]!), this.kp);
  }
}

/** A bound session (on the hair check) with a fresh KeyPackage for `identity`. */
async function session(room: string, identity: string): Promise<Peer> {
  const c = await connect(room);
  await login(c);
  return new Peer(c, room, await newKeyPackage(identity));
}

/** First occupant: publishes, joins, creates the group when asked. */
async function creator(room: string, identity = "alice"): Promise<Peer> {
  const a = await session(room, identity);
  expect((await a.publish()).raw).toContain('type="result"');
  await join(a.c, room, identity);
  const r = await a.answerRequest();
  expect(r.answer.raw).toContain('type="result"');
  return a;
}

/** A second (or later) occupant added by `committer`; everyone in `others` processes the commit. */
async function added(room: string, identity: string, committer: Peer, others: Peer[] = []): Promise<Peer> {
  const b = await session(room, identity);
  await b.publish();
  await join(b.c, room, identity);
  const r = await committer.answerRequest();
  expect(r.adds).toEqual([identity]);
  expect(r.answer.raw).toContain('type="result"');
  await b.joinFromWelcome();
  for (const o of others) await o.processCommit();
  return b;
}

/** Frame keys (SFrame, RFC 9605 §5.2) of the epoch `g` is at. */
async function frameKeys(g: MlsGroup): Promise<FrameKeys> {
  const k = new FrameKeys({ now: () => 0, retainMs: 0 });
  k.setEpoch(await g.epochKeys());
  return k;
}

/**
 * A frame `sender` encrypts now, in the epoch that removed `gone`: the `readers` decrypt it; `gone` cannot, neither
 * with the keys of its last epoch nor with what its old state exports used as the new epoch's base key.
 */
async function goneCannotDecrypt(sender: Peer, gone: Peer, readers: Peer[]): Promise<void> {
  const g = sender.group!;
  const frame = await (await frameKeys(g)).encrypt("opus", new Uint8Array([0xfc, 1, 2, 3, 4]));
  for (const r of readers) expect((await (await frameKeys(r.group!)).decrypt("opus", frame)).epoch).toBe(g.epoch);
  expect(gone.group!.epoch).toBeLessThan(g.epoch);
  await expect((await frameKeys(gone.group!)).decrypt("opus", frame)).rejects.toMatchObject({ reason: "no-key" });
  const forged = new FrameKeys({ now: () => 0 });
  forged.setEpoch({ epoch: g.epoch, baseKey: await gone.group!.sframeBaseKey(), leafCount: g.leafCount, ownIndex: gone.group!.ownIndex });
  await expect(forged.decrypt("opus", frame)).rejects.toMatchObject({ reason: "auth" });
}

const errorOf = (f: Frame) => /<error type="(\w+)"[^>]*><([a-z-]+) /.exec(f.raw)?.slice(1);

describe("room as MLS Delivery Service", { timeout: 60_000 }, () => {
  it("a join asks the longest-present member for an Add; the newcomer joins from its Welcome with the same safety code", async () => {
    const room = "mls-join";
    const a = await creator(room);
    expect(a.group!.epoch).toBe(0n);
    const b = await added(room, "bob", a);
    expect(a.group!.epoch).toBe(1n);
    expect(b.group!.epoch).toBe(1n);
    expect(b.group!.safetyCode()).toBe(a.group!.safetyCode());
    expect((await b.group!.epochKeys()).baseKey).toEqual((await a.group!.epochKeys()).baseKey);
    const c = await added(room, "carol", a, [b]);
    expect(new Set([a, b, c].map((p) => p.group!.safetyCode())).size).toBe(1);
    expect(c.group!.members().map((m) => m.identity).sort()).toEqual(["alice", "bob", "carol"]);
    // the room keeps the GroupInfo of the current epoch for a member that lost its state
    const g = await c.iq("get", `<group xmlns="${NS_MLS}"/>`);
    expect(g.raw).toContain(`epoch="2"`);
    for (const p of [a, b, c]) p.c.close();
  });

  it("a rejoin after a network change (the new session takes the old one's place) is one commit: Remove and Add together", async () => {
    const room = "mls-rejoin";
    const token = "t".repeat(22);
    const joinResuming = async (c: TestClient) => {
      c.send(
        `<presence xmlns="jabber:client" to="${room}@conference.${c.domain}/bob"><x xmlns="http://jabber.org/protocol/muc"/>` +
          `<resume xmlns="${NS_RESUME}" token="${token}"/></presence>`,
      );
      await c.expect('code="110"');
    };
    const a = await creator(room);
    const b = await session(room, "bob");
    await b.publish();
    await joinResuming(b.c);
    await a.answerRequest();
    await b.joinFromWelcome();
    // bob's laptop changes network: a new session, a new member, taking the old one's place
    const b2 = await session(room, "bob-2");
    expect((await b2.publish()).raw).toContain('type="result"');
    await joinResuming(b2.c);
    const r = await a.answerRequest();
    expect(r).toMatchObject({ adds: ["bob-2"], removes: ["bob"] });
    expect(r.answer.raw).toContain('type="result"');
    await b2.joinFromWelcome();
    expect(b2.group!.safetyCode()).toBe(a.group!.safetyCode());
    // nothing more to commit
    await expect(a.payload("commit-request", 500)).rejects.toThrow();
    for (const p of [a, b, b2]) p.c.close();
  });

  it("refuses a commit for an old epoch (conflict, with the current epoch) and one from a non-member (forbidden)", async () => {
    const room = "mls-refuse";
    const a = await creator(room);
    const b = await added(room, "bob", a);
    // bob commits an (empty) update on epoch 1 first; alice's commit on epoch 1 comes second and is refused
    const pb = await b.group!.commit({});
    const pa = await a.group!.commit({});
    expect((await b.iq("set", b.commitXml(pb, [], []))).raw).toContain('type="result"');
    b.group!.apply(pb);
    const refused = await a.iq("set", a.commitXml(pa, [], []));
    expect(errorOf(refused)).toEqual(["cancel", "conflict"]);
    expect(refused.raw).toContain(`<stale-epoch xmlns="${NS_MLS}" current="2"/>`);
    // alice processes the winner and is on epoch 2 with bob
    await a.processCommit();
    expect(a.group!.safetyCode()).toBe(b.group!.safetyCode());
    // an old epoch outright
    const old = await a.iq("set", a.commitXml(pa, [], [], 1n));
    expect(errorOf(old)).toEqual(["cancel", "conflict"]);

    // a non-member in the room (its KeyPackage handed in, not yet added) cannot commit, even a well-formed commit
    const m = await session(room, "mallory");
    await join(m.c, room, "mallory"); // no KeyPackage: not asked to be added
    const forged = await a.group!.commit({});
    const f = await m.iq("set", m.commitXml(forged, [], []));
    expect(errorOf(f)).toEqual(["auth", "forbidden"]);
    expect(f.raw).toContain("only members of the group commit");
    for (const p of [a, b, m]) p.c.close();
  });

  it("a departed member (socket dropped), a leaver and a kicked member are removed by the next commit and cannot decrypt frames sent after", async () => {
    const room = "mls-depart";
    const a = await creator(room);
    const b = await added(room, "bob", a);
    const c = await added(room, "carol", a, [b]);
    const d = await added(room, "dave", a, [b, c]);
    const before = a.group!.safetyCode();

    b.c.close(); // dropped socket
    let r = await a.answerRequest();
    expect(r.removes).toEqual(["bob"]);
    expect(r.answer.raw).toContain('type="result"');
    for (const p of [c, d]) await p.processCommit();
    expect(a.group!.members().map((m) => m.identity)).not.toContain("bob");
    expect(c.group!.safetyCode()).toBe(a.group!.safetyCode());
    expect(a.group!.safetyCode()).not.toBe(before);
    await goneCannotDecrypt(a, b, [c, d]);

    // leaving with an unavailable presence, connection kept
    c.c.send(`<presence xmlns="jabber:client" type="unavailable" to="${room}@conference.localhost/carol"/>`);
    r = await a.answerRequest();
    expect(r.removes).toEqual(["carol"]);
    await d.processCommit();
    await goneCannotDecrypt(a, c, [d]);

    // kicked by the owner (XEP-0045 §8.2)
    const e = await added(room, "erin", a, [d]);
    a.c.send(
      `<iq xmlns="jabber:client" type="set" id="kick" to="${room}@conference.localhost"><query xmlns="http://jabber.org/protocol/muc#admin"><item nick="erin" role="none"/></query></iq>`,
    );
    r = await a.answerRequest();
    expect(r.removes).toEqual(["erin"]);
    await d.processCommit();
    expect(d.group!.members().map((m) => m.identity).sort()).toEqual(["alice", "dave"]);
    expect(d.group!.safetyCode()).toBe(a.group!.safetyCode());
    await goneCannotDecrypt(d, e, [a]);
    for (const p of [a, c, d, e]) p.c.close();
  });

  it("a session on the hair check, or outside a locked room, gets no keys until it joins", async () => {
    const room = "mls-lobby";
    const a = await creator(room);
    await lockRoom(a.c, room, "s3cret");
    const w = await session(room, "waiting");
    expect((await w.publish()).raw).toContain('type="result"'); // the hair check hands in its KeyPackage early
    // it is not added while it waits: nobody is asked to commit, and it cannot read the group's state
    await expect(a.payload("commit-request", 1500)).rejects.toThrow(/timeout/);
    const g = await w.iq("get", `<group xmlns="${NS_MLS}"/>`);
    expect(errorOf(g)).toEqual(["cancel", "not-acceptable"]);
    // a wrong password keeps it out, and out of the keys
    w.c.send(`<presence xmlns="jabber:client" to="${room}@conference.localhost/waiting"><x xmlns="http://jabber.org/protocol/muc"><password>no</password></x></presence>`);
    await w.c.expect("not-authorized");
    await expect(a.payload("commit-request", 1500)).rejects.toThrow(/timeout/);
    // admitted: now it is added
    await join(w.c, room, "waiting", "s3cret");
    const r = await a.answerRequest();
    expect(r.adds).toEqual(["waiting"]);
    await w.joinFromWelcome();
    expect(w.group!.safetyCode()).toBe(a.group!.safetyCode());
    a.c.close();
    w.c.close();
  });

  it("keeps the same group after an eviction (state saved in SQLite, rebuilt by a fresh object)", async () => {
    const room = "mls-evict";
    const a = await creator(room);
    const b = await added(room, "bob", a);
    // as in room-do.test.ts: a fresh RoomDO over the same storage and hibernated sockets is what a wake builds; the
    // frames below are handled by it alone
    await runInDurableObject(env.ROOM.get(env.ROOM.idFromName(room)), async (_old: RoomDO, state) => {
      const fresh = new RoomDO(state, env);
      expect((await fresh.getInfo(room)).occupantCount).toBe(2); // woken (the runtime delivers nothing before that)
      const wsOf = (nick: string) => state.getWebSockets().find((w) => (w.deserializeAttachment() as ConnState | null)?.occ?.nick === nick)!;
      await fresh.webSocketMessage(wsOf("alice"), `<iq xmlns="jabber:client" type="get" id="woke" to="${a.roomJid}"><group xmlns="${NS_MLS}"/></iq>`);
      // a commit on the saved epoch is accepted by the woken object, and relayed to bob
      const p = await b.group!.commit({});
      await fresh.webSocketMessage(wsOf("bob"), `<iq xmlns="jabber:client" type="set" id="woke-commit" to="${a.roomJid}">${b.commitXml(p, [], [])}</iq>`);
      b.group!.apply(p);
    });
    const g = await a.c.expect('id="woke"');
    expect(g.raw).toContain(`<group xmlns="${NS_MLS}" epoch="1">`);
    expect((await b.c.expect('id="woke-commit"')).raw).toContain('type="result"');
    await a.processCommit();
    expect(a.group!.safetyCode()).toBe(b.group!.safetyCode());
    a.c.close();
    b.c.close();
  });

  it("forgets the group when the room empties: the next occupant is asked to create a new one", async () => {
    const room = "mls-empty";
    const a = await creator(room);
    const b = await added(room, "bob", a);
    const gid = b.group!.groupId;
    a.c.close();
    b.c.close();
    await a.c.waitClosed();
    await b.c.waitClosed();
    // the room is empty once both closes are processed; a new visitor then finds no group
    const n = await session(room, "newcomer");
    await n.publish();
    await join(n.c, room, "newcomer");
    const req = await n.payload("commit-request");
    expect(req.raw).toContain('create="true"');
    const g = await n.iq("get", `<group xmlns="${NS_MLS}"/>`);
    expect(g.raw).toContain(`<group xmlns="${NS_MLS}"/>`);
    expect(gid.length).toBe(16);
    n.c.close();
  });

  it("answers malformed and oversized MLS stanzas with a clear stanza error and keeps the group working", async () => {
    const room = "mls-bad";
    const a = await creator(room);
    const b = await added(room, "bob", a);
    const cases: [string, string, string, RegExp][] = [
      ["set", `<key-package xmlns="${NS_MLS}">not*base64</key-package>`, "bad-request", /not base64/],
      ["set", `<key-package xmlns="${NS_MLS}">${"QUFB".repeat(1000)}</key-package>`, "policy-violation", /larger than 2048 bytes/],
      ["set", `<key-package xmlns="${NS_MLS}">${b64(new Uint8Array(40))}</key-package>`, "bad-request", /not MLS 1.0/],
      ["set", `<commit xmlns="${NS_MLS}" epoch="x"><message>AAAA</message></commit>`, "bad-request", /decimal/],
      ["set", `<commit xmlns="${NS_MLS}" epoch="1"><group-info>AAAA</group-info></commit>`, "bad-request", /&lt;message\/&gt; missing/],
      ["set", `<frobnicate xmlns="${NS_MLS}"/>`, "bad-request", /./],
      ["get", `<key-package xmlns="${NS_MLS}">${b64(b.kp.encoded)}</key-package>`, "bad-request", /type set/],
      ["set", `<key-package xmlns="${NS_MLS}">${b64(b.kp.encoded)}</key-package>`, "not-allowed", /already a member/],
    ];
    for (const [type, payload, condition, text] of cases) {
      const f = await b.iq(type as "get" | "set", payload);
      expect(f.raw, payload.slice(0, 80)).toContain(`<${condition} `);
      expect(f.raw).toMatch(text);
      expect(b.c.closed).toBeUndefined();
    }
    // fuzzed: mutated MLS messages and random payloads in every request. Each gets an iq answer (an error unless it
    // happens to be valid), the socket stays open, and the group still moves on afterwards.
    const valid = await b.group!.commit({});
    const base = [b.kp.encoded, valid.commit, valid.groupInfo];
    const mutated = fc.tuple(fc.constantFrom(...base), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat())
      .map(([bytes, flips, cut]) => {
        const m = new Uint8Array(bytes.subarray(0, Math.max(1, bytes.length - (cut % 4 === 0 ? cut % bytes.length : 0))));
        for (const [at, v] of flips) m[at % m.length] = v;
        return b64(m);
      });
    const body = fc.oneof(mutated, fc.string({ maxLength: 64 }).map((s) => s.replace(/[<&]/g, "")), fc.base64String({ maxLength: 400 }));
    const request = fc.oneof(
      body.map((x) => ["set", `<key-package xmlns="${NS_MLS}">${x}</key-package>`] as const),
      body.map((x) => ["set", `<create xmlns="${NS_MLS}"><group-info>${x}</group-info></create>`] as const),
      fc.tuple(body, body, fc.option(body), fc.bigInt({ min: 0n, max: 5n })).map(
        ([m, g, w, e]) => ["set", `<commit xmlns="${NS_MLS}" epoch="${e}"><message>${m}</message><group-info>${g}</group-info>${w ? `<welcome>${w}</welcome><add identity="x"/>` : ""}</commit>`] as const,
      ),
      fc.constantFrom(["get", `<group xmlns="${NS_MLS}"/>`] as const, ["set", `<group xmlns="${NS_MLS}"/>`] as const),
    );
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(request, async ([type, payload]) => {
        const f = await b.iq(type, payload);
        expect(f.raw).toMatch(/type="(result|error)"/);
        expect(b.c.closed).toBeUndefined();
        answered++;
      }),
      { numRuns: 60 },
    );
    expect(answered).toBe(60);
    expect(a.c.closed).toBeUndefined();
    // both still in the group and it still moves on
    const c = await added(room, "carol", a, [b]);
    expect(c.group!.safetyCode()).toBe(b.group!.safetyCode());
    for (const p of [a, b, c]) p.c.close();
  });
});
