import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseFrame, childElements, type XmlElement } from "../../durable/xmpp/xml";
import { toBase64 } from "../../contract/hmac";
import {
  COMMIT_TIMEOUT_MS,
  handleRequest,
  newDs,
  occupantJoined,
  sessionLeft,
  tick,
  type DsEffect,
  type DsOutcome,
  type DsState,
} from "../../durable/features/mls-delivery";
import { LIMITS, MlsWireError, NS_MLS, dsErrorXml, parseRequest, peekKeyPackage, type MlsRequest } from "../../durable/features/mls-wire";
import { MlsGroup, newKeyPackage, type OwnKeyPackage, type PendingCommit } from "../../workers/web/src/e2ee/group";

const b64 = (u: Uint8Array) => toBase64(u);
const fromB64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** The NS_MLS child of an iq, parsed by the room's XML parser. */
function el(inner: string): XmlElement {
  const iq = parseFrame(`<iq xmlns="jabber:client" type="set" id="1">${inner}</iq>`)[0]!;
  return childElements(iq)[0]!;
}
const parse = (inner: string, type = "set") => parseRequest(el(inner), type);

const kpReq = (kp: OwnKeyPackage) => parse(`<key-package xmlns="${NS_MLS}">${b64(kp.encoded)}</key-package>`);
const createReq = (groupInfo: Uint8Array) => parse(`<create xmlns="${NS_MLS}"><group-info>${b64(groupInfo)}</group-info></create>`);
function commitReq(p: PendingCommit, adds: string[] = [], removes: string[] = []): MlsRequest {
  return parse(
    `<commit xmlns="${NS_MLS}" epoch="${p.epoch}"><message>${b64(p.commit)}</message><group-info>${b64(p.groupInfo)}</group-info>` +
      (p.welcome ? `<welcome>${b64(p.welcome)}</welcome>` : "") +
      adds.map((a) => `<add identity="${a}"/>`).join("") +
      removes.map((r) => `<remove identity="${r}"/>`).join("") +
      `</commit>`,
  );
}

/** The NS_MLS payloads sent to `session`, parsed. */
const sentTo = (effects: DsEffect[], session: string) =>
  effects.flatMap((e) => (e.kind === "send" && e.session === session ? [parseFrame(e.payload)[0]!] : []));
const ok = (o: DsOutcome) => {
  if (!o.ok) throw new Error(`refused: ${o.error.condition} ${o.error.text}`);
  return o;
};

