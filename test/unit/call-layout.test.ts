/**
 * The call screen's layout rules (workers/web/src/call/layout.ts): grid tile sizes for 1-20 people at laptop and
 * phone sizes, and the choice between grid, speaker view and screen share.
 */
import { describe, expect, it } from "vitest";
import { bestGrid, chooseLayout, fitFor, placeTiles, SELF, type LayoutInput, type Rect } from "../../workers/web/src/call/layout";

/** Stage sizes the call page gives the grid: a 1280×720 laptop window (side panel open), a 390×844 phone, the phone turned. */
const STAGES = [
  [944, 620],
  [1280, 640],
  [390, 690],
  [844, 320],
] as const;

describe("call layout: the grid", () => {
  it("fits 1-20 tiles inside the stage, as large as fit, covering at least 70% of it", () => {
    const gap = 8;
    for (const [W, H] of STAGES) {
      for (let n = 1; n <= 20; n++) {
        const g = bestGrid(n, W, H, gap);
        expect(g.cols * g.rows).toBeGreaterThanOrEqual(n);
        expect(g.cols * g.width + (g.cols - 1) * gap).toBeLessThanOrEqual(W);
        expect(g.rows * g.height + (g.rows - 1) * gap).toBeLessThanOrEqual(H);
        // no wasted rows: one fewer row could not hold everyone with these columns
        expect((g.rows - 1) * g.cols).toBeLessThan(n);
        const coverage = (n * g.width * g.height) / (W * H);
        expect(coverage, `${n} tiles in ${W}×${H}: ${JSON.stringify(g)}`).toBeGreaterThanOrEqual(W / H > 2 && n === 1 ? 0.6 : 0.7);
      }
    }
  });

  it("keeps pictures whole where that costs little: three people on a laptop get a 2×2 grid, not three slices", () => {
    expect(bestGrid(3, 944, 620)).toMatchObject({ cols: 2, rows: 2 });
    expect(bestGrid(4, 1280, 720)).toEqual({ cols: 2, rows: 2, width: 636, height: 356 });
    // a laptop tile keeps the camera's 16:9
    const g = bestGrid(9, 1280, 720);
    expect(g.width / g.height).toBeCloseTo(16 / 9, 1);
  });

  it("on a phone held upright, stacks people and fills the height", () => {
    expect(bestGrid(1, 390, 690)).toMatchObject({ cols: 1, rows: 1, height: 690 });
    expect(bestGrid(2, 390, 690)).toMatchObject({ cols: 1, rows: 2 });
    expect(bestGrid(3, 390, 690)).toMatchObject({ cols: 1, rows: 3 });
    expect(bestGrid(8, 390, 690).cols).toBe(2);
  });

  it("gives an empty or degenerate stage a zero-size tile instead of a negative one", () => {
    expect(bestGrid(3, 0, 0)).toMatchObject({ width: 0, height: 0 });
    expect(bestGrid(0, 400, 300)).toMatchObject({ cols: 1, rows: 1 });
  });
});

