// Browser side of test/node/e2ee-transform.test.ts (bundled by esbuild with workers/web/src/e2ee/transform.ts, run
// in headless Chromium). Plain JavaScript: the node test project typechecks without DOM types.
//
// window.e2ee.loopback(opts) builds two RTCPeerConnections in this page, A sending the fake camera and microphone
// (VP8 and Opus only) to B, with MediaEncryption on either side as asked, and returns a handle to read what B gets.
import { MediaEncryption, e2eeSupport } from "../../../workers/web/src/e2ee/transform";

const WORKER_URL = document.documentElement.dataset.worker;

function hexKey(byte) {
  return new Uint8Array(16).fill(byte);
}

let mediaPromise;
function media() {
  mediaPromise ??= navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
  return mediaPromise;
}

function onlyCodec(transceiver, mime) {
  const caps = RTCRtpReceiver.getCapabilities(transceiver.receiver.track.kind);
  transceiver.setCodecPreferences(caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime));
}

/**
 * opts: {
 *   path: "script-transform" | "encoded-streams",
 *   send: { keyByte?: number } | null   (null: no transform on A)
 *   recv: { keyByte?: number } | null   (null: no transform on B)
 * } keyByte: epoch 1's base key is 16 bytes of that value; no keyByte: no key until setKey(id, side, byte).
 */
function constantBitrateOpus(sdp) {
  const pt = /a=rtpmap:(\d+) opus\/48000/i.exec(sdp)?.[1];
  if (!pt) return sdp;
  return sdp.replace(new RegExp(`^a=fmtp:${pt} (.*)$`, "m"), (_, params) => `a=fmtp:${pt} ${params};cbr=1`);
}

async function loopback(opts) {
  const stream = await media();
  const encA = opts.send ? new MediaEncryption({ workerUrl: WORKER_URL, path: opts.path }) : undefined;
  const encB = opts.recv ? new MediaEncryption({ workerUrl: WORKER_URL, path: opts.path }) : undefined;
  const keyFrameEvents = [];
  if (encB) encB.onKeyFrameNeeded = (e) => keyFrameEvents.push({ ...e, at: performance.now() });
  const a = new RTCPeerConnection({ ...(encA?.rtcConfiguration() ?? {}) });
  const b = new RTCPeerConnection({ ...(encB?.rtcConfiguration() ?? {}) });
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const received = new MediaStream();
  b.ontrack = (e) => {
    if (encB) encB.attachReceiverTransform(e.receiver, e.track.kind, "alice");
    received.addTrack(e.track);
  };
  for (const track of stream.getTracks()) {
    const t = a.addTransceiver(track, { direction: "sendonly" });
    onlyCodec(t, track.kind === "video" ? "video/vp8" : "audio/opus");
    if (encA) encA.attachSenderTransform(t.sender, track.kind);
  }
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  // Constant-bitrate Opus (RFC 7587 §6.1 cbr=1): every packet has the same payload size, so the encryption's
  // per-frame overhead shows exactly in the packet sizes, whatever the microphone is sending at the time.
  await a.setRemoteDescription({ type: "answer", sdp: constantBitrateOpus(b.localDescription.sdp) });

  const epoch = (byte) => ({ epoch: 1n, baseKey: hexKey(byte), leafCount: 2 });
  if (encA && opts.send.keyByte !== undefined) encA.setEpoch({ ...epoch(opts.send.keyByte), ownIndex: 0 });
  if (encB && opts.recv.keyByte !== undefined) encB.setEpoch({ ...epoch(opts.recv.keyByte), ownIndex: 1 });

  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = received;
  document.body.append(video);
  video.play().catch(() => undefined);
  let rendered = 0;
  const count = () => {
    rendered++;
    video.requestVideoFrameCallback(count);
  };
  video.requestVideoFrameCallback(count);

  // The received audio through an analyser: the loudest sample seen (the fake microphone beeps).
  const audioCtx = new AudioContext();
  const analyser = audioCtx.createAnalyser();
  let peak = 0;
  const samples = new Float32Array(analyser.fftSize);
  let watching;
  const watchAudio = () => {
    const tracks = received.getAudioTracks();
    if (tracks.length === 0) return;
    clearInterval(watching);
    audioCtx.createMediaStreamSource(new MediaStream(tracks)).connect(analyser);
    watching = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      for (const v of samples) peak = Math.max(peak, Math.abs(v));
    }, 20);
  };
  watching = setInterval(watchAudio, 50);
  audioCtx.resume().catch(() => undefined);

  return {
    setKey(side, byte) {
      if (side === "send") encA.setEpoch({ ...epoch(byte), ownIndex: 0 });
      else encB.setEpoch({ ...epoch(byte), ownIndex: 1 });
    },
    async state() {
      const inbound = { video: {}, audio: {} };
      (await b.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp") inbound[s.kind] = s;
      });
      const outbound = { video: {}, audio: {} };
      (await a.getStats()).forEach((s) => {
        if (s.type === "outbound-rtp") outbound[s.kind] = s;
      });
      return {
        rendered,
        audioPeak: peak,
        picture: pictureStats(video),
        inbound,
        outbound,
        send: encA ? await encA.stats() : [],
        recv: encB ? await encB.stats() : [],
        keyFrameEvents,
        connection: b.connectionState,
      };
    },
    close() {
      clearInterval(watching);
      audioCtx.close().catch(() => undefined);
      a.close();
      b.close();
      encA?.close();
      encB?.close();
      video.remove();
    },
  };
}

/** Mean and standard deviation of the luma of the video's current picture (160x90): a flat picture has ~0. */
function pictureStats(video) {
  if (!video.videoWidth) return { width: 0, height: 0, mean: 0, stddev: 0 };
  const c = document.createElement("canvas");
  c.width = 160;
  c.height = 90;
  const g = c.getContext("2d", { willReadFrequently: true });
  g.drawImage(video, 0, 0, c.width, c.height);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let sum = 0;
  let sq = 0;
  const n = d.length / 4;
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    sum += y;
    sq += y * y;
  }
  const mean = sum / n;
  return { width: video.videoWidth, height: video.videoHeight, mean, stddev: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}

const handles = new Map();
let nextHandle = 1;
window.e2ee = {
  support: (prefer) => e2eeSupport(prefer),
  /** install epoch 2 then epoch 1: the error message, or undefined when the older epoch was accepted */
  olderEpoch() {
    const enc = new MediaEncryption({ workerUrl: WORKER_URL });
    try {
      enc.setEpoch({ epoch: 2n, baseKey: hexKey(1), leafCount: 2, ownIndex: 0 });
      enc.setEpoch({ epoch: 1n, baseKey: hexKey(1), leafCount: 2, ownIndex: 0 });
      return undefined;
    } catch (e) {
      return String(e);
    } finally {
      enc.close();
    }
  },
  async loopback(opts) {
    const h = await loopback(opts);
    const id = nextHandle++;
    handles.set(id, h);
    return id;
  },
  state: (id) => handles.get(id).state(),
  setKey: (id, side, byte) => handles.get(id).setKey(side, byte),
  close(id) {
    handles.get(id)?.close();
    handles.delete(id);
  },
};
