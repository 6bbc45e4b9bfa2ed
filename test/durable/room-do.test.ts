/**
 * The room Durable Object in the real Workers runtime (workerd via vitest-pool-workers): real WebSockets through the
 * Worker's fetch, the hibernation API, SQLite storage, the admin RPC route.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ConnState } from "../../durable/core/state";
import { RoomDO } from "../../durable/room-do";
import { DEV_SECRETS } from "../../contract/secrets";
import { connect, connected, lockRoom, login, wrongGuess, type TestClient } from "./helpers";

const gc = (room: string, id: string, body: string) =>
  `<message xmlns="jabber:client" type="groupchat" id="${id}" to="${room}@conference.localhost"><body>${body}</body></message>`;

async function chatWorks(room: string, from: TestClient, to: TestClient, tag: string): Promise<void> {
  from.send(gc(room, tag, tag));
  await to.expect(`id="${tag}"`, `<body>${tag}</body>`);
}


/**
 * Run `fn` on a new RoomDO built on `room`'s state, as the runtime does after an eviction; `wsOf(nick)` is that
 * occupant's hibernated socket.
 */
async function inRewokenObject(room: string, fn: (fresh: RoomDO, wsOf: (nick: string) => WebSocket) => Promise<void>): Promise<void> {
  await runInDurableObject(env.ROOM.get(env.ROOM.idFromName(room)), async (_old: RoomDO, state) => {
    const wsOf = (nick: string) => state.getWebSockets().find((ws) => (ws.deserializeAttachment() as ConnState | null)?.occ?.nick === nick)!;
    await fn(new RoomDO(state, env), wsOf);
  });
}

/** XEP-0045 §10.2 owner form setting the room secret. */
const setSecret = (room: string, id: string, pw: string) =>
  `<iq xmlns="jabber:client" type="set" id="${id}" to="${room}@conference.localhost"><query xmlns="http://jabber.org/protocol/muc#owner"><x xmlns="jabber:x:data" type="submit"><field var="muc#roomconfig_roomsecret"><value>${pw}</value></field></x></query></iq>`;