describe("MLS Delivery Service: request parsing", () => {
  it("reads a KeyPackage's identity and refuses other suites, credentials and oversized input", async () => {
    const kp = await newKeyPackage("alice#1");
    expect(peekKeyPackage(kp.encoded)).toEqual({ identity: "alice#1" });
    const r = kpReq(kp);
    expect(r).toMatchObject({ kind: "key-package", identity: "alice#1" });
    const otherSuite = new Uint8Array(kp.encoded);
    otherSuite[7] = 3;
    expect(() => parse(`<key-package xmlns="${NS_MLS}">${b64(otherSuite)}</key-package>`)).toThrow(/cipher suite must be 1/);
    expect(() => parse(`<key-package xmlns="${NS_MLS}">${b64(kp.encoded.subarray(0, 40))}</key-package>`)).toThrow(/truncated/);
    expect(() => parse(`<key-package xmlns="${NS_MLS}">not*base64</key-package>`)).toThrow(/not base64/);
    const big = b64(new Uint8Array(LIMITS.keyPackage + 3));
    expect(() => parse(`<key-package xmlns="${NS_MLS}">${big}</key-package>`)).toThrow(/larger than 2048 bytes/);
    expect(() => parse(`<key-package xmlns="${NS_MLS}">${b64(kp.encoded)}</key-package>`, "get")).toThrow(/type set/);
  });

  it("refuses commits with a bad epoch, missing parts, duplicates, too many changes; errors are typed", () => {
    const msg = b64(new Uint8Array([0, 1]));
    expect(() => parse(`<commit xmlns="${NS_MLS}" epoch="01"><message>${msg}</message></commit>`)).toThrow(/decimal/);
    expect(() => parse(`<commit xmlns="${NS_MLS}" epoch="1"><group-info>${msg}</group-info></commit>`)).toThrow(/<message\/> missing/);
    expect(() => parse(`<commit xmlns="${NS_MLS}" epoch="1"><message>${msg}</message><message>${msg}</message><group-info>${msg}</group-info></commit>`)).toThrow(/more than one/);
    const many = Array.from({ length: LIMITS.changes + 1 }, (_, i) => `<remove identity="m${i}"/>`).join("");
    expect(() => parse(`<commit xmlns="${NS_MLS}" epoch="1"><message>${msg}</message><group-info>${msg}</group-info>${many}</commit>`)).toThrow(/changes/);
    expect(() => parse(`<commit xmlns="${NS_MLS}" epoch="1"><message>${msg}</message><group-info>${msg}</group-info><add/></commit>`)).toThrow(/identity/);
    expect(() => parse(`<commit xmlns="urn:other"/>`)).toThrow(/expected an element/);
    expect(() => parse(`<frobnicate xmlns="${NS_MLS}"/>`)).toThrow(MlsWireError);
    expect(parse(`<group xmlns="${NS_MLS}"/>`, "get")).toEqual({ kind: "group-info" });
    expect(dsErrorXml({ type: "cancel", condition: "conflict", text: "stale", currentEpoch: 7n })).toBe(
      `<error type="cancel"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">stale</text><stale-epoch xmlns="${NS_MLS}" current="7"/></error>`,
    );
  });

  it("throws only MlsWireError on arbitrary requests (fuzz)", () => {
    const name = fc.constantFrom("key-package", "create", "commit", "group", "other");
    const part = fc.record({
      name: fc.constantFrom("message", "group-info", "welcome", "add", "remove", "x"),
      identity: fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
      body: fc.oneof(fc.base64String({ maxLength: 400 }), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 300 }).map(b64)),
    });
    const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;").replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "");
    fc.assert(
      fc.property(name, fc.option(fc.string({ maxLength: 25 }), { nil: undefined }), fc.array(part, { maxLength: 6 }), fc.constantFrom("get", "set"), (n, epoch, parts, type) => {
        const inner =
          `<${n} xmlns="${NS_MLS}"${epoch === undefined ? "" : ` epoch="${esc(epoch)}"`}>` +
          parts.map((p) => `<${p.name}${p.identity === undefined ? "" : ` identity="${esc(p.identity)}"`}>${esc(p.body)}</${p.name}>`).join("") +
          `</${n}>`;
        try {
          parse(inner, type);
        } catch (e) {
          expect(e).toBeInstanceOf(MlsWireError);
        }
      }),
    );
  });
});

