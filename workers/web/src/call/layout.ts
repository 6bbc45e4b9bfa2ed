/**
 * Call screen layout rules, pure (no DOM): which layout the stage uses, and how large grid tiles are.
 *
 * - `grid`: every tile the same size, as large as fits (bestGrid). In a 1:1 call our own picture is a small
 *   picture-in-picture over the other person's tile instead of a second grid cell.
 * - `speaker`: one tile large (a pinned one, else the active speaker), the others in a strip.
 * - `share`: someone's shared screen takes the stage, cameras in a strip.
 */

export type LayoutKind = "grid" | "speaker" | "share";

export interface GridFit {
  cols: number;
  rows: number;
  /** tile size in CSS pixels */
  width: number;
  height: number;
}

/** Camera pictures are 16:9 (the fake camera and most webcams; phones send the same rotated). */
export const VIDEO_ASPECT = 16 / 9;
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
    if (score > best.score) best = { cols, rows, width: Math.floor(w), height: Math.floor(h), score };
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
