/**
 * A synthetic participant's camera (synthetic-participant.ts): real VP8 video, encoded ahead by ffmpeg, sent to the
 * bridge over a real WebRTC send transport from Node (werift: ICE and DTLS-SRTP, negotiated as a browser does), each
 * frame SFrame-encrypted with the web app's own frame keys (workers/web/src/e2ee/frame-keys.ts: the clear VP8 bytes
 * the bridge reads, the rest encrypted) and packetized as RFC 7741 says. Lost packets are not sent again (the tests
 * run on loopback). What it costs: the packets, no encoder and no decoder; a Chromium page in a call costs a quarter
 * of a core even showing nothing (docs/benchmarks.md), so eight of them do not fit this machine.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ntpTime, RTCPeerConnection, RTCRtpCodecParameters, RtcpSenderInfo, RtcpSrPacket, RtpHeader, type RTCRtpSender, useSdesMid } from "werift";
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
 * A test pattern encoded by ffmpeg (libvpx VP8, realtime): `seconds` long, a key frame every second, at `kbps`.
 */
function encodeTestVideo(o: { width: number; height: number; fps: number; seconds: number; kbps: number }): EncodedVideo {
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

/** The frame rate of Chromium's fake camera, which the real pages in the same tests send. */
const CAMERA_FPS = 20;
const encoded = new Map<string, EncodedVideo[]>();

/**
 * A camera as the web app sends it to the bridge (workers/web/src/call/simulcast.ts, sdp-tuning.ts), of a test
 * pattern looping every 6 s: "simulcast", a 720p camera's three layers (180p at 200 kbit/s, 360p at 600, 720p at 1500);
 * "single", one 360p encoding at 600 kbit/s (simulcast off). Encoded once per process.
 */
export function encodeTestCamera(mode: "simulcast" | "single"): EncodedVideo[] {
  let layers = encoded.get(mode);
  if (!layers) {
    const sizes: Array<[number, number, number]> =
      mode === "simulcast"
        ? [
            [320, 180, 200],
            [640, 360, 600],
            [1280, 720, 1500],
          ]
        : [[640, 360, 600]];
    layers = sizes.map(([width, height, kbps]) => encodeTestVideo({ width, height, fps: CAMERA_FPS, seconds: 6, kbps }));
    encoded.set(mode, layers);
  }
  return layers;
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
  produce(rtpParameters: Record<string, unknown>, appData: Record<string, number>): Promise<string>;
}

/** One encoding of the camera on the wire: its frames and its RTP stream's state. */
interface Layer {
  video: EncodedVideo;
  ssrc: number;
  seq: number;
  pictureId: number;
  packets: number;
  octets: number;
}

const random32 = (): number => (Math.random() * 0xffffffff) >>> 0;
/** How often each RTP stream's RTCP sender report goes out (the bridge needs them to switch simulcast layers). */
const SENDER_REPORT_MS = 500;

/**
 * A camera on the bridge: a werift send transport to `transport`, a VP8 producer of one encoding or of simulcast
 * layers (`layers`, lowest first, all at one frame rate, as the web app sends them: simulcast.ts), and their frames
 * sent in a loop, each encrypted with `keys` (frames wait until the keys have an epoch: nothing is ever sent in the
 * clear), up to the layer the bridge asks for. The RTP streams go out on the transport directly, each with its SSRC
 * and the MID extension, and an RTCP sender report each twice a second. A key frame comes every second; requests for
 * one (PLI) are not answered.
 */
export class SyntheticCamera {
  readonly #pc: RTCPeerConnection;
  readonly #layers: Layer[];
  readonly #fps: number;
  readonly #timers: Array<ReturnType<typeof setInterval>> = [];
  /** RTP timestamps follow the clock: 90 kHz since `#t0`, from a random base, the same for every layer */
  readonly #t0 = performance.now();
  readonly #tsBase = random32();
  #frame = 0;
  /** the highest layer sent: the bridge's `layerDemand` (all until it says) */
  #top: number;
  producerId = "";

  private constructor(
    pc: RTCPeerConnection,
    layers: EncodedVideo[],
    readonly keys: FrameKeys,
  ) {
    this.#pc = pc;
    this.#fps = layers[0]!.fps;
    this.#layers = layers.map((video) => ({ video, ssrc: random32(), seq: random32() & 0x7fff, pictureId: random32() & 0x7fff, packets: 0, octets: 0 }));
    this.#top = layers.length - 1;
  }

  /**
   * The bridge's `layerDemand` (bridge-host/PROTOCOL.md): the layers above `layer` stop, as a page's encodings do
   * (workers/web/src/call/bridge-send.ts); one that starts again is switched to at its next key frame.
   */
  setTopLayer(layer: number): void {
    this.#top = Math.max(0, Math.min(this.#layers.length - 1, layer));
  }

  /** How many layers go out now. */
  get layersSent(): number {
    return this.#top + 1;
  }

  static async start(transport: TransportInfo, sig: SendTransportSignaling, layers: EncodedVideo[], keys: FrameKeys): Promise<SyntheticCamera> {
    if (layers.length === 0 || layers.some((l) => l.fps !== layers[0]!.fps)) throw new Error("layers: one or more, at one frame rate");
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
    const cam = new SyntheticCamera(pc, layers, keys);
    try {
      const transceiver = pc.addTransceiver("video", { direction: "sendonly" });
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const local = pc.localDescription!.sdp;
      const fingerprint = /a=fingerprint:(\S+) (\S+)/.exec(local);
      if (!fingerprint) throw new Error("werift's offer has no DTLS fingerprint");
      await pc.setRemoteDescription({ type: "answer", sdp: answerFor(local, transport) });
      await sig.connect({ role: "client", fingerprints: [{ algorithm: fingerprint[1]!, value: fingerprint[2]! }] });
      const mid = transceiver.mid ?? "0";
      const midExt = Number(new RegExp(`a=extmap:(\\d+) ${MID_URI}`).exec(local)?.[1] ?? 1);
      const top = layers[layers.length - 1]!;
      cam.producerId = await sig.produce(
        {
          mid,
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
          encodings: cam.#layers.map((l) => ({ ssrc: l.ssrc })),
          rtcp: { cname: `synthetic-${cam.#layers[0]!.ssrc}`, reducedSize: true },
        },
        // the bridge picks each receiver's layer from the top layer's size (bridge-host/PROTOCOL.md setConsumerSize)
        layers.length > 1 ? { width: top.width, height: top.height } : {},
      );
      await waitConnected(pc);
      const dtls = transceiver.sender.dtlsTransport;
      const extensions = [{ id: midExt, payload: Buffer.from(mid) }];
      cam.#timers.push(setInterval(() => void cam.#sendFrame(dtls, extensions), 1000 / cam.#fps));
      cam.#timers.push(setInterval(() => void cam.#senderReports(dtls), SENDER_REPORT_MS));
      return cam;
    } catch (e) {
      await pc.close();
      throw e;
    }
  }

  #timestamp(): number {
    return (this.#tsBase + Math.round((performance.now() - this.#t0) * 90)) >>> 0;
  }

  async #sendFrame(dtls: Dtls, extensions: Array<{ id: number; payload: Buffer }>): Promise<void> {
    const i = this.#frame++;
    if (this.keys.epoch === undefined) return; // no keys yet: nothing goes out
    const timestamp = this.#timestamp();
    for (const l of this.#layers.slice(0, this.#top + 1)) {
      const encrypted = await this.keys.encrypt("vp8", l.video.frames[i % l.video.frames.length]!, CONTEXT_CAMERA);
      const payloads = packetizeVp8(encrypted, l.pictureId);
      l.pictureId = (l.pictureId + 1) & 0x7fff;
      for (const [k, payload] of payloads.entries()) {
        const header = new RtpHeader({ ssrc: l.ssrc, payloadType: VP8_PT, sequenceNumber: l.seq, timestamp, marker: k === payloads.length - 1, extensions });
        l.seq = (l.seq + 1) & 0xffff;
        l.packets++;
        l.octets += payload.length;
        await dtls.sendRtp(Buffer.from(payload), header);
      }
    }
  }

  async #senderReports(dtls: Dtls): Promise<void> {
    const rtpTimestamp = this.#timestamp();
    const ntpTimestamp = ntpTime();
    const reports = this.#layers.map(
      (l) => new RtcpSrPacket({ ssrc: l.ssrc, senderInfo: new RtcpSenderInfo({ ntpTimestamp, rtpTimestamp, packetCount: l.packets, octetCount: l.octets }) }),
    );
    await dtls.sendRtcp(reports).catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    await this.#pc.close();
  }
}

type Dtls = RTCRtpSender["dtlsTransport"];

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
