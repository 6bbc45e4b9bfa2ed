/**
 * A synthetic participant's camera (synthetic-participant.ts): real VP8 video, encoded ahead by ffmpeg, sent to the
 * bridge over a real WebRTC send transport from Node (werift: ICE, DTLS-SRTP, RTCP and NACK retransmissions, as a
 * browser does), each frame SFrame-encrypted with the web app's own frame keys (workers/web/src/e2ee/frame-keys.ts:
 * the clear VP8 bytes the bridge reads, the rest encrypted) and packetized as RFC 7741 says. What it costs: the
 * packets, no encoder and no decoder; a Chromium page in a call costs a quarter of a core even showing nothing
 * (docs/benchmarks.md), so eight of them do not fit this machine.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, useSdesMid } from "werift";
import type { FrameKeys } from "../../../workers/web/src/e2ee/frame-keys";
import { CONTEXT_CAMERA } from "../../../workers/web/src/e2ee/transform";

/** One encoded video: its size and its frames in order (IVF, as ffmpeg writes VP8). */
export interface EncodedVideo {
  width: number;
  height: number;
  fps: number;
  frames: Uint8Array[];
}

/** The frames of an IVF file (a 32-byte file header, then per frame a 12-byte header and the frame). */
function readIvf(buf: Uint8Array, fps: number): EncodedVideo {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (String.fromCharCode(...buf.subarray(0, 4)) !== "DKIF") throw new Error("not an IVF file");
  const headerLength = view.getUint16(6, true);
  const width = view.getUint16(12, true);
  const height = view.getUint16(14, true);
  const frames: Uint8Array[] = [];
  for (let at = headerLength; at + 12 <= buf.length; ) {
    const size = view.getUint32(at, true);
    frames.push(buf.slice(at + 12, at + 12 + size));
    at += 12 + size;
  }
  return { width, height, fps, frames };
}

/**
 * A test pattern encoded by ffmpeg (libvpx VP8): `seconds` long, a key frame every second, at the bit rate a browser
 * gives a camera of that size on the bridge.
 */
