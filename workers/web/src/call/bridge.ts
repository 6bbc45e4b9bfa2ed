/**
 * Media via the bridge (mediasoup SFU) with mediasoup-client. Loaded lazily (dynamic import) only when the room
 * announces `<media xmlns='urn:parley:media:0' mode='bridge' url=… grant=…/>`.
 *
 * Signaling is the bridge's JSON protocol over WebSocket (bridge-host/PROTOCOL.md, bridge-host/src/signaling/
 * messages.ts): requests `{id, method, data}` -> responses `{response, id, ok, data|error}`, notifications
 * `{notification, method, data}` (peerJoined, peerLeft, newProducer, producerClosed, activeSpeaker, roomClosing).
 * We connect to `url?grant=…`, load the router's RTP capabilities, create one send and one receive WebRTC
 * transport, produce our microphone and camera (or screen), and consume every producer announced.
 */
import { Device, type types } from "mediasoup-client";

export interface BridgeEvents {
  remoteStream(nick: string, stream: MediaStream): void;
  peerGone(nick: string): void;
  failed(reason: string): void;
}

export interface BridgeLink {
  /** Resolves when our media is being sent and we receive everyone already producing. */
  readonly ready: Promise<void>;
  replaceTrack(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void>;
  peerConnections(): RTCPeerConnection[];
  close(): void;
}

type Json = Record<string, unknown>;
interface Pending {
  resolve(d: unknown): void;
  reject(e: Error): void;
}

/** Minimal runtime checks on what the bridge sends (the boundary); malformed frames are dropped. */
function asObject(v: unknown): Json | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

class Signaling {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  onNotification: (method: string, data: Json) => void = () => undefined;
  onClose: (code: number, reason: string) => void = () => undefined;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (ev) => {
      let msg: Json | undefined;
      try {
        msg = asObject(JSON.parse(String(ev.data)));
      } catch {
        return;
      }
      if (!msg) return;
      if (msg.response === true && typeof msg.id === "number") {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.ok === true) p?.resolve(msg.data);
        else p?.reject(new Error(str(asObject(msg.error)?.message) ?? "bridge request failed"));
      } else if (msg.notification === true && typeof msg.method === "string") {
        this.onNotification(msg.method, asObject(msg.data) ?? {});
      }
    });
    ws.addEventListener("close", (ev) => {
      for (const p of this.#pending.values()) p.reject(new Error(`bridge connection closed (${ev.code} ${ev.reason})`));
      this.#pending.clear();
      this.onClose(ev.code, ev.reason);
    });
  }

  static open(url: string, timeoutMs = 10_000): Promise<Signaling> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const s = new Signaling(ws);
      const t = setTimeout(() => {
        ws.close();
        reject(new Error("the bridge did not answer"));
      }, timeoutMs);
      ws.addEventListener("open", () => (clearTimeout(t), resolve(s)), { once: true });
      ws.addEventListener("close", (ev) => (clearTimeout(t), reject(new Error(`the bridge refused the connection (${ev.code} ${ev.reason})`))), { once: true });
    });
  }

  request<T>(method: string, data: unknown = {}): Promise<T> {
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("bridge connection closed"));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (d: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, data }));
    });
  }
}

interface TransportInfo {
  id: string;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
}

