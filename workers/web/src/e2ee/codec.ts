/**
 * Which leading bytes of an encoded frame stay in the clear. The SFU (mediasoup) reads them: it parses the VP8
 * payload header to find key frames and layers, and Opus' TOC byte says the frame's mode and duration. They are not
 * encrypted but are authenticated: they are the SFrame `metadata` (RFC 9605 §4.4.3 and §9.4), so a changed byte
 * makes decryption fail.
 *   - VP8 (RFC 6386 §9.1): the 3-byte frame tag; a key frame (bit 0 of the first byte is 0) adds the 3-byte start
 *     code and the 4 bytes of width and height: 10 bytes; 3 bytes otherwise.
 *   - Opus (RFC 6716 §3.1): the TOC byte, 1 byte.
 * Encrypted frame layout: clear bytes, then the SFrame ciphertext (header, encrypted rest of the frame, 16-byte tag).
 * The receiver computes the same count from the same clear bytes, so it needs no signal of its own.
 */

export type MediaCodec = "vp8" | "opus";

export const VP8_KEY_FRAME_CLEAR = 10;
export const VP8_DELTA_FRAME_CLEAR = 3;
export const OPUS_CLEAR = 1;

/** The clear-prefix length for `frame` (its first byte decides for VP8); 0 for an empty frame. */
export function clearBytes(codec: MediaCodec, frame: Uint8Array): number {
  if (frame.length === 0) return 0;
  switch (codec) {
    case "vp8":
      return (frame[0]! & 0x01) === 0 ? VP8_KEY_FRAME_CLEAR : VP8_DELTA_FRAME_CLEAR;
    case "opus":
      return OPUS_CLEAR;
    default: {
      const never: never = codec;
      throw new Error(`unknown codec ${String(never)}`);
    }
  }
}

/** WebRTC codec MIME type (`video/VP8`, `audio/opus`) to the codec handled here, or undefined. */
export function codecFromMime(mime: string): MediaCodec | undefined {
  const m = mime.toLowerCase();
  if (m === "video/vp8") return "vp8";
  if (m === "audio/opus") return "opus";
  return undefined;
}