export function encodeTestVideo(o: { width: number; height: number; fps: number; seconds: number; kbps: number }): EncodedVideo {
  const dir = mkdtempSync(join(tmpdir(), "parley-synthetic-"));
  try {
    const file = join(dir, "video.ivf");
    execFileSync("ffmpeg", [
      ...["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"],
      ...["-i", `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`, "-t", String(o.seconds)],
      ...["-c:v", "libvpx", "-b:v", `${o.kbps}k`, "-g", String(o.fps), "-deadline", "realtime", "-cpu-used", "8"],
      ...["-auto-alt-ref", "0", "-error-resilient", "1", file],
    ]);
    return readIvf(readFileSync(file), o.fps);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** RTP payload size per packet, below a 1200-byte MTU with the RTP, SRTP and extension headers. */
const MAX_PAYLOAD = 1100;

/**
 * RFC 7741 §4.2: one VP8 frame in RTP payloads, each with a payload descriptor carrying a 15-bit PictureID (as
 * Chromium sends); S (start of partition) on the first.
 */
function packetizeVp8(frame: Uint8Array, pictureId: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < frame.length; at += MAX_PAYLOAD) {
    const chunk = frame.subarray(at, at + MAX_PAYLOAD);
    const p = new Uint8Array(4 + chunk.length);
    p[0] = 0x80 | (at === 0 ? 0x10 : 0); // X, S, PID 0
    p[1] = 0x80; // I: PictureID present
    p[2] = 0x80 | ((pictureId >> 8) & 0x7f); // M: 15 bits
    p[3] = pictureId & 0xff;
    p.set(chunk, 4);
    out.push(p);
  }
  return out;
}

/** What the bridge answers to `createWebRtcTransport` (bridge-host/PROTOCOL.md). */
export interface TransportInfo {
  id: string;
  iceParameters: { usernameFragment: string; password: string };
  iceCandidates: Array<{ foundation: string; priority: number; address?: string; ip?: string; protocol: string; port: number; type: string }>;
  dtlsParameters: { fingerprints: Array<{ algorithm: string; value: string }> };
}

const VP8_PT = 96;
const MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid";

/** The bridge's side of the session as an SDP answer (ICE lite, DTLS server), for werift's offer. */
function answerFor(offer: string, t: TransportInfo): string {
  const mid = /a=mid:(\S+)/.exec(offer)?.[1] ?? "0";
  const midExt = new RegExp(`a=extmap:(\\d+) ${MID_URI}`).exec(offer)?.[1];
  const fp = t.dtlsParameters.fingerprints.find((f) => f.algorithm === "sha-256") ?? t.dtlsParameters.fingerprints[0]!;
  const candidates = t.iceCandidates
    .filter((c) => c.protocol === "udp")
    .map((c) => `a=candidate:${c.foundation} 1 udp ${c.priority} ${c.address ?? c.ip} ${c.port} typ ${c.type}`);
  return [
    "v=0",
    "o=- 1 1 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    "a=ice-lite",
    `a=group:BUNDLE ${mid}`,
    "a=msid-semantic: WMS *",
    `m=video 7 UDP/TLS/RTP/SAVPF ${VP8_PT}`,
    "c=IN IP4 127.0.0.1",
    `a=mid:${mid}`,
    "a=recvonly",
    `a=ice-ufrag:${t.iceParameters.usernameFragment}`,
    `a=ice-pwd:${t.iceParameters.password}`,
    `a=fingerprint:${fp.algorithm} ${fp.value}`,
    "a=setup:passive",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    `a=rtpmap:${VP8_PT} VP8/90000`,
    `a=rtcp-fb:${VP8_PT} nack`,
    `a=rtcp-fb:${VP8_PT} nack pli`,
    ...(midExt ? [`a=extmap:${midExt} ${MID_URI}`] : []),
    ...candidates,
    "a=end-of-candidates",
    "",
  ].join("\r\n");
}

/** What the camera needs from the bridge's signaling. */
export interface SendTransportSignaling {
  connect(dtlsParameters: { role: "client"; fingerprints: Array<{ algorithm: string; value: string }> }): Promise<void>;
  produce(rtpParameters: Record<string, unknown>): Promise<string>;
}

/**
 * A camera on the bridge: a werift send transport to `transport`, a VP8 producer, and the frames of `video` sent
 * in a loop at its frame rate, each encrypted with `keys` (frames wait until the keys have an epoch: nothing is
 * ever sent in the clear).
 */
export class SyntheticCamera {
  readonly #pc: RTCPeerConnection;
  #timer: ReturnType<typeof setInterval> | undefined;
  #frame = 0;
  #seq = Math.floor(Math.random() * 0x8000);
  #pictureId = Math.floor(Math.random() * 0x7fff);
  framesSent = 0;
  producerId = "";

  private constructor(
    pc: RTCPeerConnection,
    readonly video: EncodedVideo,
    readonly keys: FrameKeys,
  ) {
    this.#pc = pc;
  }

  static async start(transport: TransportInfo, sig: SendTransportSignaling, video: EncodedVideo, keys: FrameKeys): Promise<SyntheticCamera> {
    const pc = new RTCPeerConnection({
      codecs: {
        video: [
          new RTCRtpCodecParameters({
            mimeType: "video/VP8",
            clockRate: 90000,
            payloadType: VP8_PT,
            rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }],
          }),
        ],
      },
      headerExtensions: { video: [useSdesMid()] },
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ["127.0.0.1"],
    });
    const cam = new SyntheticCamera(pc, video, keys);
    try {
      const transceiver = pc.addTransceiver("video", { direction: "sendonly" });
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const local = pc.localDescription!.sdp;
      const fingerprint = /a=fingerprint:(\S+) (\S+)/.exec(local);
      if (!fingerprint) throw new Error("werift's offer has no DTLS fingerprint");
      await pc.setRemoteDescription({ type: "answer", sdp: answerFor(local, transport) });
      await sig.connect({ role: "client", fingerprints: [{ algorithm: fingerprint[1]!, value: fingerprint[2]! }] });
      const sender = transceiver.sender;
      const midExt = Number(new RegExp(`a=extmap:(\\d+) ${MID_URI}`).exec(local)?.[1] ?? 1);
      cam.producerId = await sig.produce({
        mid: transceiver.mid ?? "0",
        codecs: [
          {
            mimeType: "video/VP8",
            payloadType: VP8_PT,
            clockRate: 90000,
            parameters: {},
            rtcpFeedback: [{ type: "nack", parameter: "" }, { type: "nack", parameter: "pli" }],
          },
        ],
        headerExtensions: [{ uri: MID_URI, id: midExt, encrypt: false, parameters: {} }],
        encodings: [{ ssrc: sender.ssrc }],
        // the CNAME werift puts in its RTCP sender reports
        rtcp: { cname: (sender as unknown as { cname: string }).cname, reducedSize: true },
      });
      await waitConnected(pc);
      cam.#timer = setInterval(() => void cam.#sendFrame(sender), 1000 / video.fps);
      return cam;
    } catch (e) {
      await pc.close();
      throw e;
    }
  }

  async #sendFrame(sender: { sendRtp(p: RtpPacket): Promise<void> }): Promise<void> {
    const i = this.#frame++;
    const frame = this.video.frames[i % this.video.frames.length]!;
    if (this.keys.epoch === undefined) return; // no keys yet: nothing goes out
    const encrypted = await this.keys.encrypt("vp8", frame, CONTEXT_CAMERA);
    const timestamp = (i * Math.round(90000 / this.video.fps)) >>> 0;
    const payloads = packetizeVp8(encrypted, this.#pictureId);
    this.#pictureId = (this.#pictureId + 1) & 0x7fff;
    for (const [k, payload] of payloads.entries()) {
      const header = new RtpHeader({ payloadType: VP8_PT, sequenceNumber: this.#seq, timestamp, marker: k === payloads.length - 1 });
      this.#seq = (this.#seq + 1) & 0xffff;
      await sender.sendRtp(new RtpPacket(header, Buffer.from(payload)));
    }
    this.framesSent++;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pc.close();
  }
}

function waitConnected(pc: RTCPeerConnection, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pc.connectionState === "connected") return resolve();
    const t = setTimeout(() => reject(new Error(`the send transport did not connect (${pc.connectionState})`)), timeoutMs);
    pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") (clearTimeout(t), resolve());
      else if (s === "failed" || s === "closed") (clearTimeout(t), reject(new Error(`the send transport ${s}`)));
    });
  });
}