describe("MLS Delivery Service: ordering and membership, with real MLS messages", () => {
  /** A room with alice as the group's creator (epoch 0) and its MLS state. */
  async function roomWithAlice() {
    const ds = newDs();
    const kpA = await newKeyPackage("alice");
    // on the hair check: nothing to do yet
    expect(ok(handleRequest(ds, "sA", kpReq(kpA), 0)).effects).toEqual([]);
    const fx = occupantJoined(ds, "sA", 1);
    const req = sentTo(fx, "sA")[0]!;
    expect([req.local, req.attrs["create"]]).toEqual(["commit-request", "true"]);
    const a = await MlsGroup.create(new TextEncoder().encode("room-1"), kpA);
    ok(handleRequest(ds, "sA", createReq(await a.groupInfo()), 2));
    expect(ds.group?.epoch).toBe(0n);
    expect([...ds.members]).toEqual([["sA", "alice"]]);
    return { ds, a };
  }

  /** alice, then bob added by alice (epoch 1); KeyPackages of carol and dave ready. */
  async function roomWithAliceAndBob() {
    const { ds, a } = await roomWithAlice();
    const [kpB, kpC, kpD] = await Promise.all(["bob", "carol", "dave"].map(newKeyPackage));
    ok(handleRequest(ds, "sB", kpReq(kpB!), 10));
    occupantJoined(ds, "sB", 10);
    const p = await a.commit({ add: [kpB!.encoded] });
    ok(handleRequest(ds, "sA", commitReq(p, ["bob"]), 11));
    a.apply(p);
    const b = await MlsGroup.join(p.welcome!, kpB!);
    return { ds, a, b, kpC: kpC!, kpD: kpD! };
  }

  it("adds a newcomer only once it joins the room, through the longest-present member; the welcome reaches it", async () => {
    const { ds, a } = await roomWithAlice();
    const kpB = await newKeyPackage("bob");
    // bob's KeyPackage from the hair check is kept but not handed out: he has not joined
    expect(ok(handleRequest(ds, "sB", kpReq(kpB), 10)).effects).toEqual([]);
    const fx = occupantJoined(ds, "sB", 11);
    const [req] = sentTo(fx, "sA");
    expect(req?.attrs["epoch"]).toBe("0");
    const add = childElements(req!).find((c) => c.local === "add")!;
    expect(add.attrs["identity"]).toBe("bob");
    expect(fx).toContainEqual({ kind: "timer", at: 11 + COMMIT_TIMEOUT_MS });

    const p = await a.commit({ add: [fromB64(add.children[0] as string)] });
    const out = ok(handleRequest(ds, "sA", commitReq(p, ["bob"]), 12));
    a.apply(p);
    const [welcome] = sentTo(out.effects, "sB");
    expect([welcome?.local, welcome?.attrs["epoch"]]).toEqual(["welcome", "1"]);
    const b = await MlsGroup.join(fromB64(welcome!.children[0] as string), kpB);
    expect(b.safetyCode()).toBe(a.safetyCode());
    expect(ds.group?.epoch).toBe(1n);
    expect(ds.keyPackages.size).toBe(0);
    expect(out.effects.some((e) => e.kind === "send" && e.session === "sA")).toBe(false); // nothing more to do
  });

  it("accepts exactly one commit per epoch: the second gets conflict with the current epoch, then retries and wins", async () => {
    const { ds, a, b, kpC, kpD } = await roomWithAliceAndBob();

    for (const [s, kp] of [["sC", kpC], ["sD", kpD]] as const) {
      ok(handleRequest(ds, s, kpReq(kp), 20));
      occupantJoined(ds, s, 20);
    }
    // alice and bob both commit on epoch 1
    const fromA = await a.commit({ add: [kpC.encoded] });
    const fromB = await b.commit({ add: [kpD.encoded] });
    const first = ok(handleRequest(ds, "sA", commitReq(fromA, ["carol"]), 21));
    const second = handleRequest(ds, "sB", commitReq(fromB, ["dave"]), 22);
    expect(second.ok).toBe(false);
    if (second.ok) return;
    expect(second.error).toMatchObject({ condition: "conflict", currentEpoch: 2n });
    a.apply(fromA);
    // bob receives alice's commit, processes it, and retries on epoch 2
    const relayed = sentTo(first.effects, "sB").find((e) => e.local === "commit")!;
    expect(relayed.attrs["epoch"]).toBe("1");
    await b.process(fromB64(relayed.children[0] as string));
    const retry = await b.commit({ add: [kpD.encoded] });
    const won = ok(handleRequest(ds, "sB", commitReq(retry, ["dave"]), 23));
    b.apply(retry);
    await a.process(retry.commit);
    expect(sentTo(won.effects, "sA").map((e) => e.local)).toContain("commit");
    expect(sentTo(won.effects, "sD").map((e) => e.local)).toEqual(["welcome"]);
    expect(ds.group?.epoch).toBe(3n);
    expect(a.safetyCode()).toBe(b.safetyCode());
  });

  it("refuses commits from non-members, additions of absent people, removal of present members, foreign groups", async () => {
    const { ds, a } = await roomWithAlice();
    const kpB = await newKeyPackage("bob");
    ok(handleRequest(ds, "sB", kpReq(kpB), 10));
    const p = await a.commit({ add: [kpB.encoded] });
    // bob is on the hair check: he cannot be added yet
    expect(handleRequest(ds, "sA", commitReq(p, ["bob"]), 11)).toMatchObject({ ok: false, error: { condition: "item-not-found" } });
    occupantJoined(ds, "sB", 12);
    // a non-member cannot commit
    expect(handleRequest(ds, "sB", commitReq(p, ["bob"]), 13)).toMatchObject({ ok: false, error: { condition: "forbidden" } });
    // a welcome is required with additions
    expect(handleRequest(ds, "sA", commitReq({ ...p, welcome: undefined }, ["bob"]), 13)).toMatchObject({ ok: false, error: { condition: "bad-request" } });
    ok(handleRequest(ds, "sA", commitReq(p, ["bob"]), 14));
    a.apply(p);
    // alice cannot remove bob while he is in the room
    const rm = await a.commit({ remove: ["bob"] });
    expect(handleRequest(ds, "sA", commitReq(rm, [], ["bob"]), 15)).toMatchObject({ ok: false, error: { condition: "not-allowed" } });
    // a commit of another group
    const other = await MlsGroup.create(new TextEncoder().encode("elsewhere"), await newKeyPackage("alice"));
    const foreign = await other.commit({});
    const fReq = commitReq({ ...foreign, epoch: 1n });
    expect(handleRequest(ds, "sA", fReq, 16)).toMatchObject({ ok: false, error: { condition: "bad-request" } });
    // a second create, an identity taken, a KeyPackage from a member
    const gi1 = await a.groupInfo();
    expect(() => createReq(gi1)).toThrow(/epoch 0/);
    expect(handleRequest(ds, "sB", createReq(await other.groupInfo()), 17)).toMatchObject({ ok: false, error: { condition: "conflict", currentEpoch: 1n } });
    expect(handleRequest(ds, "sX", kpReq(await newKeyPackage("bob")), 17)).toMatchObject({ ok: false, error: { condition: "conflict" } });
    expect(handleRequest(ds, "sB", kpReq(await newKeyPackage("bob2")), 17)).toMatchObject({ ok: false, error: { condition: "not-allowed" } });
  });

  it("asks the next member when the committer does not answer, and asks for the removal of who left", async () => {
    const { ds, a, b, kpC, kpD } = await roomWithAliceAndBob();
    ok(handleRequest(ds, "sC", kpReq(kpC), 20));
    const asked = occupantJoined(ds, "sC", 20);
    expect(sentTo(asked, "sA").map((e) => e.local)).toEqual(["commit-request"]);
    // alice stays silent: after the timeout bob is asked
    expect(tick(ds, 20 + COMMIT_TIMEOUT_MS - 1)).toEqual([]);
    const next = tick(ds, 20 + COMMIT_TIMEOUT_MS);
    expect(sentTo(next, "sB").map((e) => e.local)).toEqual(["commit-request"]);
    expect(sentTo(next, "sA")).toEqual([]);
    // bob silent too: back to alice
    expect(sentTo(tick(ds, 20 + 2 * COMMIT_TIMEOUT_MS), "sA").map((e) => e.local)).toEqual(["commit-request"]);
    const pc = await a.commit({ add: [kpC.encoded] });
    ok(handleRequest(ds, "sA", commitReq(pc, ["carol"]), 20 + 2 * COMMIT_TIMEOUT_MS + 1));
    a.apply(pc);
    await b.process(pc.commit);

    // alice leaves: bob (now the longest present) is asked to remove her
    ok(handleRequest(ds, "sD", kpReq(kpD), 30));
    const gone = sessionLeft(ds, "sA", true, 31);
    const req = sentTo(gone, "sB")[0]!;
    expect(childElements(req).map((c) => [c.local, c.attrs["identity"]])).toEqual([["remove", "alice"]]);
    const rm = await b.commit({ remove: ["alice"] });
    const done = ok(handleRequest(ds, "sB", commitReq(rm, [], ["alice"]), 32));
    b.apply(rm);
    expect(sentTo(done.effects, "sA")).toEqual([]); // not sent to who left
    expect([...ds.members.values()]).toEqual(["bob", "carol"]);
  });

  it("forgets the group when the room empties, keeps no private state, and answers the group query", async () => {
    const { ds, a } = await roomWithAlice();
    const q = ok(handleRequest(ds, "sA", { kind: "group-info" }, 5));
    const g = parseFrame(q.result)[0]!;
    expect(g.attrs["epoch"]).toBe("0");
    expect(fromB64(childElements(g)[0]!.children[0] as string)).toEqual(await a.groupInfo());
    expect(handleRequest(ds, "sZ", { kind: "group-info" }, 5)).toMatchObject({ ok: false, error: { condition: "not-acceptable" } });
    ok(handleRequest(ds, "sW", kpReq(await newKeyPackage("waiting")), 6));
    sessionLeft(ds, "sA", true, 7);
    expect(ds.group).toBeUndefined();
    expect(ds.members.size).toBe(0);
    expect(ds.request).toBeUndefined();
    expect([...ds.keyPackages.keys()]).toEqual(["sW"]); // a connected session on the hair check
    sessionLeft(ds, "sW", true, 8);
    expect(ds.keyPackages.size).toBe(0);
  });
});

