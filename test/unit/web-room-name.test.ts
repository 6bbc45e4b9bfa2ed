/**
 * Room names in the web app (workers/web/src/room-name.ts): generated names and normalisation, within the shared
 * contract the edge enforces.
 */
import { describe, expect, it } from "vitest";
import { ROOM_NAME } from "../../contract/room-name";
import { normaliseRoomName, randomRoomName } from "../../workers/web/src/room-name";

describe("room names", () => {
  it("generates readable names that satisfy the shared contract", () => {
    for (let i = 0; i < 200; i++) {
      const name = randomRoomName();
      expect(name).toMatch(/^[a-z]+-[a-z]+-[1-9][0-9]$/);
      expect(ROOM_NAME.test(name)).toBe(true);
    }
    expect(randomRoomName(() => new Uint32Array([0, 0, 32]))).toBe("brave-otter-42");
  });

  it("normalises what people type, or refuses it", () => {
    expect(normaliseRoomName("  Team Standup ")).toBe("team-standup");
    expect(normaliseRoomName("https://parley.example/brave-otter-42")).toBe("brave-otter-42");
    expect(normaliseRoomName("a_b.c")).toBe("a-b-c");
    expect(normaliseRoomName("--x--")).toBe("x");
    expect(normaliseRoomName("Ünïcödé")).toBe("ncd");
    expect(normaliseRoomName("!!!")).toBeUndefined();
    expect(normaliseRoomName("")).toBeUndefined();
    expect(normaliseRoomName("a".repeat(100))).toBe("a".repeat(64));
  });
});
