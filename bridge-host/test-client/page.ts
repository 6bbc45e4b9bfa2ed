/**
 * Minimal browser client for the bridge's signaling protocol (PROTOCOL.md), bundled with esbuild by the bridge
 * tests and loaded in headless Chromium. It is a reference for the web app, not part of it.
 * window.parley.join({ wsUrl, grant, produce }) connects, sends fake camera+mic if `produce`, consumes everything
 * announced; window.parley.inbound() returns the receive side's inbound-rtp stats, window.parley.firstVideoAt() when
 * the first video packets came (Date.now() scale); restartIce(direction) and setSending(on) drive ICE restarts and
 * producer pause/resume.
 */
import { Device, type types } from "mediasoup-client";

type Pending = { resolve: (d: unknown) => void; reject: (e: Error) => void };
type Note = { method: string; data: Record<string, unknown> };

class Signaling {
  #nextId = 1;
  #pending = new Map<number, Pending>();
  readonly notes: Note[] = [];
  onNote: (n: Note) => void = () => undefined;
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(String(ev.data)) as Record<string, unknown>;
      if (msg.response) {
        const p = this.#pending.get(msg.id as number);
        this.#pending.delete(msg.id as number);
        if (msg.ok) p?.resolve(msg.data);
        else p?.reject(new Error(JSON.stringify(msg.error)));
      } else if (msg.notification) {
        const n = { method: msg.method as string, data: msg.data as Record<string, unknown> };
        this.notes.push(n);
        this.onNote(n);
      }
    });
    ws.addEventListener("close", (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
      for (const p of this.#pending.values()) p.reject(new Error(`socket closed ${ev.code} ${ev.reason}`));
      this.#pending.clear();
    });
  }

  static open(url: string): Promise<Signaling> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const s = new Signaling(ws);
      ws.addEventListener("open", () => resolve(s), { once: true });
      ws.addEventListener("close", (ev) => reject(new Error(`closed ${ev.code} ${ev.reason}`)), { once: true });
    });
  }

  request<T = Record<string, unknown>>(method: string, data: unknown = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (d: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, data }));
    });
  }
}

interface JoinOptions {
  wsUrl: string;
  grant: string;
  produce: boolean;
  /** wait this long after a newProducer before consuming it (a slower viewer) */
  consumeDelayMs?: number;
  /** produce the camera this long after the microphone */
  videoAfterMs?: number;
  /** send the camera at 1280x720 in these encodings (simulcast layers, lowest first); appData names the top size */
  encodings?: RTCRtpEncodingParameters[];
}

/**
 * Optional hooks a test installs as `globalThis.parleyHooks` before join (the end-to-end encryption test attaches its
 * frame transforms): the RTCRtpSender / RTCRtpReceiver of each producer and consumer, and extra
 * RTCPeerConnection settings for both transports.
 */
interface Hooks {
  onRtpSender?: (sender: RTCRtpSender, kind: string) => void;
  onRtpReceiver?: (receiver: RTCRtpReceiver, kind: string) => void;
  additionalSettings?: Partial<RTCConfiguration>;
}
const hooks = (): Hooks => (globalThis as unknown as { parleyHooks?: Hooks }).parleyHooks ?? {};

const state: {
  sig?: Signaling;
  device?: Device;
  recv?: types.Transport;
  send?: types.Transport;
  producers: types.Producer[];
  consumers: types.Consumer[];
  errors: string[];
  /** transport connection-state changes, e.g. "recv:connected" */
  states: string[];
  /** when a consumed video track first unmuted (its first packets arrived), Date.now() scale */
  firstVideoAt?: number;
  /** the bridge's current ICE username fragment per transport id */
  ufrags: Map<string, string>;
} = { consumers: [], producers: [], errors: [], states: [], ufrags: new Map() };

