/**
 * Media via the bridge (mediasoup SFU) with mediasoup-client. Loaded lazily (dynamic import) only when the room
 * announces `<media xmlns='urn:parley:media:0' mode='bridge' url=… grant=…/>`.
 *
 * Signaling is the bridge's JSON protocol over WebSocket (bridge-host/PROTOCOL.md, bridge-host/src/signaling/
 * messages.ts): requests `{id, method, data}` -> responses `{response, id, ok, data|error}`, notifications
 * `{notification, method, data}` (peerJoined, peerLeft, newProducer, producerClosed, activeSpeaker, layerDemand,
 * roomClosing).
 * We connect to `url?grant=…`, load the router's RTP capabilities, create one send and one receive WebRTC
 * transport, produce our microphone and camera or screen (bridge-send.ts), and consume every producer announced
 * (bridge-receive.ts).
 *
 * Standby (contract/media.ts): a room of two with someone on its hair check names its bridge room ahead. We then do all
 * of the above with our senders inactive (`active: false` encodings: the encoders do not run, no RTP leaves) and
 * hand no stream to the page; the media stays direct. When the room moves to the bridge, `activate()` turns the
 * senders on and the move is a key frame away instead of a whole set-up.
 * Lobby: the same, from the hair check, with a lobby grant (bridge-host/PROTOCOL.md "Lobby"): the bridge names no one
 * to us and us to no one until `admit(grant, nick)` with the grant we get as an occupant. Producers on the other side
 * of the lobby are offered unnamed (`lobbyProducer`) and consumed ahead, by both sides; the bridge starts those
 * consumers on admission, and names their producers then (`newProducer` for a producer we already consume).
 */
import { Device, type types } from "mediasoup-client";
import { callEncryption } from "../e2ee/call-encryption";
import { handlerFactory, prepareBridge, skipProbator } from "./bridge-device";
import { BridgeReceiver, type LinkState } from "./bridge-receive";
import { BridgeSender } from "./bridge-send";
import { Signaling, str, type Json } from "./bridge-signaling";
import { announceActiveSpeaker, clearActiveSpeaker } from "./bridge-speaker";
import { simulcastEnabled } from "./simulcast";

/** How long an ICE restart request may wait for the bridge's answer before the link counts as lost. */
const RESTART_ICE_ANSWER_MS = 5000;

/** The bridge closes with this code when the room's media worker died and the room is being recreated (PROTOCOL.md). */
const MEDIA_RESTARTED = 4503;

export interface BridgeEvents {
  /** Who is in the room with a camera or screen on: we send our audio once we receive their video (bridge-send.ts). */
  expectedVideo(): string[];
  remoteStream(nick: string, stream: MediaStream): void;
  peerGone(nick: string): void;
  /** the link is lost; `restarted`: the bridge recreates the room at once (its media worker died), connect again */
  failed(reason: string, restarted: boolean): void;
  /** the bridge stopped answering on our open socket (bridge-signaling.ts `watch`) */
  stalled(): void;
}

export interface BridgeOptions {
  /** Connect on standby: senders inactive, no stream handed to the page until `activate()`. */
  standby?: boolean;
}

/** Events of a lobby link: it hands out no streams and knows no peers before `admit`. */
export const LOBBY_EVENTS: BridgeEvents = {
  expectedVideo: () => [],
  remoteStream: () => undefined,
  peerGone: () => undefined,
  failed: () => undefined,
  stalled: () => undefined,
};

