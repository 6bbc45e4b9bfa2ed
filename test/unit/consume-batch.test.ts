/**
 * The web app's batching of producers to consume on a bridge link (workers/web/src/call/consume-batch.ts `addWanted`,
 * used by bridge-receive.ts): a producer announced twice before its batch runs (across the lobby without a name,
 * then by name once its owner is admitted) is consumed once, under its name.
 */
import { describe, expect, it } from "vitest";
import { addWanted, type Wanted } from "../../workers/web/src/call/consume-batch";

describe("addWanted", () => {
  it("a producer announced across the lobby and then by name is one entry, with the name", () => {
    const batch: Wanted[] = [{ producerId: "p1", nick: undefined, kind: "video" }];
    addWanted(batch, { producerId: "p2", nick: "alice", kind: "audio" });
    addWanted(batch, { producerId: "p1", nick: "carol", kind: "video" });
    expect(batch).toEqual([
      { producerId: "p1", nick: "carol", kind: "video" },
      { producerId: "p2", nick: "alice", kind: "audio" },
    ]);
  });

  it("a name already known is kept; what an announcement lacks is taken from the other", () => {
    const batch: Wanted[] = [{ producerId: "p1", nick: "carol", kind: undefined }];
    addWanted(batch, { producerId: "p1", nick: undefined, kind: "video" });
    expect(batch).toEqual([{ producerId: "p1", nick: "carol", kind: "video" }]);
  });
});