async function join(opts: JoinOptions): Promise<void> {
  const sig = await Signaling.open(`${opts.wsUrl}?grant=${encodeURIComponent(opts.grant)}`);
  state.sig = sig;
  const device = new Device();
  state.device = device;
  await device.load({ routerRtpCapabilities: await sig.request<types.RtpCapabilities>("getRouterRtpCapabilities") });

  const makeTransport = async (direction: "send" | "recv") => {
    const p = await sig.request<{
      id: string;
      iceParameters: types.IceParameters;
      iceCandidates: types.IceCandidate[];
      dtlsParameters: types.DtlsParameters;
    }>("createWebRtcTransport", { direction });
    const t =
      direction === "send"
        ? device.createSendTransport({ ...p, additionalSettings: hooks().additionalSettings })
        : device.createRecvTransport({ ...p, additionalSettings: hooks().additionalSettings });
    state.ufrags.set(t.id, p.iceParameters.usernameFragment);
    t.on("connectionstatechange", (s) => state.states.push(`${direction}:${s}`));
    t.on("connect", ({ dtlsParameters }, ok, fail) => {
      sig.request("connectWebRtcTransport", { transportId: t.id, dtlsParameters }).then(() => ok(), fail);
    });
    return t;
  };

  const recv = await makeTransport("recv");
  state.recv = recv;
  const consumed = new Set<string>(); // a producer consumed across the lobby is announced again, by name, on admission
  const consume = async (producerId: string) => {
    if (consumed.has(producerId)) return;
    consumed.add(producerId);
    if (opts.consumeDelayMs) await new Promise((r) => setTimeout(r, opts.consumeDelayMs));
    try {
      const c = await sig.request<{ id: string; producerId: string; kind: "audio" | "video"; rtpParameters: types.RtpParameters }>(
        "consume",
        { transportId: recv.id, producerId, rtpCapabilities: device.rtpCapabilities },
      );
      const onRtpReceiver = (r: RTCRtpReceiver) => hooks().onRtpReceiver?.(r, c.kind);
      const consumer = await recv.consume({ id: c.id, producerId: c.producerId, kind: c.kind, rtpParameters: c.rtpParameters, onRtpReceiver });
      state.consumers.push(consumer);
      if (consumer.kind === "video") {
        consumer.track.addEventListener("unmute", (ev) => (state.firstVideoAt ??= performance.timeOrigin + ev.timeStamp), { once: true });
      }
      await sig.request("resumeConsumer", { consumerId: consumer.id });
    } catch (e) {
      state.errors.push(String(e));
    }
  };
  const offered = (n: Note) => n.method === "newProducer" || n.method === "lobbyProducer";
  sig.onNote = (n) => {
    if (offered(n)) void consume(n.data.producerId as string);
  };
  for (const n of sig.notes) if (offered(n)) void consume(n.data.producerId as string);

  if (opts.produce) {
    const send = await makeTransport("send");
    send.on("produce", ({ kind, rtpParameters, appData }, ok, fail) => {
      sig.request<{ id: string }>("produce", { transportId: send.id, kind, rtpParameters, appData }).then(ok, fail);
    });
    const video = opts.encodings ? { width: 1280, height: 720 } : { width: 320, height: 240 };
    const media = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    state.send = send;
    const onRtpSender = (kind: string) => (s: RTCRtpSender) => hooks().onRtpSender?.(s, kind);
    for (const track of media.getAudioTracks()) {
      state.producers.push(await send.produce({ track, appData: { source: "mic" }, onRtpSender: onRtpSender("audio") }));
    }
    if (opts.videoAfterMs) await new Promise((r) => setTimeout(r, opts.videoAfterMs));
    for (const track of media.getVideoTracks()) {
      const { width, height } = track.getSettings();
      const appData = opts.encodings ? { source: "camera", width, height } : { source: "camera" };
      state.producers.push(await send.produce({ track, encodings: opts.encodings, appData, onRtpSender: onRtpSender("video") }));
    }
  }
}