export interface BridgeLink {
  /** Resolves when our media is being sent (on standby: set up, inactive) and we receive everyone already producing. */
  readonly ready: Promise<void>;
  /** Leave standby: send our media and hand the page everyone's streams (no-op if not on standby). */
  activate(): Promise<void>;
  /** A lobby link becomes ours as the occupant `nick` (its grant from the room); `events` replace the lobby's. */
  admit(grant: string, nick: string, events: BridgeEvents): Promise<void>;
  replaceTrack(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void>;
  close(): void;
}

setTimeout(prepareBridge, 0);

interface TransportInfo {
  id: string;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
}

/**
 * Connect a link: the signaling socket, the device and both transports (with ICE restarts), then the receiving half
 * (bridge-receive.ts) and the sending half (bridge-send.ts), which share the link's state.
 */
export async function connectBridge(
  url: string,
  grant: string,
  self: string,
  sendStream: MediaStream,
  events: BridgeEvents,
  opts: BridgeOptions = {},
): Promise<BridgeLink> {
  const link: LinkState = { closed: false, standby: opts.standby === true, me: self, events };
  const sep = url.includes("?") ? "&" : "?";
  const mark = (what: string) => performance.mark(`parley:bridge:${what}`);
  mark("connect");
  const sig = await Signaling.open(`${url}${sep}grant=${encodeURIComponent(grant)}`);
  mark("ws-open");
  // Notifications may arrive before we're ready to consume (existing producers are announced at once): queue them.
  const early: Array<[string, Json]> = [];
  sig.onNotification = (m, d) => early.push([m, d]);
  sig.onClose = (code, reason) => {
    if (!link.closed) link.events.failed(`closed ${code}${reason ? ` ${reason}` : ""}`, code === MEDIA_RESTARTED);
  };
  const liveness = sig.watch(() => !link.closed && link.events.stalled());

  // Ask for the router's capabilities and both transports at once (the bridge answers in order) while the device
  // loads: one round trip instead of three before media can start.
  const capsP = sig.request<types.RtpCapabilities>("getRouterRtpCapabilities");
  const recvP = sig.request<TransportInfo>("createWebRtcTransport", { direction: "recv" });
  const sendP = sig.request<TransportInfo>("createWebRtcTransport", { direction: "send" });
  for (const p of [recvP, sendP]) p.catch(() => undefined); // awaited below; don't report them twice if load fails
  const device = new Device({ handlerFactory: handlerFactory() });
  await device.load({ routerRtpCapabilities: await capsP });
  mark("device-loaded");

  // End-to-end encryption (e2ee/call-encryption.ts): the same transforms and keys as on the direct path, attached
  // through mediasoup-client's hooks before any media flows; the bridge forwards frames it cannot read.
  const e2ee = callEncryption();
  const makeTransport = (direction: "send" | "recv", info: TransportInfo): types.Transport => {
    const p = { ...info, additionalSettings: e2ee?.rtcConfiguration() };
    const t = direction === "send" ? device.createSendTransport(p) : device.createRecvTransport(p);
    t.on("connect", ({ dtlsParameters }, ok, fail) => {
      sig.request("connectWebRtcTransport", { transportId: t.id, dtlsParameters }).then(() => ok(), fail);
    });
    t.on("connectionstatechange", (state) => {
      mark(`${direction}-${state}`);
      // ICE restart on failure (RFC 8445 §9): new ICE parameters from the bridge. After a network change the
      // signaling socket is usually as dead as the media path, without being closed yet: a request it does not answer
      // in time fails the link, and the call connects a new one (a new socket, then new transports).
      if (state === "failed" && !link.closed) {
        sig
          .request<types.IceParameters>("restartIce", { transportId: t.id }, RESTART_ICE_ANSWER_MS)
          .then((iceParameters) => t.restartIce({ iceParameters }))
          .catch(() => link.events.failed("media connection to the bridge failed", false));
      }
    });
    return t;
  };

  const recv = makeTransport("recv", await recvP);
  // Simulcast needs the bridge's bandwidth probing to move a receiver up to a larger layer (bridge-device.ts).
  const simulcast = simulcastEnabled();
  if (!simulcast) skipProbator(recv);
  const send = makeTransport("send", await sendP);
  const receiver = new BridgeReceiver(link, { sig, device, recv, e2ee, mark });
  const sender = new BridgeSender(link, { sig, send, simulcast, e2ee, mark });

  const onNotification = (method: string, d: Json): void => {
    switch (method) {
      case "activeSpeaker":
        if (!link.standby) announceActiveSpeaker(sig, str(d.nick));
        return;
      case "layerDemand": {
        const producerId = str(d.producerId);
        const layer = d.spatialLayer;
        if (producerId && typeof layer === "number" && Number.isInteger(layer) && layer >= 0) sender.onLayerDemand(producerId, layer);
        return;
      }
      case "roomClosing":
        if (!link.closed) link.events.failed(`the bridge is closing this room (${str(d.reason) ?? "unknown"})`, d.reason === "worker-died");
        return;
      default:
        return receiver.onNotification(method, d);
    }
  };
  sig.onNotification = onNotification;
  for (const [m, d] of early.splice(0)) onNotification(m, d);

  const ready = sender.sendAll(sendStream, receiver);
  void ready.then(
    () => !link.standby && sender.rampUpLater(),
    () => undefined, // reported by whoever awaits `ready`
  );

  return {
    ready,
    async activate() {
      if (!link.standby || link.closed) return;
      link.standby = false;
      mark("activate");
      await sender.activate();
      receiver.activate();
      // Made on standby, resumed then: `ready` already settled (if it failed, the caller's await of it reports that).
      void ready.then(
        () => sender.rampUpLater(),
        () => undefined,
      );
    },
    async admit(grant, nick, next) {
      // The bridge tells us who is here and what they send before it answers: those notifications already find
      // the call's events (what they start waits for `activate()` to reach the page).
      link.events = next;
      link.me = nick;
      await sig.request("admit", { grant });
    },
    replaceTrack: (kind, track) => sender.replaceTrack(kind, track),
    close() {
      if (link.closed) return;
      link.closed = true;
      liveness.stop();
      clearActiveSpeaker(sig);
      receiver.close();
      sender.close();
      send.close();
      recv.close();
      sig.ws.close(1000, "leaving");
    },
  };
}
