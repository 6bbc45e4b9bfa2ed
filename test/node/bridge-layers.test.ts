/**
 * Layer choice from a tile's rendered size (bridge-host/src/room/layers.ts), pure.
 */
import { describe, expect, it } from "vitest";
import { chooseLayers, demandedLayer, layerSizes, parseScalabilityMode, topLayerOf, TOP_FALLBACK } from "../../bridge-host/src/room/layers";

const HD = { width: 1280, height: 720 };
const pick = (width: number, height: number, top = HD, spatial = 3, temporal = 3) => chooseLayers({ width, height }, top, spatial, temporal);

describe("simulcast layer choice from the tile size", () => {
  it("has layers of half the size of the next one up", () => {
    expect(layerSizes(HD, 3)).toEqual([
      { width: 320, height: 180 },
      { width: 640, height: 360 },
      { width: 1280, height: 720 },
    ]);
    expect(layerSizes({ width: 640, height: 480 }, 2)).toEqual([
      { width: 320, height: 240 },
      { width: 640, height: 480 },
    ]);
  });

  it("gives a thumbnail the lowest layer and a full-stage tile the top one, never enlarged more than 1.5×, always at full frame rate", () => {
    expect(pick(160, 90)).toEqual({ spatialLayer: 0, temporalLayer: 2 });
    expect(pick(320, 180)).toEqual({ spatialLayer: 0, temporalLayer: 2 });
    expect(pick(416, 224)).toEqual({ spatialLayer: 0, temporalLayer: 2 }); // an eight-person grid's tile at 1280×800
    expect(pick(480, 270)).toEqual({ spatialLayer: 0, temporalLayer: 2 }); // 1.5× enlarged: still the lowest
    expect(pick(481, 270)).toEqual({ spatialLayer: 1, temporalLayer: 2 });
    expect(pick(640, 360)).toEqual({ spatialLayer: 1, temporalLayer: 2 });
    expect(pick(960, 540)).toEqual({ spatialLayer: 1, temporalLayer: 2 });
    expect(pick(1264, 650)).toEqual({ spatialLayer: 2, temporalLayer: 2 }); // a whole stage at 1280×800
    expect(pick(2560, 1440)).toEqual({ spatialLayer: 2, temporalLayer: 2 });
  });

  it("never picks a layer over twice the tile in either dimension, unless it is the lowest", () => {
    // A wide, flat strip: 640x360 would cover its width but is more than twice its height.
    expect(pick(640, 100)).toEqual({ spatialLayer: 0, temporalLayer: 2 });
    // Smaller than half the lowest layer: the lowest is all there is.
    expect(pick(100, 50)).toEqual({ spatialLayer: 0, temporalLayer: 2 });
    for (const [w, h] of [[200, 200], [390, 280], [1170, 840], [500, 1000], [333, 187], [700, 150]] as const) {
      const { spatialLayer } = pick(w, h);
      const s = layerSizes(HD, 3)[spatialLayer]!;
      if (spatialLayer > 0) expect(s.width <= 2 * w && s.height <= 2 * h).toBe(true);
    }
  });

  it("takes the largest that fits when none covers the tile (a portrait phone tile of a landscape camera)", () => {
    // 390x280 CSS pixels at devicePixelRatio 3: no layer is 840 high; 1280x720 fits (≤ 2340x1680).
    expect(pick(1170, 840)).toEqual({ spatialLayer: 2, temporalLayer: 2 });
  });

  it("works with fewer layers, and with no temporal layers", () => {
    expect(pick(400, 225, HD, 1, 1)).toEqual({ spatialLayer: 0, temporalLayer: 0 });
    expect(pick(2000, 2000, { width: 640, height: 480 }, 2, 2)).toEqual({ spatialLayer: 1, temporalLayer: 1 });
  });

  it("wants of a camera the largest layer its viewers on screen prefer, and always at least the lowest", () => {
    expect(demandedLayer([])).toBe(0);
    expect(demandedLayer([null, null])).toBe(0);
    expect(demandedLayer([0, 1, null])).toBe(1);
    expect(demandedLayer([null, 2, 0])).toBe(2);
  });

  it("reads scalability modes and the producer's top layer size", () => {
    expect(parseScalabilityMode("L3T3")).toEqual({ spatialLayers: 3, temporalLayers: 3 });
    expect(parseScalabilityMode("S2T1")).toEqual({ spatialLayers: 2, temporalLayers: 1 });
    expect(parseScalabilityMode("L3T3_KEY")).toEqual({ spatialLayers: 3, temporalLayers: 3 });
    expect(parseScalabilityMode(undefined)).toEqual({ spatialLayers: 1, temporalLayers: 1 });
    expect(parseScalabilityMode("bogus")).toEqual({ spatialLayers: 1, temporalLayers: 1 });
    expect(topLayerOf({ width: 640, height: 480 })).toEqual({ width: 640, height: 480 });
    expect(topLayerOf({ width: "640", height: 480 })).toEqual(TOP_FALLBACK);
    expect(topLayerOf({ width: -1, height: 480 })).toEqual(TOP_FALLBACK);
    expect(topLayerOf({})).toEqual(TOP_FALLBACK);
  });
});
