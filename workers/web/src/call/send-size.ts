/**
 * How large our camera goes out on a sender (sizes and reasons: sdp-tuning.ts §3). `RTCRtpSender.setParameters`
 * changes the encoder's scale without renegotiation; it works before the session is negotiated too, so the very
 * first frame already has the size asked for.
 */
import { sendScale } from "./sdp-tuning";

/**
 * `scaleResolutionDownBy` that sends `track` at most `maxHeight` lines high (null: full size). A screen share
 * (getDisplayMedia: its settings name a display surface) always goes at full size.
 */
export function scaleFor(track: MediaStreamTrack, maxHeight: number | null): number {
  const settings = track.getSettings() as MediaTrackSettings & { displaySurface?: string };
  return settings.displaySurface !== undefined ? 1 : sendScale(settings.height, maxHeight);
}

/** Send `sender`'s video at most `maxHeight` lines high (null: full size); screen shares always at full size. */
export async function limitSendHeight(sender: RTCRtpSender, maxHeight: number | null): Promise<void> {
  const track = sender.track;
  if (!track || track.kind !== "video" || typeof sender.getParameters !== "function") return;
  const scale = scaleFor(track, maxHeight);
  const params = sender.getParameters();
  const first = params.encodings?.[0];
  if (!first || (first.scaleResolutionDownBy ?? 1) === scale) return;
  first.scaleResolutionDownBy = scale;
  try {
    await sender.setParameters(params);
  } catch {
    /* a browser that can't: it sends what it sends */
  }
}
