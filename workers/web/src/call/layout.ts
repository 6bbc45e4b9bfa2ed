/**
 * Call screen layout rules, pure (no DOM): which layout the stage uses, and how large grid tiles are.
 *
 * - `grid`: every tile the same size, as large as fits (bestGrid). In a 1:1 call our own picture is a small
 *   picture-in-picture over the other person's tile instead of a second grid cell.
 * - `speaker`: one tile large (a pinned one, else the active speaker), the others in a strip.
 * - `share`: someone's shared screen takes the stage, cameras in a strip.
 */

type LayoutKind = "grid" | "speaker" | "share";

interface GridFit {
  cols: number;
  rows: number;
  /** tile size in CSS pixels */
  width: number;
  height: number;
}

/** Camera pictures are 16:9 (the fake camera and most webcams; phones send the same rotated). */
const VIDEO_ASPECT = 16 / 9;
/**
 * The narrowest and widest tile shape. A tile may be narrower than the picture (portrait phone): the picture then
 * fills it cropped at the sides (object-fit: cover), as phone apps do, instead of a thin band across the screen.
 */
const MIN_ASPECT = 9 / 16;
const MAX_ASPECT = 2;

/**
 * The column count that makes `n` tiles in a `width`×`height` box (with `gap` between them) largest. Each
 * candidate's tile is its cell clamped to the allowed shapes; the score is the tile's area weighted by the square
 * root of how much of the picture it shows uncropped, so a full-height portrait tile of a landscape camera beats a
 * thin band on a phone, but three portrait slices never beat a 2×2 grid of whole pictures on a laptop.
 */
export function bestGrid(n: number, width: number, height: number, gap = 8): GridFit {
  const count = Math.max(1, Math.floor(n));
  let best: GridFit & { score: number } = { cols: 1, rows: count, width: 0, height: 0, score: -1 };
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    if (cols > 1 && Math.ceil(count / (cols - 1)) === rows) continue; // same rows, fewer columns: never better
    const cellW = (width - gap * (cols - 1)) / cols;
    const cellH = (height - gap * (rows - 1)) / rows;
    if (cellW <= 0 || cellH <= 0) continue;
    const aspect = Math.min(MAX_ASPECT, Math.max(MIN_ASPECT, cellW / cellH));
    const w = Math.min(cellW, cellH * aspect);
    const h = w / aspect;
    const shown = Math.min(aspect, VIDEO_ASPECT) / Math.max(aspect, VIDEO_ASPECT);
    const score = w * h * shown ** 0.3;
    if (score > best.score) best = { cols, rows, width: Math.floor(w + 1e-6), height: Math.floor(h + 1e-6), score };
  }
  return { cols: best.cols, rows: best.rows, width: Math.max(0, best.width), height: Math.max(0, best.height) };
}

export interface LayoutInput {
  /** remote participants, in display order */
  remotes: string[];
  /** who shares a screen now (remote participants only: our own share shows on our own tile) */
  sharing: string[];
  pinned: string | undefined;
  /** the layout the person chose: the grid, or the speaker view */
  preferred: "grid" | "speaker";
  activeSpeaker: string | undefined;
  /** the last remote participant who was the active speaker (the speaker view keeps them through pauses) */
  lastSpeaker: string | undefined;
}

export interface LayoutChoice {
  kind: LayoutKind;
  /** the tile on the large area (speaker, share) */
  main?: string;
  /** our own picture as a picture-in-picture (1:1 grid) */
  pip: boolean;
}

/** Key of our own tile in layout decisions (not a valid nick: nicks are never empty). */
export const SELF = "";

export function chooseLayout(i: LayoutInput): LayoutChoice {
  const known = (n: string | undefined): n is string => n !== undefined && (n === SELF || i.remotes.includes(n));
  const sharer = i.pinned !== undefined && i.sharing.includes(i.pinned) ? i.pinned : i.sharing.find((n) => i.remotes.includes(n));
  if (sharer !== undefined) return { kind: "share", main: sharer, pip: false };
  if (known(i.pinned)) return { kind: "speaker", main: i.pinned, pip: false };
  if (i.preferred === "speaker" && i.remotes.length > 0) {
    const main = [i.activeSpeaker, i.lastSpeaker].find((n) => n !== SELF && known(n)) ?? i.remotes[0];
    return { kind: "speaker", main, pip: false };
  }
  return { kind: "grid", pip: i.remotes.length === 1 };
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Where each tile goes on a `width`×`height` stage. `order`: every tile's key (SELF for ours), in display order. */
export function placeTiles(choice: LayoutChoice, order: string[], width: number, height: number, gap = 8): Map<string, Rect> {
  const out = new Map<string, Rect>();
  if (choice.kind === "grid") {
    const keys = choice.pip ? order.filter((k) => k !== SELF) : order;
    placeGrid(keys, { x: 0, y: 0, w: width, h: height }, gap, out);
    if (choice.pip && order.includes(SELF)) out.set(SELF, pipRect(width, height));
    return out;
  }
  const main = choice.main !== undefined && order.includes(choice.main) ? choice.main : order[0];
  const others = order.filter((k) => k !== main);
  const strip = others.length === 0 ? 0 : Math.round(Math.min(180, Math.max(72, height * 0.22)));
  if (main !== undefined) out.set(main, { x: 0, y: 0, w: width, h: Math.max(0, height - (strip ? strip + gap : 0)) });
  placeGrid(others, { x: 0, y: height - strip, w: width, h: strip }, gap, out);
  return out;
}

/**
 * Does a picture fill a tile of this shape cropped (cover), or does the tile letterbox it (contain)? Narrow tiles
 * crop the sides, as phone apps do upright; a tile much wider than the picture would crop heads and chins instead.
 */
export function fitFor(r: Rect): "cover" | "contain" {
  return r.w / Math.max(1, r.h) <= MAX_ASPECT + 0.01 ? "cover" : "contain";
}

/** Tiles of bestGrid's size in `box`, rows centred vertically, each row (a short last one too) centred horizontally. */
function placeGrid(keys: string[], box: Rect, gap: number, out: Map<string, Rect>): void {
  if (keys.length === 0) return;
  // One tile takes the whole box, whatever its shape (a picture wider or narrower than a tile may be is letterboxed).
  if (keys.length === 1) return void out.set(keys[0]!, { ...box });
  const g = bestGrid(keys.length, box.w, box.h, gap);
  const y0 = box.y + (box.h - (g.rows * g.height + (g.rows - 1) * gap)) / 2;
  keys.forEach((key, i) => {
    const row = Math.floor(i / g.cols);
    const inRow = Math.min(g.cols, keys.length - row * g.cols);
    const x0 = box.x + (box.w - (inRow * g.width + (inRow - 1) * gap)) / 2;
    out.set(key, { x: Math.round(x0 + (i % g.cols) * (g.width + gap)), y: Math.round(y0 + row * (g.height + gap)), w: g.width, h: g.height });
  });
}

/** Our own picture in a 1:1 call: small, in the bottom right corner (portrait on a portrait stage, as phones film). */
function pipRect(width: number, height: number): Rect {
  const portrait = height > width;
  const w = Math.round(Math.min(280, Math.max(96, width * (portrait ? 0.3 : 0.22))));
  const h = Math.round(portrait ? w * (4 / 3) : w / VIDEO_ASPECT);
  const margin = 12;
  return { x: width - w - margin, y: height - h - margin, w, h };
}