export async function connectBridge(url: string, grant: string, self: string, sendStream: MediaStream, events: BridgeEvents): Promise<BridgeLink> {
  const sep = url.includes("?") ? "&" : "?";
  const mark = (what: string) => performance.mark(`parley:bridge:${what}`);
  mark("connect");
  const sig = await Signaling.open(`${url}${sep}grant=${encodeURIComponent(grant)}`);
  mark("ws-open");
  let closed = false;
  // Notifications may arrive before we're ready to consume (existing producers are announced at once): queue them.
  const early: Array<[string, Json]> = [];
  sig.onNotification = (m, d) => early.push([m, d]);
  sig.onClose = (code, reason) => {
    if (!closed) events.failed(`closed ${code}${reason ? ` ${reason}` : ""}`);
  };

  // Ask for the router's capabilities and both transports at once (the bridge answers in order) while the device
  // loads: one round trip instead of three before media can start.
  const capsP = sig.request<types.RtpCapabilities>("getRouterRtpCapabilities");
  const recvP = sig.request<TransportInfo>("createWebRtcTransport", { direction: "recv" });
  const sendP = sig.request<TransportInfo>("createWebRtcTransport", { direction: "send" });
  for (const p of [recvP, sendP]) p.catch(() => undefined); // awaited below; don't report them twice if load fails
  const device = new Device();
  await device.load({ routerRtpCapabilities: await capsP });
  mark("device-loaded");

  const makeTransport = (direction: "send" | "recv", p: TransportInfo): types.Transport => {
    const t = direction === "send" ? device.createSendTransport(p) : device.createRecvTransport(p);
    t.on("connect", ({ dtlsParameters }, ok, fail) => {
      sig.request("connectWebRtcTransport", { transportId: t.id, dtlsParameters }).then(() => ok(), fail);
    });
    t.on("connectionstatechange", (state) => {
      mark(`${direction}-${state}`);
      // ICE restart on failure (RFC 8445 §9): new ICE parameters from the bridge.
      if (state === "failed" && !closed) {
        sig
          .request<types.IceParameters>("restartIce", { transportId: t.id })
          .then((iceParameters) => t.restartIce({ iceParameters }))
          .catch(() => events.failed("media connection to the bridge failed"));
      }
    });
    return t;
  };

  const recv = makeTransport("recv", await recvP);
  const send = makeTransport("send", await sendP);
  send.on("produce", ({ kind, rtpParameters, appData }, ok, fail) => {
    sig.request<{ id: string }>("produce", { transportId: send.id, kind, rtpParameters, appData }).then(ok, fail);
  });

  const consumers = new Map<string, { consumer: types.Consumer; nick: string }>(); // by producerId
  const streams = new Map<string, MediaStream>(); // by nick
  const consume = async (producerId: string, nick: string) => {
    if (nick === self || consumers.has(producerId)) return;
    try {
      const c = await sig.request<{ id: string; producerId: string; kind: "audio" | "video"; rtpParameters: types.RtpParameters }>("consume", {
        transportId: recv.id,
        producerId,
        rtpCapabilities: device.rtpCapabilities,
      });
      const consumer = await recv.consume({ id: c.id, producerId: c.producerId, kind: c.kind, rtpParameters: c.rtpParameters });
      consumers.set(producerId, { consumer, nick });
      let stream = streams.get(nick);
      if (!stream) streams.set(nick, (stream = new MediaStream()));
      for (const t of stream.getTracks()) if (t.kind === consumer.track.kind) stream.removeTrack(t);
      stream.addTrack(consumer.track);
      await sig.request("resumeConsumer", { consumerId: consumer.id });
      mark(`consumed:${nick}:${consumer.kind}`);
      events.remoteStream(nick, stream);
    } catch (e) {
      if (!closed) console.warn("bridge consume failed", e);
    }
  };
  const pendingConsumes: Promise<void>[] = [];
  const onNotification = (method: string, d: Json): void => {
    switch (method) {
      case "newProducer": {
        const producerId = str(d.producerId);
        const nick = str(d.nick);
        if (producerId && nick) pendingConsumes.push(consume(producerId, nick));
        return;
      }
      case "producerClosed": {
        const producerId = str(d.producerId);
        const entry = producerId ? consumers.get(producerId) : undefined;
        if (!entry || !producerId) return;
        consumers.delete(producerId);
        entry.consumer.close();
        streams.get(entry.nick)?.removeTrack(entry.consumer.track);
        return;
      }
      case "peerLeft": {
        const nick = str(d.nick);
        if (!nick) return;
        for (const [pid, e] of consumers) if (e.nick === nick) (e.consumer.close(), consumers.delete(pid));
        streams.delete(nick);
        events.peerGone(nick);
        return;
      }
      case "roomClosing":
        if (!closed) events.failed(`the bridge is closing this room (${str(d.reason) ?? "unknown"})`);
        return;
      default:
        return; // peerJoined, activeSpeaker: the room's presence already tells us
    }
  };
  sig.onNotification = onNotification;
  for (const [m, d] of early.splice(0)) onNotification(m, d);

  const producers = new Map<"audio" | "video", types.Producer>();
  const ready = (async () => {
    for (const track of sendStream.getTracks()) {
      const kind = track.kind === "audio" ? "audio" : "video";
      // stopTracks: false — the tracks are ours (camera, mic, screen) and outlive the bridge (make-before-break back to P2P).
      producers.set(kind, await send.produce({ track, stopTracks: false, appData: { source: kind === "audio" ? "mic" : "camera" } }));
    }
    mark("produced");
    await Promise.all(pendingConsumes);
    mark("ready");
  })();

  const pcOf = (t: types.Transport): RTCPeerConnection | undefined =>
    (t as unknown as { handler?: { _pc?: RTCPeerConnection; pc?: RTCPeerConnection } }).handler?._pc;

  return {
    ready,
    async replaceTrack(kind, track) {
      const p = producers.get(kind);
      if (p) await p.replaceTrack({ track });
      else if (track) producers.set(kind, await send.produce({ track, stopTracks: false }));
    },
    peerConnections: () => [pcOf(send), pcOf(recv)].filter((x): x is RTCPeerConnection => !!x),
    close() {
      if (closed) return;
      closed = true;
      for (const e of consumers.values()) e.consumer.close();
      for (const p of producers.values()) p.close();
      send.close();
      recv.close();
      sig.ws.close(1000, "leaving");
    },
  };
}