describe("worker route /xmpp-websocket/<room>", { timeout: 60_000 }, () => {
  it("rejects bad room names with 400 and a reason", async () => {
    for (const bad of ["UPPER", "a_b", "x".repeat(65), "sp%20ace"]) {
      const r = await exports.default.fetch(`http://localhost/xmpp-websocket/${bad}`, { headers: { Upgrade: "websocket" } });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { reason: string }).reason).toContain("a-z");
    }
  });
  it("answers non-upgrade requests with 426", async () => {
    const r = await exports.default.fetch("http://localhost/xmpp-websocket/room-426");
    expect(r.status).toBe(426);
    expect(r.headers.get("upgrade")).toBe("websocket");
  });
  it("echoes Sec-WebSocket-Protocol only when the client asked for xmpp", async () => {
    const yes = await exports.default.fetch("http://localhost/xmpp-websocket/proto", {
      headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": "xmpp", "CF-Connecting-IP": "10.9.0.1" },
    });
    expect(yes.status).toBe(101);
    expect(yes.headers.get("sec-websocket-protocol")).toBe("xmpp");
    yes.webSocket!.accept();
    yes.webSocket!.close();
    const no = await exports.default.fetch("http://localhost/xmpp-websocket/proto", { headers: { Upgrade: "websocket", "CF-Connecting-IP": "10.9.0.2" } });
    expect(no.status).toBe(101);
    expect(no.headers.get("sec-websocket-protocol")).toBeNull();
    no.webSocket!.accept();
    no.webSocket!.close();
  });
  it("uses the request host as the XMPP domain", async () => {
    const c = await connect("hosty", { host: "127.0.0.1" });
    c.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="127.0.0.1" version="1.0"/>`);
    expect((await c.expect("<open ")).raw).toContain(`from="127.0.0.1"`);
    c.close();
  });
});

describe("room DO: hostile input on one stream leaves the others chatting", { timeout: 60_000 }, () => {
  const cases: [string, string, string][] = [
    ["oversized stanza", "policy-violation", gc("hostile", "big", "x".repeat(70 * 1024))],
    ["DOCTYPE with entities", "restricted-xml", `<!DOCTYPE m [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><message xmlns="jabber:client">&b;</message>`],
    ["undeclared entity", "restricted-xml", `<message xmlns="jabber:client" to="hostile@conference.localhost" type="groupchat"><body>&xxe;</body></message>`],
    ["malformed XML", "not-well-formed", `<message xmlns="jabber:client"><body>unclosed</message>`],
    ["comment", "restricted-xml", `<message xmlns="jabber:client"><!-- x --></message>`],
    ["wrong namespace", "invalid-namespace", `<message xmlns="jabber:server" to="hostile@conference.localhost"/>`],
  ];
  it.each(cases)("%s -> %s stream error and close on that stream only", async (_n, condition, frame) => {
    const a = await connected("hostile", `alice-${condition}`);
    const b = await connected("hostile", `bob-${condition}`);
    const m = await connected("hostile", `mallory-${condition}`);
    m.send(frame);
    const err = await m.expect("<stream:error");
    expect(err.raw).toContain(`<${condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`);
    await m.expect("<close ");
    await m.waitClosed();
    // the others see mallory leave and keep chatting
    await a.expect(`/mallory-${condition}"`, `type="unavailable"`);
    await chatWorks("hostile", a, b, `after-${condition}`);
    await chatWorks("hostile", b, a, `back-${condition}`);
    a.close();
    b.close();
  });
  it("a spoofed from is replaced by the sender's occupant JID", async () => {
    const a = await connected("spoof", "alice");
    const m = await connected("spoof", "mallory");
    m.send(`<message xmlns="jabber:client" from="spoof@conference.localhost/alice" type="groupchat" id="s1" to="spoof@conference.localhost"><body>I am alice</body></message>`);
    const got = await a.expect(`id="s1"`);
    expect(got.raw).toContain(`from="spoof@conference.localhost/mallory"`);
    expect(got.raw).not.toContain(`from="spoof@conference.localhost/alice"`);
    a.close();
    m.close();
  });
  it("a message from a non-occupant gets a stanza error, the stream stays open", async () => {
    const a = await connected("nonocc", "alice");
    const x = await connect("nonocc");
    await login(x);
    x.send(gc("nonocc", "n1", "let me in"));
    const err = await x.expect(`type="error"`, `id="n1"`);
    expect(err.raw).toContain("<not-acceptable");
    expect(x.closed).toBeUndefined();
    await chatWorks("nonocc", a, a, "still-fine");
    expect(a.frames.some((f) => f.raw.includes("let me in"))).toBe(false);
    a.close();
    x.close();
  });
  it("a binary frame is an unsupported-encoding stream error", async () => {
    const c = await connected("binary", "alice");
    c.ws.send(new Uint8Array([60, 97, 47, 62]));
    expect((await c.expect("<stream:error")).raw).toContain("unsupported-encoding");
    await c.waitClosed();
  });
  it("a dropped socket (no <close/>) is removed with an unavailable broadcast", async () => {
    const a = await connected("dropped", "alice");
    const b = await connected("dropped", "bob");
    b.ws.close(4000, "gone");
    await a.expect(`from="dropped@conference.localhost/bob"`, `type="unavailable"`);
    a.close();
  });
});

describe("GET /admin/rooms/<room>", { timeout: 60_000 }, () => {
  const auth = { Authorization: `Bearer ${DEV_SECRETS.ADMIN_TOKEN}` };
  it("401 without or with a wrong token", async () => {
    expect((await exports.default.fetch("http://localhost/admin/rooms/any")).status).toBe(401);
    const r = await exports.default.fetch("http://localhost/admin/rooms/any", { headers: { Authorization: "Bearer nope" } });
    expect(r.status).toBe(401);
  });
  it("400 for a bad room name, 404 for an empty room", async () => {
    expect((await exports.default.fetch("http://localhost/admin/rooms/Bad_Name", { headers: auth })).status).toBe(400);
    expect((await exports.default.fetch("http://localhost/admin/rooms/nobody-here", { headers: auth })).status).toBe(404);
  });
  it("200 with occupants, roles, password flag, created time and media mode (no JIDs)", async () => {
    const a = await connected("inspect", "alice");
    const b = await connected("inspect", "bob");
    a.send(setSecret("inspect", "cfg", "pw"));
    await a.expect(`id="cfg"`, `type="result"`);
    const r = await exports.default.fetch("http://localhost/admin/rooms/inspect", { headers: auth });
    expect(r.status).toBe(200);
    const info = (await r.json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      room: "inspect",
      occupantCount: 2,
      occupants: [
        { nick: "alice", role: "moderator", affiliation: "owner" },
        { nick: "bob", role: "participant", affiliation: "none" },
      ],
      passwordProtected: true,
      mediaMode: "p2p",
    });
    expect(Date.parse(info["createdAt"] as string)).toBeGreaterThan(0);
    expect(JSON.stringify(info)).not.toContain("@");
    a.close();
    b.close();
  });
});

