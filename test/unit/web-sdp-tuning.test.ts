/** The web app's SDP/codec tuning for direct sessions (workers/web/src/call/sdp-tuning.ts). */
import { describe, expect, it } from "vitest";
import {
  BRIDGE_HEIGHT,
  BRIDGE_START_HEIGHT,
  preferredCodecs,
  sendScale,
  START_HEIGHT,
  SWITCHING_HEIGHT,
  tuneRemoteSdp,
  withOpusDtx,
  withStartBitrate,
} from "../../workers/web/src/call/sdp-tuning";

const SDP = [
  "v=0",
  "o=- 1 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;useinbandfec=1",
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 45",
  "a=rtpmap:96 VP8/90000",
  "a=rtcp-fb:96 nack",
  "a=rtpmap:97 rtx/90000",
  "a=fmtp:97 apt=96",
  "a=rtpmap:98 VP9/90000",
  "a=fmtp:98 profile-id=0",
  "a=rtpmap:45 AV1/90000",
  "a=fmtp:45 level-idx=5;profile=0;tier=0",
  "m=video 9 UDP/TLS/RTP/SAVPF 111",
  "a=rtpmap:111 H264/90000",
  "",
].join("\r\n");

describe("withStartBitrate", () => {
  it("adds x-google-start-bitrate to video codecs only, creating a=fmtp after a=rtpmap where missing", () => {
    const out = withStartBitrate(SDP, 1500).split("\r\n");
    // audio untouched (payload type 111 is Opus there, H264 in the second video section)
    expect(out).toContain("a=fmtp:111 minptime=10;useinbandfec=1");
    // VP8 had no fmtp: one is created right after its rtpmap
    expect(out[out.indexOf("a=rtpmap:96 VP8/90000") + 1]).toBe("a=fmtp:96 x-google-start-bitrate=1500");
    // existing fmtp lines of codecs get the parameter appended; RTX is not a codec to tune
    expect(out).toContain("a=fmtp:98 profile-id=0;x-google-start-bitrate=1500");
    expect(out).toContain("a=fmtp:45 level-idx=5;profile=0;tier=0;x-google-start-bitrate=1500");
    expect(out).toContain("a=fmtp:97 apt=96");
    // payload types are per m-section: 111 in the second video section is H264 and gets one
    expect(out[out.indexOf("a=rtpmap:111 H264/90000") + 1]).toBe("a=fmtp:111 x-google-start-bitrate=1500");
    expect(out.filter((l) => l.includes("x-google-start-bitrate")).length).toBe(4);
  });

  it("is idempotent and keeps the line endings", () => {
    const once = withStartBitrate(SDP);
    expect(withStartBitrate(once)).toBe(once);
    expect(once.endsWith("\r\n")).toBe(true);
    expect(once.split("\r\n").length).toBe(SDP.split("\r\n").length + 2);
    const lf = withStartBitrate(SDP.replaceAll("\r\n", "\n"));
    expect(lf.includes("\r")).toBe(false);
  });

  it("leaves an SDP without video alone", () => {
    const audioOnly = SDP.split("m=video")[0]!;
    expect(withStartBitrate(audioOnly)).toBe(audioOnly);
  });
});

describe("withOpusDtx", () => {
  it("adds usedtx=1 to Opus only, in audio sections only", () => {
    const out = withOpusDtx(SDP).split("\r\n");
    expect(out).toContain("a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1");
    // payload type 111 of the second video section is H264: untouched
    expect(out[out.indexOf("a=rtpmap:111 H264/90000") + 1]).toBe("");
    expect(out.filter((l) => l.includes("usedtx")).length).toBe(1);
  });

  it("creates the a=fmtp line when Opus has none, keeps a usedtx already there, and is idempotent", () => {
    const bare = SDP.replace("a=fmtp:111 minptime=10;useinbandfec=1\r\n", "");
    const out = withOpusDtx(bare).split("\r\n");
    expect(out[out.indexOf("a=rtpmap:111 opus/48000/2") + 1]).toBe("a=fmtp:111 usedtx=1");
    const off = SDP.replace("useinbandfec=1", "useinbandfec=1;usedtx=0");
    expect(withOpusDtx(off)).toBe(off);
    expect(withOpusDtx(withOpusDtx(SDP))).toBe(withOpusDtx(SDP));
  });

  it("a direct session's remote description gets both the start bitrate and DTX", () => {
    const out = tuneRemoteSdp(SDP);
    expect(out).toContain("a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1");
    expect(out).toContain("a=fmtp:96 x-google-start-bitrate=1500");
  });
});

describe("preferredCodecs", () => {
  const video = [
    { mimeType: "video/VP8" },
    { mimeType: "video/rtx" },
    { mimeType: "video/H264", sdpFmtpLine: "profile-level-id=42e01f" },
    { mimeType: "video/VP9", sdpFmtpLine: "profile-id=2" },
    { mimeType: "video/VP9", sdpFmtpLine: "profile-id=0" },
    { mimeType: "video/AV1" },
    { mimeType: "video/red" },
  ];
  it("keeps VP8, then VP9 profile 0, then RTX", () => {
    expect(preferredCodecs("video", video).map((c) => `${c.mimeType} ${c.sdpFmtpLine ?? ""}`.trim())).toEqual([
      "video/VP8",
      "video/VP9 profile-id=0",
      "video/rtx",
    ]);
  });
  it("keeps Opus for audio", () => {
    expect(preferredCodecs("audio", [{ mimeType: "audio/PCMU" }, { mimeType: "audio/opus" }, { mimeType: "audio/red" }])).toEqual([
      { mimeType: "audio/opus" },
    ]);
  });
  it("falls back to everything when none of ours is available", () => {
    const h264 = [{ mimeType: "video/H264" }, { mimeType: "video/rtx" }];
    expect(preferredCodecs("video", h264)).toEqual(h264);
    expect(preferredCodecs("audio", [{ mimeType: "audio/PCMU" }])).toEqual([{ mimeType: "audio/PCMU" }]);
  });
});

describe("sendScale", () => {
  it("scales a taller track down to the limit and leaves smaller ones alone", () => {
    expect(sendScale(720, 360)).toBe(2);
    expect(sendScale(1080, 360)).toBe(3);
    expect(sendScale(480, 360)).toBeCloseTo(4 / 3);
    expect(sendScale(360, 360)).toBe(1);
    expect(sendScale(240, 360)).toBe(1);
  });
  it("sends full size without a limit or without a known height", () => {
    expect(sendScale(720, null)).toBe(1);
    expect(sendScale(undefined, 360)).toBe(1);
    expect(sendScale(0, 360)).toBe(1);
    expect(sendScale(Number.NaN, 360)).toBe(1);
  });
  it("keeps the start, switching and bridge sizes ordered as the app relies on", () => {
    expect(SWITCHING_HEIGHT).toBeLessThan(START_HEIGHT);
    expect(BRIDGE_HEIGHT).toBeGreaterThanOrEqual(START_HEIGHT);
    expect(BRIDGE_START_HEIGHT).toBeLessThan(BRIDGE_HEIGHT);
  });
});
