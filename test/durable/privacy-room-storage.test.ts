/**
 * PRIVACY.md: the room keeps no message history and stores no chat content, nicks or client addresses. Real
 * messages go through the real room Durable Object; then every SQLite table of that object is dumped and searched.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { connected } from "./helpers";

const ROOM = "privacy-room";
const DOMAIN = "localhost";

describe("room storage holds no content", () => {
  it("a later joiner gets no history, and SQLite holds no message, nick or IP", { timeout: 60_000 }, async () => {
    const alice = await connected(ROOM, "alice-secret-nick", { ip: "203.0.113.199" });
    const body = `secret-body-${crypto.randomUUID()}`;
    alice.send(`<message xmlns="jabber:client" to="${ROOM}@conference.${DOMAIN}" type="groupchat" id="m1"><body>${body}</body></message>`);
    await alice.expect(`<body>${body}</body>`);
    alice.send(`<message xmlns="jabber:client" to="${ROOM}@conference.${DOMAIN}/nobody" type="chat"><body>${body}-pm</body></message>`);
    await alice.expect("item-not-found");

    const bob = await connected(ROOM, "bob", { ip: "203.0.113.200" });
    // connected() waited for the self-presence and the subject: nothing of alice's message came before or after.
    expect(bob.frames.some((f) => f.raw.includes(body))).toBe(false);

    const stub = env.ROOM.get(env.ROOM.idFromName(ROOM));
    const dump = await runInDurableObject(stub, (_i, state) => {
      const tables = state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
        .toArray()
        .map((t) => t.name);
      return JSON.stringify(Object.fromEntries(tables.map((t) => [t, state.storage.sql.exec(`SELECT * FROM "${t}"`).toArray()])));
    });
    expect(dump).toContain(ROOM); // the dump is real: the room's own row is there
    for (const s of [body, "alice-secret-nick", "203.0.113.199", "203.0.113.200"]) expect(dump).not.toContain(s);
    alice.close();
    bob.close();
  });
});