describe("hibernation state", { timeout: 60_000 }, () => {
  it("keeps each connection's state small in its attachment", async () => {
    const a = await connected("attach", "alice");
    const stub = env.ROOM.get(env.ROOM.idFromName("attach"));
    await runInDurableObject(stub, (_i: RoomDO, state) => {
      const atts = state.getWebSockets().map((ws) => ws.deserializeAttachment() as ConnState);
      expect(atts).toHaveLength(1);
      expect(atts[0]).toMatchObject({ v: 1, phase: "ready", occ: { nick: "alice", role: "moderator", affiliation: "owner" } });
      expect(JSON.stringify(atts[0]).length).toBeLessThan(1024);
      // SQLite: own schema-version table, migrated to the latest version; no IPs stored
      expect(state.storage.sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version).toBe(3);
      const row = state.storage.sql.exec("SELECT * FROM room").one();
      expect(row).toMatchObject({ name: "attach", media_mode: "p2p", pw_hash: null });
      expect(JSON.stringify(row)).not.toContain("10.0.");
    });
    a.close();
  });

  it("the largest accepted presence still fits the 16 KiB attachment (two-byte characters), a larger one is refused", async () => {
    const a = await connected("bigpres", "alice");
    const status = (n: number) => `<status>${"\u20ac".repeat(n)}</status>`;
    // 4096 UTF-16 units of payload is the cap: "<status>" + "</status>" = 17
    a.send(`<presence xmlns="jabber:client" to="bigpres@conference.localhost/alice">${status(4096 - 17)}</presence>`);
    await a.expect('code="110"', "\u20ac\u20ac");
    a.send(`<presence xmlns="jabber:client" id="too" to="bigpres@conference.localhost/alice">${status(4096 - 16)}</presence>`);
    expect((await a.expect('id="too"', 'type="error"')).raw).toContain("<policy-violation");
    const stub = env.ROOM.get(env.ROOM.idFromName("bigpres"));
    await runInDurableObject(stub, (_i: RoomDO, state) => {
      const att = state.getWebSockets()[0]!.deserializeAttachment() as ConnState;
      expect(att.occ!.pres.length).toBe(4096);
    });
    a.close();
  });

  it("migrates a version-1 database to the current schema, keeping its data", async () => {
    const stub = env.ROOM.get(env.ROOM.idFromName("migrate-v1"));
    await runInDurableObject(stub, async (_i: RoomDO, state) => {
      const sql = state.storage.sql;
      // give this (never used, so storage-less) object what schema version 1 wrote
      sql.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
      sql.exec("INSERT INTO schema_version (version) VALUES (1)");
      sql.exec(
        "CREATE TABLE room (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT, created_at INTEGER, pw_hash TEXT, pw_salt TEXT, media_mode TEXT NOT NULL DEFAULT 'p2p', bridge_url TEXT, ip_salt TEXT NOT NULL)",
      );
      sql.exec("CREATE TABLE pw_failures (ip_key TEXT PRIMARY KEY, failures INTEGER NOT NULL, blocked_until INTEGER NOT NULL, last_at INTEGER NOT NULL)");
      sql.exec("INSERT INTO room (id, name, created_at, media_mode, ip_salt) VALUES (1, 'migrate-v1', 1234, 'p2p', 'salt')");
      sql.exec("UPDATE schema_version SET version = 1");
      const fresh = new RoomDO(state, env);
      await fresh.getInfo("migrate-v1");
      expect(sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version).toBe(3);
      expect(sql.exec("SELECT name, created_at, ip_salt, bridge_base, mls FROM room").one()).toEqual({
        name: "migrate-v1",
        created_at: 1234,
        ip_salt: "salt",
        bridge_base: null,
        mls: null,
      });
    });
  });

  it("forgets password-failure records an hour after the last failure by alarm, without another visit", async () => {
    const room = "forget";
    const alice = await connected(room, "alice", { ip: "10.8.0.1" });
    await lockRoom(alice, room, "s3cret");
    const bob = await wrongGuess(room, "10.8.0.2");
    const stub = env.ROOM.get(env.ROOM.idFromName(room));
    const t0 = Date.now();
    await runInDurableObject(stub, async (_i: RoomDO, state) => {
      // the client's and the room's record, and an alarm no later than their expiry an hour later (earlier when
      // bob's session, which never joined, reaches its idle deadline first: one alarm serves both)
      expect(state.storage.sql.exec("SELECT COUNT(*) AS n FROM pw_failures").one()["n"]).toBe(2);
      const alarm = await state.storage.getAlarm();
      expect(alarm).not.toBeNull();
      expect(alarm!).toBeLessThan(t0 + 3600_000 + 60_000);
      // an hour passes: move the records back in time, as a rewoken object would find them
      const old = Date.now() - 2 * 3600_000;
      state.storage.sql.exec("UPDATE pw_failures SET last_at = ?, blocked_until = 0", old);
      const fresh = new RoomDO(state, env);
      await fresh.alarm();
      expect(state.storage.sql.exec("SELECT COUNT(*) AS n FROM pw_failures").one()["n"]).toBe(0);
      // what remains is at most the idle deadline of bob's session, which never joined (features/idle.ts)
      const left = await state.storage.getAlarm();
      expect(left === null || left < Date.now() + 5 * 60_000).toBe(true);
    });
    alice.close();
    bob.close();
  });

  /**
   * Eviction. `abortAllDurableObjects()` (pool 0.15.1 has no evictDurableObject) also kills the WebSockets, which a
   * real hibernation/eviction does not, so it cannot show that occupants survive. Instead we build a *fresh* RoomDO
   * instance over the same DurableObjectState (same SQLite storage, same hibernatable sockets) inside
   * runInDurableObject: exactly what the runtime does when it wakes an evicted object (constructor -> rebuild from
   * ctx.getWebSockets() + attachments + SQLite). The fresh instance has no in-memory state from the old one; it must
   * know every occupant, the room password, and route a message between the real client sockets.
   */
  it("an evicted and rewoken object still knows every occupant, and they can still exchange messages", async () => {
    const room = "evict";
    const a = await connected(room, "alice");
    const b = await connected(room, "bob");
    a.send(setSecret(room, "cfg", "pw"));
    await a.expect(`id="cfg"`, `type="result"`);
    await inRewokenObject(room, async (fresh, wsOf) => {
      const info = await fresh.getInfo(room);
      expect(info.occupants).toEqual([
        { nick: "alice", role: "moderator", affiliation: "owner" },
        { nick: "bob", role: "participant", affiliation: "none" },
      ]);
      expect(info.passwordProtected).toBe(true);
      // bob's next frame is handled by the rewoken instance and reaches alice's real socket
      await fresh.webSocketMessage(wsOf("bob"), gc(room, "woke", "after wake"));
      // and a private IQ routed by the fresh instance from alice to bob
      await fresh.webSocketMessage(
        wsOf("alice"),
        `<iq xmlns="jabber:client" type="get" id="q1" to="${room}@conference.localhost/bob"><query xmlns="urn:example:x"/></iq>`,
      );
      // a dropped socket after wake still produces the unavailable broadcast
      await fresh.webSocketClose(wsOf("bob"), 1000, "bye", true);
      expect((await fresh.getInfo(room)).occupantCount).toBe(1);
    });
    await a.expect(`id="woke"`, `from="${room}@conference.localhost/bob"`, "<body>after wake</body>");
    await b.expect(`id="woke"`, "<body>after wake</body>");
    await b.expect(`<query xmlns="urn:example:x"/>`, `from="${room}@conference.localhost/alice"`); // under the room's id (iq-routes.ts)
    await a.expect(`from="${room}@conference.localhost/bob"`, `type="unavailable"`);
    a.close();
  });

  it("ownership handed over when the owner left survives an eviction (XEP-0045 §10.6, attachment)", async () => {
    const room = "evict-owner";
    const a = await connected(room, "alice");
    const b = await connected(room, "bob");
    const c = await connected(room, "carol");
    a.send(`<presence xmlns="jabber:client" type="unavailable" to="${room}@conference.localhost/alice"/>`);
    await b.expect(`from="${room}@conference.localhost/bob"`, `affiliation="owner" role="moderator"`, `<status code="110"/>`);
    await c.expect(`from="${room}@conference.localhost/bob"`, `affiliation="owner" role="moderator"`);
    await inRewokenObject(room, async (fresh, wsOf) => {
      const info = await fresh.getInfo(room);
      expect(info.occupants).toEqual([
        { nick: "bob", role: "moderator", affiliation: "owner" },
        { nick: "carol", role: "participant", affiliation: "none" },
      ]);
      // the rewoken instance lets the new owner lock the room
      await fresh.webSocketMessage(wsOf("bob"), setSecret(room, "cfg2", "pw"));
      expect((await fresh.getInfo(room)).passwordProtected).toBe(true);
    });
    await b.expect(`id="cfg2"`, `type="result"`);
    await c.expect(`<status code="104"/>`);
    a.close();
    b.close();
    c.close();
  });
});