async function inbound(): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  if (!state.recv) return out;
  const report = await state.recv.getStats();
  report.forEach((s: Record<string, unknown>) => {
    if (s.type === "inbound-rtp") {
      out.push({
        kind: s.kind,
        packetsReceived: s.packetsReceived,
        bytesReceived: s.bytesReceived,
        framesDecoded: s.framesDecoded,
      });
    }
  });
  return out;
}

/**
 * The received video's inbound-rtp figures a layer switch shows in (size, frames and key frames decoded, PLIs sent).
 * Of the stream that received the most frames: Chromium may list a second, unsignalled video stream next to it (the
 * bridge's bandwidth probing packets come on an SSRC of their own), which never decodes a frame.
 */
async function videoIn(): Promise<Record<string, unknown> | undefined> {
  let out: Record<string, unknown> | undefined;
  const frames = (s: Record<string, unknown> | undefined) => Number(s?.framesReceived ?? 0) * 1e6 + Number(s?.packetsReceived ?? 0);
  (await state.recv?.getStats())?.forEach((s: Record<string, unknown>) => {
    if (s.type !== "inbound-rtp" || s.kind !== "video") return;
    const keys = ["frameWidth", "frameHeight", "framesReceived", "framesDecoded", "keyFramesDecoded", "framesDropped", "pliCount", "firCount", "nackCount", "packetsReceived", "packetsLost"];
    const here = Object.fromEntries(keys.map((k) => [k, s[k] ?? 0]));
    if (!out || frames(here) > frames(out)) out = here;
  });
  return out;
}

/** Tell the bridge how large each video consumer is shown (PROTOCOL.md `setConsumerSize`). */
async function setVideoSize(width: number, height: number): Promise<void> {
  const video = state.consumers.filter((c) => c.kind === "video");
  if (video.length === 0) throw new Error("no video consumer yet");
  for (const c of video) await state.sig?.request("setConsumerSize", { consumerId: c.id, width, height });
}

/** The bridge's stats of the first video consumer (mediasoup: the consumer's outbound stream and its producer's). */
async function videoConsumerStats(): Promise<unknown> {
  const c = state.consumers.find((x) => x.kind === "video");
  return c && state.sig?.request("getStats", { consumerId: c.id });
}

/** ICE restart of one transport (RFC 8445 §2.4): new ICE parameters from the bridge, then a local restart. */
async function restartIce(direction: "send" | "recv"): Promise<{ before: string; after: string }> {
  const t = direction === "send" ? state.send : state.recv;
  if (!t || !state.sig) throw new Error(`no ${direction} transport`);
  const before = state.ufrags.get(t.id) ?? "";
  const iceParameters = await state.sig.request<types.IceParameters>("restartIce", { transportId: t.id });
  await t.restartIce({ iceParameters });
  state.ufrags.set(t.id, iceParameters.usernameFragment);
  return { before, after: iceParameters.usernameFragment };
}

/** Pause or resume everything this page sends, on the bridge and locally (pauseProducer / resumeProducer). */
async function setSending(on: boolean): Promise<void> {
  for (const p of state.producers) {
    await state.sig?.request(on ? "resumeProducer" : "pauseProducer", { producerId: p.id });
    if (on) p.resume();
    else p.pause();
  }
}

/** A lobby connection shows its occupant grant (PROTOCOL.md "Lobby"). */
async function admit(grant: string): Promise<unknown> {
  if (!state.sig) throw new Error("not connected");
  return state.sig.request("admit", { grant });
}

/** Open a socket only to see how the bridge answers (grant refusal tests). */
async function probe(url: string): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.addEventListener("close", (ev) => resolve({ code: ev.code, reason: ev.reason }));
  });
}

(globalThis as unknown as { parley: unknown }).parley = {
  join,
  inbound,
  videoIn,
  setVideoSize,
  videoConsumerStats,
  firstVideoAt: () => state.firstVideoAt,
  restartIce,
  setSending,
  admit,
  probe,
  notes: () => state.sig?.notes ?? [],
  errors: () => state.errors,
  states: () => state.states,
  closed: () => state.sig?.closed,
};
