/**
 * Which simulcast/SVC layers a receiver gets of a camera, from how large its tile is rendered (PROTOCOL.md
 * `setConsumerSize`). Pure: no mediasoup here.
 *
 * Layers: the sender's spatial layers each have half the width and height of the next one up (the web app sends
 * 1/4, 1/2 and full size, workers/web/src/call/simulcast.ts); the top layer's size comes with the producer
 * (`appData.width`/`height`), else TOP_FALLBACK is assumed.
 *
 * Rule (a received video fits its tile: never more than 2× the tile's device pixels in either dimension):
 *  1. a layer *fits* when its width ≤ 2 × the tile's width and its height ≤ 2 × the tile's height;
 *  2. of the layers that fit, the smallest that *covers* the tile: at least two-thirds of its width and of its height
 *     (a picture is never shown more than 1.5× enlarged, which a tile of a face does not show: Jitsi Meet allows 2×).
 *     An eight-person grid's tiles (416×224 at 1280×800) get the 320×180 layer, a quarter of the pixels a receiver
 *     decodes of each 360p camera without simulcast; a whole stage (1280×650) the top one;
 *  3. if none covers it, the largest that fits; if none fits (a tile smaller than half the lowest layer), the lowest.
 * The temporal layer is always the highest the sender has (full frame rate): a tile that shows a face smoothly is
 * worth more than the decoding it saves, and the spatial choice already scales the cost with the tile.
 */

export interface Size {
  width: number;
  height: number;
}

export interface Layers {
  spatialLayer: number;
  temporalLayer: number;
}

/** The top layer assumed when the producer does not say (a 720p camera, the web app's capture size). */
export const TOP_FALLBACK: Size = { width: 1280, height: 720 };

/** The size of each spatial layer, lowest first, given the top one and how many there are. */
export function layerSizes(top: Size, spatialLayers: number): Size[] {
  const out: Size[] = [];
  for (let i = 0; i < spatialLayers; i++) {
    const div = 2 ** (spatialLayers - 1 - i);
    out.push({ width: Math.round(top.width / div), height: Math.round(top.height / div) });
  }
  return out;
}

/**
 * The layers to prefer for a tile of `tile` device pixels (both > 0; a tile of 0 is off screen: the consumer is
 * paused instead), for a sender with `spatialLayers` × `temporalLayers` layers whose top one is `top`.
 */
export function chooseLayers(tile: Size, top: Size, spatialLayers: number, temporalLayers: number): Layers {
  const temporalLayer = Math.max(0, temporalLayers - 1);
  const sizes = layerSizes(top, Math.max(1, spatialLayers));
  const fits = (s: Size) => s.width <= 2 * tile.width && s.height <= 2 * tile.height;
  const covers = (s: Size) => 3 * s.width >= 2 * tile.width && 3 * s.height >= 2 * tile.height;
  let spatialLayer = 0;
  for (let i = 0; i < sizes.length; i++) {
    if (!fits(sizes[i]!)) break; // sizes grow: no larger layer fits either
    spatialLayer = i;
    if (covers(sizes[i]!)) break;
  }
  return { spatialLayer, temporalLayer };
}

/**
 * The highest spatial layer a simulcast/SVC producer's viewers want now (PROTOCOL.md `layerDemand`): the largest
 * preferred layer of its video consumers on screen (`null`: off screen, wants none); 0 when none wants any. The
 * lowest layer is always wanted: a viewer starts there, and it is what a tile coming back on screen shows first.
 */
export function demandedLayer(viewers: ReadonlyArray<number | null>): number {
  return viewers.reduce<number>((max, l) => (l !== null && l > max ? l : max), 0);
}

/** `L3T3` / `S3T3` (and `L3T3_KEY` etc.) -> its spatial and temporal layer counts; anything else: one of each. */
export function parseScalabilityMode(mode: string | undefined): { spatialLayers: number; temporalLayers: number } {
  const m = /^[LS]([1-9]\d?)T([1-9]\d?)/.exec(mode ?? "");
  return m ? { spatialLayers: Number(m[1]), temporalLayers: Number(m[2]) } : { spatialLayers: 1, temporalLayers: 1 };
}

/** The producer's top layer size from its appData (positive whole numbers), or TOP_FALLBACK. */
export function topLayerOf(appData: Record<string, unknown>): Size {
  const { width, height } = appData;
  const ok = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0 && v <= 16384;
  return ok(width) && ok(height) ? { width, height } : TOP_FALLBACK;
}
