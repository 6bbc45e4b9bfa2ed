import { describe, expect, it } from "vitest";
import {
  BASE_DELAY_MS,
  FORGET_AFTER_MS,
  FREE_ATTEMPTS,
  MAX_DELAY_MS,
  checkPassword,
  expireFailures,
  hashPassword,
  ROOM_FREE_FAILURES,
  ROOM_KEY,
  ROOM_SPACING_MS,
  backoffCheck,
  nextExpiry,
  recordFailure,
  setPassword,
} from "../../durable/features/muc-password";
import { emptyMeta, newRoom } from "../../durable/core/state";
import { harness } from "./helpers/core-harness";

const R = "room@conference.example.org";
const setPw = (pw: string) =>
  `<iq type="set" id="cfg" to="${R}"><query xmlns="http://jabber.org/protocol/muc#owner"><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var="muc#roomconfig_roomsecret"><value>${pw}</value></field></x></query></iq>`;

describe("room password storage", () => {
  it("stores only a salted PBKDF2 hash and verifies it", async () => {
    const meta = emptyMeta();
    await setPassword(meta, "s3cret");
    expect(meta.pwHash).not.toContain("s3cret");
    expect(meta.pwSalt).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(await checkPassword(meta, "s3cret")).toBe(true);
    expect(await checkPassword(meta, "s3cret ")).toBe(false);
    // same password, new salt -> different hash
    const m2 = emptyMeta();
    await setPassword(m2, "s3cret");
    expect(m2.pwHash).not.toBe(meta.pwHash);
    expect(await hashPassword("s3cret", meta.pwSalt!)).toBe(meta.pwHash);
  });
});

describe("password back-off numbers", () => {
  it(`${FREE_ATTEMPTS} free failures, then 2 s, 4 s, 8 s ... capped at 5 min; forgotten after an hour`, () => {
    const room = newRoom("r");
    const t = 1_000_000;
    for (let i = 1; i <= FREE_ATTEMPTS; i++) expect(recordFailure(room, "k", t).blockedUntil).toBe(0);
    expect(recordFailure(room, "k", t).blockedUntil).toBe(t + BASE_DELAY_MS);
    expect(recordFailure(room, "k", t).blockedUntil).toBe(t + 2 * BASE_DELAY_MS);
    expect(recordFailure(room, "k", t).blockedUntil).toBe(t + 4 * BASE_DELAY_MS);
    for (let i = 0; i < 20; i++) recordFailure(room, "k", t);
    expect(recordFailure(room, "k", t).blockedUntil).toBe(t + MAX_DELAY_MS);
    expect(expireFailures(room, t + FORGET_AFTER_MS - 1)).toEqual([]);
    expect(expireFailures(room, t + FORGET_AFTER_MS)).toEqual(["k", ROOM_KEY]);
    // a failure long after the last one starts over
    recordFailure(room, "j", t);
    expect(recordFailure(room, "j", t + FORGET_AFTER_MS).failures).toBe(1);
  });
});

describe("room-wide password budget", () => {
  it(`${ROOM_FREE_FAILURES} failures from any clients, then each one closes the room's checks for ${ROOM_SPACING_MS / 1000} s`, () => {
    const room = newRoom("r");
    const t = 5_000_000;
    // every guess from a different network: no client record ever blocks
    for (let i = 0; i < ROOM_FREE_FAILURES; i++) {
      expect(backoffCheck(room, `net-${i}`, t)).toBeUndefined();
      recordFailure(room, `net-${i}`, t);
    }
    expect(backoffCheck(room, "fresh", t)).toBeUndefined();
    recordFailure(room, "net-x", t);
    const refused = backoffCheck(room, "fresh", t);
    expect(refused).toMatchObject({ type: "wait", condition: "policy-violation" });
    expect(refused?.text).toMatch(/many wrong passwords; retry in 5 s/);
    expect(backoffCheck(room, "fresh", t + ROOM_SPACING_MS)).toBeUndefined();
    // the records expire an hour after the last failure: the alarm's next time
    expect(nextExpiry(room)).toBe(t + FORGET_AFTER_MS);
    expect(expireFailures(room, t + FORGET_AFTER_MS).length).toBe(ROOM_FREE_FAILURES + 2);
    expect(nextExpiry(room)).toBeUndefined();
  });
});

describe("password-protected rooms (XEP-0045 §7.2.6)", () => {
  async function locked() {
    const h = harness();
    h.ready("owner");
    await h.join("owner", "owner");
    await h.send("owner", setPw("open sesame"));
    h.take("owner");
    return h;
  }
  it("missing or wrong password: not-authorized (auth); right password: admitted", async () => {
    const h = await locked();
    h.ready("b");
    let f = await h.join("b", "bob");
    expect(f[0]).toContain(`<error type="auth" by="${R}"><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`);
    f = await h.join("b", "bob", "<password>nope</password>");
    expect(f[0]).toContain("<not-authorized");
    f = await h.join("b", "bob", "<password>open sesame</password>");
    expect(f.join("")).toContain(`<status code="110"/>`);
  });
  it("checks the password before the nick (wrong password + taken nick -> not-authorized)", async () => {
    const h = await locked();
    h.ready("b");
    const f = await h.join("b", "owner", "<password>x</password>");
    expect(f[0]).toContain("<not-authorized");
    const g = await h.join("b", "owner", "<password>open sesame</password>");
    expect(g[0]).toContain("<conflict");
  });
  it("backs off a guessing client with policy-violation (wait) and a retry hint, without checking the password", async () => {
    const h = await locked();
    h.ready("b", { ipKey: "attacker" });
    h.ready("c", { ipKey: "attacker" });
    h.ready("d", { ipKey: "someone-else" });
    for (let i = 0; i < FREE_ATTEMPTS + 1; i++) expect((await h.join("b", "bob", `<password>guess${i}</password>`))[0]).toContain("<not-authorized");
    // now blocked for BASE_DELAY_MS, also on another connection from the same client, even with the right password
    let f = await h.join("c", "carol", "<password>open sesame</password>");
    expect(f[0]).toContain(`<error type="wait" by="${R}"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`);
    expect(f[0]).toMatch(/retry in \d+ s/);
    // other clients are not affected
    f = await h.join("d", "dave", "<password>open sesame</password>");
    expect(f.join("")).toContain(`code="110"`);
    // after the back-off, the right password works and clears the record
    h.clock.now += BASE_DELAY_MS;
    f = await h.join("c", "carol", "<password>open sesame</password>");
    expect(f.join("")).toContain(`code="110"`);
    expect(h.rt.room.pwFailures.has("attacker")).toBe(false);
    expect(h.effects.some((e) => e.kind === "save-pw-failure" && e.ipKey === "attacker")).toBe(true);
  });
});
