/** The hair check's STUN verdict (workers/web/src/connectivity-verdicts.ts). */
import { describe, expect, it } from "vitest";
import { stunVerdict } from "../../workers/web/src/connectivity-verdicts";

const g = (types: string[], complete: boolean, errors = 0) => ({ types: new Set(types), complete, errors });

describe("stunVerdict", () => {
  it("ok with a server-reflexive candidate, whatever else happened", () => {
    expect(stunVerdict(g(["host", "srflx"], true)).verdict).toBe("ok");
    expect(stunVerdict(g(["host", "srflx"], false, 1)).verdict).toBe("ok");
  });
  it("ok when gathering finished early without an error (the reflexive address was a local one, so dropped)", () => {
    const v = stunVerdict(g(["host"], true));
    expect(v.verdict).toBe("ok");
    expect(v.text).toMatch(/answered/);
  });
  it("warns when the server did not answer in time, reported an error, or there was no local address at all", () => {
    expect(stunVerdict(g(["host"], false)).verdict).toBe("warn");
    expect(stunVerdict(g(["host"], true, 1)).verdict).toBe("warn");
    expect(stunVerdict(g([], true)).verdict).toBe("warn");
  });
});