describe("MLS Delivery Service: invariants under random event sequences (fuzz)", () => {
  it("never throws, keeps epochs increasing, asks only present candidates, forgets the group in an empty room", async () => {
    const kps = await Promise.all(["s0", "s1", "s2", "s3"].map((s) => newKeyPackage(`id-${s}`)));
    const groupInfo0 = await (await MlsGroup.create(new TextEncoder().encode("g"), kps[0]!)).groupInfo();
    const sess = fc.constantFrom("s0", "s1", "s2", "s3");
    const ev = fc.oneof(
      fc.record({ t: fc.constant("join" as const), s: sess }),
      fc.record({ t: fc.constant("leave" as const), s: sess, disc: fc.boolean() }),
      fc.record({ t: fc.constant("kp" as const), s: sess }),
      fc.record({ t: fc.constant("create" as const), s: sess }),
      fc.record({ t: fc.constant("tick" as const), dt: fc.integer({ min: 0, max: 2 * COMMIT_TIMEOUT_MS }) }),
      fc.record({ t: fc.constant("junk" as const), s: sess, epoch: fc.bigInt({ min: 0n, max: 5n }), bytes: fc.uint8Array({ maxLength: 64 }) }),
    );
    fc.assert(
      fc.property(fc.array(ev, { maxLength: 40 }), (events) => {
        const ds: DsState = newDs();
        let now = 0;
        let lastEpoch = -1n;
        for (const e of events) {
          now += 1;
          let fx: DsEffect[] = [];
          if (e.t === "join") fx = occupantJoined(ds, e.s, now);
          else if (e.t === "leave") fx = sessionLeft(ds, e.s, e.disc, now);
          else if (e.t === "tick") fx = tick(ds, (now += e.dt));
          else if (e.t === "kp") fx = handleRequest(ds, e.s, kpReq(kps[Number(e.s[1])]!), now).effects;
          else if (e.t === "create") fx = handleRequest(ds, e.s, { kind: "create", groupInfo: groupInfo0, groupId: new TextEncoder().encode("g") }, now).effects;
          else {
            const r = handleRequest(ds, e.s, { kind: "commit", epoch: e.epoch, message: e.bytes, groupInfo: e.bytes, welcome: undefined, adds: [], removes: [] }, now);
            expect(r.ok).toBe(false); // random bytes never pass as a commit
            fx = r.effects;
          }
          for (const f of fx) if (f.kind === "send") expect(ds.occupants.has(f.session) || ds.keyPackages.has(f.session)).toBe(true);
          if (ds.occupants.size === 0) expect(ds.group).toBeUndefined();
          if (ds.group) {
            expect(ds.group.epoch >= lastEpoch || lastEpoch === -1n).toBe(true);
            lastEpoch = ds.group.epoch;
            expect([...ds.members.keys()].some((s) => ds.occupants.has(s))).toBe(true);
          } else lastEpoch = -1n;
          if (ds.request) expect(ds.occupants.has(ds.request.session)).toBe(true);
          for (const s of ds.members.keys()) expect(ds.keyPackages.has(s)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});