describe("call layout: grid, speaker view, screen share", () => {
  const base: LayoutInput = { remotes: ["bob", "carol"], sharing: [], pinned: undefined, preferred: "grid", activeSpeaker: undefined, lastSpeaker: undefined };

  it("a grid by default, with our own picture as a picture-in-picture only in a 1:1 call", () => {
    expect(chooseLayout(base)).toEqual({ kind: "grid", pip: false });
    expect(chooseLayout({ ...base, remotes: ["bob"] })).toEqual({ kind: "grid", pip: true });
    expect(chooseLayout({ ...base, remotes: [] })).toEqual({ kind: "grid", pip: false });
  });

  it("the speaker view shows the active speaker large, keeps the last one through pauses, never ourselves", () => {
    const speaker = { ...base, preferred: "speaker" as const };
    expect(chooseLayout({ ...speaker, activeSpeaker: "carol" })).toEqual({ kind: "speaker", main: "carol", pip: false });
    expect(chooseLayout({ ...speaker, lastSpeaker: "carol" })).toMatchObject({ main: "carol" });
    expect(chooseLayout({ ...speaker, activeSpeaker: SELF, lastSpeaker: "carol" })).toMatchObject({ main: "carol" });
    expect(chooseLayout(speaker)).toMatchObject({ main: "bob" });
    expect(chooseLayout({ ...speaker, lastSpeaker: "gone" })).toMatchObject({ main: "bob" });
  });

  it("a pinned tile takes the large area, ours included; a pin on someone who left is ignored", () => {
    expect(chooseLayout({ ...base, pinned: "carol" })).toEqual({ kind: "speaker", main: "carol", pip: false });
    expect(chooseLayout({ ...base, pinned: SELF })).toEqual({ kind: "speaker", main: SELF, pip: false });
    expect(chooseLayout({ ...base, pinned: "gone" })).toEqual({ kind: "grid", pip: false });
  });

  it("a shared screen takes the stage, over the speaker view and a pin on a camera; a pinned share wins among several", () => {
    expect(chooseLayout({ ...base, sharing: ["carol"], pinned: "bob" })).toEqual({ kind: "share", main: "carol", pip: false });
    expect(chooseLayout({ ...base, sharing: ["bob", "carol"], pinned: "carol" })).toMatchObject({ main: "carol" });
    expect(chooseLayout({ ...base, sharing: ["gone"] })).toEqual({ kind: "grid", pip: false });
  });
});

describe("call layout: placing tiles on the stage", () => {
  const inside = (r: Rect, W: number, H: number) => r.x >= 0 && r.y >= 0 && r.x + r.w <= W + 1 && r.y + r.h <= H + 1;
  const overlap = (a: Rect, b: Rect) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

  it("grid: every tile inside the stage, none overlapping, the short last row centred", () => {
    const keys = ["a", "b", "c", "d", "e"];
    const rects = placeTiles({ kind: "grid", pip: false }, keys, 944, 620);
    expect([...rects.keys()]).toEqual(keys);
    const list = [...rects.values()];
    for (const r of list) expect(inside(r, 944, 620)).toBe(true);
    for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) expect(overlap(list[i]!, list[j]!)).toBe(false);
    const last = [rects.get("d")!, rects.get("e")!];
    expect(Math.abs(last[0]!.x - (944 - (last[1]!.x + last[1]!.w)))).toBeLessThanOrEqual(1);
  });

  it("1:1: the other person fills the stage, our picture is a small one in the corner", () => {
    for (const [W, H] of [[944, 620], [390, 690]] as const) {
      const rects = placeTiles({ kind: "grid", pip: true }, [SELF, "bob"], W, H);
      expect(rects.get("bob")).toEqual({ x: 0, y: 0, w: W, h: H });
      const pip = rects.get(SELF)!;
      expect(inside(pip, W, H)).toBe(true);
      expect(pip.w * pip.h).toBeLessThan(0.12 * W * H);
    }
  });

  it("speaker view and share: the main tile above, the others in a strip below it", () => {
    const rects = placeTiles({ kind: "share", main: "carol", pip: false }, [SELF, "bob", "carol"], 944, 620);
    const main = rects.get("carol")!;
    expect(main).toMatchObject({ x: 0, y: 0, w: 944 });
    for (const k of [SELF, "bob"]) {
      const r = rects.get(k)!;
      expect(inside(r, 944, 620)).toBe(true);
      expect(r.y).toBeGreaterThanOrEqual(main.h);
    }
    expect(placeTiles({ kind: "speaker", main: "bob", pip: false }, ["bob"], 400, 300).get("bob")).toEqual({ x: 0, y: 0, w: 400, h: 300 });
  });

  it("one tile takes a very wide stage (a phone turned) whole, letterboxing the picture instead of cropping it", () => {
    const r = placeTiles({ kind: "grid", pip: true }, [SELF, "bob"], 844, 290).get("bob")!;
    expect(r).toEqual({ x: 0, y: 0, w: 844, h: 290 });
    expect(fitFor(r)).toBe("contain");
    expect(fitFor({ x: 0, y: 0, w: 374, h: 700 })).toBe("cover"); // a phone upright: the sides are cropped
    expect(fitFor({ x: 0, y: 0, w: 636, h: 356 })).toBe("cover");
  });
});
