/**
 * Bridge grants (contract/grants.ts): occupant and lobby grants minted by the room, verified as the
 * bridge does (bridge-host/PROTOCOL.md).
 */
import { describe, expect, it } from "vitest";
import { lobbyIdFor, mintGrant, mintLobbyGrant, verifyGrant } from "../../contract/grants";
import { hmac, toBase64Url } from "../../contract/hmac";

describe("bridge grants", () => {
  const secret = "s".repeat(40);
  it("verifies a fresh grant for its room", async () => {
    const g = await mintGrant(secret, "room-a", "alice", 60, 1_000_000);
    expect(await verifyGrant(secret, g, "room-a", 1_000_000)).toEqual({
      ok: true,
      payload: { v: 1, room: "room-a", nick: "alice", exp: 1000 + 60, jti: expect.stringMatching(/^[\w-]{16}$/) },
    });
  });
  it("makes every grant unique (the bridge takes each once), even two for the same nick in the same second", async () => {
    const [a, b] = [await mintGrant(secret, "room-a", "alice", 60, 1_000_000), await mintGrant(secret, "room-a", "alice", 60, 1_000_000)];
    expect(a).not.toBe(b);
    const [ja, jb] = [await verifyGrant(secret, a, "room-a", 1_000_000), await verifyGrant(secret, b, "room-a", 1_000_000)];
    expect(ja.ok && jb.ok && ja.payload.jti !== jb.payload.jti).toBe(true);
  });
  it("refuses forged, expired and other-room grants", async () => {
    const g = await mintGrant(secret, "room-a", "alice", 60, 1_000_000);
    expect(await verifyGrant("t".repeat(40), g, "room-a", 1_000_000)).toMatchObject({ ok: false, reason: "bad-signature" });
    expect(await verifyGrant(secret, g, "room-a", 1_000_000 + 61_000)).toMatchObject({ ok: false, reason: "expired" });
    expect(await verifyGrant(secret, g, "room-b", 1_000_000)).toMatchObject({ ok: false, reason: "wrong-room" });
    expect(await verifyGrant(secret, "garbage", "room-a")).toMatchObject({ ok: false, reason: "malformed" });
    const [body] = g.split(".");
    const tampered = body!.slice(0, -2) + "AA." + g.split(".")[1];
    expect((await verifyGrant(secret, tampered, "room-a", 1_000_000)).ok).toBe(false);
  });
  it("lobby grants name no one and cannot pass for an occupant's, nor an occupant's for a lobby one", async () => {
    const lid = await lobbyIdFor(secret, "room-a", "session-1");
    const g = await mintLobbyGrant(secret, "room-a", lid, 1_000_000);
    expect(await verifyGrant(secret, g, "room-a", 1_000_000)).toEqual({
      ok: true,
      payload: { v: 2, room: "room-a", nick: "", exp: 1060, jti: expect.any(String), lobby: true, lid },
    });
    // a session's lobby id is stable, differs per session and room, and is not the session id
    expect(await lobbyIdFor(secret, "room-a", "session-1")).toBe(lid);
    expect(await lobbyIdFor(secret, "room-a", "session-2")).not.toBe(lid);
    expect(await lobbyIdFor(secret, "room-b", "session-1")).not.toBe(lid);
    expect(lid).toMatch(/^[\w-]{22}$/);
    expect(await verifyGrant(secret, g, "room-b", 1_000_000)).toMatchObject({ ok: false, reason: "wrong-room" });
    // correctly signed but inconsistent payloads are malformed: a v1 (occupant) grant with a lobby flag or no nick,
    // a v2 grant without the flag or with a nick
    const signed = async (payload: object) => {
      const body = toBase64Url(new TextEncoder().encode(JSON.stringify(payload)));
      return `${body}.${toBase64Url(await hmac("SHA-256", secret, body))}`;
    };
    const jti = "abcdefghijklmnop";
    for (const bad of [
      { v: 1, room: "room-a", nick: "alice", exp: 1060, jti, lobby: true },
      { v: 1, room: "room-a", nick: "", exp: 1060, jti },
      { v: 1, room: "room-a", nick: "alice", exp: 1060 }, // no jti: could not be taken once
      { v: 1, room: "room-a", nick: "alice", exp: 1060, jti, lid },
      { v: 2, room: "room-a", nick: "", exp: 1060, jti, lid },
      { v: 2, room: "room-a", nick: "alice", exp: 1060, jti, lobby: true, lid },
      { v: 2, room: "room-a", nick: "", exp: 1060, jti, lobby: true }, // no lobby id: could not be closed by the room
    ]) {
      expect(await verifyGrant(secret, await signed(bad), "room-a", 1_000_000)).toMatchObject({ ok: false, reason: "malformed" });
    }
  });
  it("caps the TTL at 60 s", async () => {
    const g = await mintGrant(secret, "r", "n", 3600, 0);
    const r = await verifyGrant(secret, g, "r", 0);
    expect(r.ok && r.payload.exp).toBe(60);
  });
});
