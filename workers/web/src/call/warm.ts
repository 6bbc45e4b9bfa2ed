/**
 * A warm XMPP session opened during the hair check (for the connectivity check) and handed to the call on Join,
 * so joining costs no WebSocket/SASL/bind/XEP-0215 round trips; plus, made with its ICE servers while the person
 * checks their camera, a direct-call offer and a spare answerer (prepared.ts). If the session dropped in the
 * meantime, the call simply connects afresh.
 *
 * Lobby: when the room has a bridge room (a call of two on standby, or of three or more) it tells this waiting
 * session so (`mode='lobby'`, contract/media.ts), and we connect there with our hair-check tracks and senders
 * inactive, unseen (bridge.ts); the call takes that connection over on joining, if the room is then on that bridge.
 */
import type { Agent, Stanzas } from "stanza";
import type { BridgeLink } from "./bridge";
import { parseMediaAnnouncement } from "../../../../contract/media";
import { connectSession, createRoomClient, fetchIceServers, roomJid } from "./xmpp";
import { startMls, type MlsSession } from "../e2ee/mls-xmpp";
import { createSpareAnswerer, prepareOffer, sessionConfig, warmJingleCode, type PreparedOffer } from "./prepared";

/** Wait this long after a lobby announcement before connecting (the hair check's own set-up goes first). */
const LOBBY_AFTER_MS = 300;

/** A lobby connection to the room's bridge room (bridge.ts), `link` once connected. */
export interface Lobby {
  url: string;
  link?: BridgeLink;
  /** Connect now if not yet (needs the hair check's tracks: called again when they come). */
  start(): void;
  close(): void;
}

export interface WarmSession {
  client: Agent;
  iceServers: RTCIceServer[];
  /** Settles once ICE gathering for the prepared offer is done (or gave up). */
  offer: Promise<PreparedOffer | undefined>;
  /** A peer connection with the hair check's tracks, ready to answer (see spareFor). */
  spare?: RTCPeerConnection;
  /** Our connection to the room's bridge room, made while waiting (see Lobby above), in `lobby.current`. */
  lobby: { current?: Lobby };
  /** Our MLS member (e2ee/mls-xmpp.ts): its KeyPackage is handed to the room while the person checks their camera. */
  mls: Promise<MlsSession>;
}

let pending: { room: string; session: Promise<WarmSession>; alive: boolean; stop?: () => void } | undefined;
/** The hair check's current tracks (spareFor), for the lobby connection. */
let hairCheckStream: MediaStream | undefined;

/**
 * Follow the room's lobby announcements on the waiting session's `client` (from before it connects: the room may say
 * so right after resource binding) until it is taken or dropped; returns the stop.
 */
function followLobby(room: string, client: Agent, s: { current?: Lobby }): () => void {
  const open = (url: string, grant: string): void => {
    s.current?.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    let started = false;
    const lobby: Lobby = {
      url,
      start() {
        const stream = hairCheckStream;
        if (closed || started || !stream) return;
        started = true;
        connect(stream);
      },
      close() {
        closed = true;
        clearTimeout(timer);
        lobby.link?.close();
      },
    };
    s.current = lobby;
    timer = setTimeout(() => lobby.start(), LOBBY_AFTER_MS);
    const connect = (stream: MediaStream) => {
      void (async () => {
        const { connectBridge, LOBBY_EVENTS } = await import("./bridge");
        const link = await connectBridge(url, grant, "", stream, LOBBY_EVENTS, { standby: true });
        if (closed) return link.close();
        lobby.link = link;
        await link.ready;
      })().catch((e: unknown) => {
        if (s.current === lobby) (lobby.close(), (s.current = undefined)); // the call connects afresh if it needs to
        console.warn("bridge lobby failed", e);
      });
    };
  };
  const onMessage = (msg: Stanzas.ReceivedMessage): void => {
    if (!msg.parleyMedia || !msg.from || msg.from.split("/")[0] !== roomJid(room, client)) return;
    const ann = parseMediaAnnouncement(msg.parleyMedia);
    if (ann?.mode === "lobby") {
      if (s.current?.url !== ann.url) open(ann.url, ann.grant);
    } else if (ann) {
      s.current?.close();
      s.current = undefined;
    }
  };
  client.on("message", onMessage);
  return () => client.off("message", onMessage);
}

export function warmUp(room: string): Promise<WarmSession> {
  if (pending?.room === room) return pending.session;
  const client = createRoomClient(room, { autoReconnect: false });
  const lobby: WarmSession["lobby"] = {};
  const entry: NonNullable<typeof pending> = {
    room,
    alive: true,
    stop: followLobby(room, client, lobby),
    session: (async () => {
      await connectSession(client, 10_000);
      // The room ends sessions that stay silent without joining (durable/features/idle.ts): an XEP-0199 ping to the
      // server every 30 s keeps this one alive while the hair check is open (even with background-tab throttling).
      client.enableKeepAlive({ interval: 30 });
      const mls = startMls(client, roomJid(room, client));
      mls.catch(() => undefined);
      const iceServers = await fetchIceServers(client);
      const offer = prepareOffer(sessionConfig(client, iceServers)).then((o) => {
        if (o?.pc.localDescription) {
          performance.mark("parley:offer-prepared");
          warmJingleCode(client, o.pc.localDescription.sdp);
        }
        return o;
      });
      return { client, iceServers, offer, lobby, mls };
    })(),
  };
  client.on("disconnected", () => (entry.alive = false));
  entry.session.catch(() => (entry.alive = false));
  pending = entry;
  return entry.session;
}

/** (Re)make the warm session's spare answerer with these tracks (the hair check calls it whenever its media changes). */
export function spareFor(room: string, stream: MediaStream): void {
  hairCheckStream = stream;
  if (stream.getTracks().length === 0) return;
  void warmUp(room)
    .then((s) => {
      if (pending?.room !== room || !pending.alive) return;
      s.spare?.close();
      s.spare = createSpareAnswerer(sessionConfig(s.client, s.iceServers), stream);
      s.lobby.current?.start();
      const link = s.lobby.current?.link;
      if (link) for (const kind of ["audio", "video"] as const) void link.replaceTrack(kind, (kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks())[0] ?? null);
    })
    .catch(() => undefined);
}

/** Take the warm session for `room` if it is (still) connected; it is handed over only once. */
export async function takeWarm(room: string): Promise<WarmSession | undefined> {
  const entry = pending;
  if (!entry || entry.room !== room) return undefined;
  pending = undefined;
  entry.stop?.(); // the call follows the room's announcements from here on
  try {
    const s = await entry.session;
    if (entry.alive) return s;
    void s.client.disconnect();
    void s.offer.then((o) => o?.pc.close());
    s.spare?.close();
    s.lobby.current?.close();
    void s.mls.then((m) => m.close(), () => undefined);
  } catch {
    /* connect afresh */
  }
  return undefined;
}
