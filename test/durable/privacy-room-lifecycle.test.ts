/**
 * PRIVACY.md "Rooms": a room object keeps storage only while the room is in use. When its last session ends, every
 * row (room name, password hash, back-off records, salt) and its alarm are deleted; a room that was only looked up
 * (admin) never gets storage; a room used again starts from nothing.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { connect, connected, lockRoom, wrongGuess, type TestClient } from "./helpers";

const stubOf = (room: string) => env.ROOM.get(env.ROOM.idFromName(room));

/** Every user table's rows, and the alarm, of a room object. */
function storageOf(room: string): Promise<{ tables: Record<string, unknown[]>; alarm: number | null }> {
  return runInDurableObject(stubOf(room), async (_i, state) => {
    const names = state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
      .toArray()
      .map((t) => t.name);
    return {
      tables: Object.fromEntries(names.map((t) => [t, state.storage.sql.exec(`SELECT * FROM "${t}"`).toArray()])),
      alarm: await state.storage.getAlarm(),
    };
  });
}

async function until(what: string, ok: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("room storage lives only while the room is in use", { timeout: 60_000 }, () => {
  it("deletes the name, password, back-off records and alarm when the last session ends", async () => {
    const room = "lifecycle-secret-room";
    const alice = await connected(room, "alice", { ip: "203.0.113.10" });
    await lockRoom(alice, room, "hunter2");
    const guesser = await wrongGuess(room, "203.0.113.11");
    // a hair-check session that never joins keeps the room in use too
    const waiting = await connect(room, { ip: "203.0.113.12" });

    const during = await storageOf(room);
    expect(JSON.stringify(during.tables)).toContain(room);
    expect(during.tables["pw_failures"]).toHaveLength(2);
    expect(during.alarm).not.toBeNull();

    for (const c of [alice, guesser] as TestClient[]) c.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(JSON.stringify((await storageOf(room)).tables)).toContain(room); // one session left: kept
    waiting.close();
    await until("the room's storage to be deleted", async () => {
      const s = await storageOf(room);
      return Object.keys(s.tables).length === 0 && s.alarm === null;
    });

    // used again: a new room from nothing (no password, new creation), storage recreated
    const bob = await connected(room, "bob", { ip: "203.0.113.13" });
    const again = await storageOf(room);
    expect(again.tables["pw_failures"]).toEqual([]);
    expect(again.tables["room"]).toMatchObject([{ name: room, pw_hash: null }]);
    bob.close();
  });

  it("an admin look-up of an unused room creates no storage", async () => {
    const room = "lifecycle-never-used";
    const r = await exports.default.fetch(`http://localhost/admin/rooms/${room}`, {
      headers: { authorization: `Bearer ${"dev-admin-token-not-for-production-000000"}` },
    });
    expect(r.status).toBe(404);
    expect((await storageOf(room)).tables).toEqual({});
  });
});
