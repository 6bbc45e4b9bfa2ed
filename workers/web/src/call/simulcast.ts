/**
 * Simulcast of our camera on the bridge path: the camera goes out as several VP8 encodings, each half the width and
 * height of the next (1/4, 1/2 and full size of a 720p camera: 180p, 360p, 720p), each with three temporal layers
 * (L1T3), and the bridge forwards each receiver the one that fits how large it shows us (bridge-host/PROTOCOL.md
 * `setConsumerSize`, bridge-host/src/room/layers.ts). VP8 simulcast rather than VP9 SVC: every browser that
 * decodes VP8 (all of them, RFC 7742) decodes each layer, as a plain VP8 stream; the bytes the bridge reads to switch
 * layers (RTP header extensions, the VP8 payload descriptor of RFC 7741 with its temporal layer index, and the
 * VP8 frame header that tells a key frame) stay in the clear under end-to-end frame encryption, which transforms the
 * frame after its first bytes and runs before packetization. A screen share (the same producer, another track) keeps
 * the same encodings relative to its size.
 *
 * `localStorage["parley:simulcast"] = "off"` sends one encoding instead (at most BRIDGE_HEIGHT lines high, as before
 * simulcast): for measuring the difference (`npm run bench:call -- --people 8`).
 */
/** Layers at most, and bits/s per layer by its height (what it needs for a sharp picture of a face at 30 fps). */
const MAX_LAYERS = 3;
const bitrateFor = (lines: number): number => (lines <= 200 ? 200_000 : lines <= 400 ? 600_000 : 1_500_000);
/** The lowest layer is at least this many lines high: a camera of less than 360 lines goes as one encoding. */
const MIN_LAYER_HEIGHT = 180;
const TEMPORAL = "L1T3";

export function simulcastEnabled(): boolean {
  try {
    return globalThis.localStorage?.getItem("parley:simulcast") !== "off";
  } catch {
    return true; // storage blocked: the default
  }
}

/** How many spatial layers a camera `height` lines high goes out in (1 to 3, each half the next). */
function layerCount(height: number | undefined): number {
  if (!height || !Number.isFinite(height)) return 1;
  let n = 1;
  while (n < MAX_LAYERS && height / 2 ** n >= MIN_LAYER_HEIGHT) n++;
  return n;
}

/**
 * The encodings of a camera `height` lines high, lowest first; a layer higher than `maxHeight` (null: none) starts
 * inactive (the lowest never does), and all of them on standby.
 */
export function simulcastEncodings(height: number | undefined, maxHeight: number | null, standby: boolean): RTCRtpEncodingParameters[] {
  const n = layerCount(height);
  return Array.from({ length: n }, (_, i) => {
    const scale = 2 ** (n - 1 - i);
    return {
      scaleResolutionDownBy: scale,
      maxBitrate: bitrateFor((height ?? 0) / scale),
      scalabilityMode: TEMPORAL,
      active: !standby && (i === 0 || layerAllowed(height, scale, maxHeight)),
    };
  });
}

function layerAllowed(height: number | undefined, scale: number, maxHeight: number | null): boolean {
  return maxHeight === null || !height || height / scale <= maxHeight;
}

/**
 * Turn a simulcast sender's layers on up to `maxHeight` lines (null: all); screen shares always all. No-op for a
 * sender of one encoding (send-size.ts scales that one). Resolves false if the browser refused.
 */
export async function setSimulcastHeight(sender: RTCRtpSender, maxHeight: number | null): Promise<boolean> {
  const track = sender.track;
  const params = sender.getParameters();
  if (!track || track.kind !== "video" || (params.encodings?.length ?? 0) < 2) return true;
  const settings = track.getSettings() as MediaTrackSettings & { displaySurface?: string };
  const limit = settings.displaySurface !== undefined ? null : maxHeight;
  let changed = false;
  params.encodings.forEach((e, i) => {
    const active = i === 0 || layerAllowed(settings.height, e.scaleResolutionDownBy ?? 1, limit);
    if (e.active !== active) (e.active = active), (changed = true);
  });
  if (!changed) return true;
  try {
    await sender.setParameters(params);
    return true;
  } catch {
    return false;
  }
}

/** The height of spatial layer `layer` (0: lowest) of a camera `height` lines high sent in `layers` encodings. */
export function layerHeight(height: number, layers: number, layer: number): number {
  return height / 2 ** Math.max(0, layers - 1 - layer);
}

/** The top layer's size, for the bridge (produce appData, PROTOCOL.md): the track's own size. */
export function topLayer(track: MediaStreamTrack): { width: number; height: number } | undefined {
  const { width, height } = track.getSettings();
  return width && height ? { width: Math.round(width), height: Math.round(height) } : undefined;
}
