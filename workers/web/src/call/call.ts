/**
 * A call in one room: joins the MUC (XEP-0045), keeps the participants and their audio/video state, and runs the
 * media path the room announces: direct Jingle sessions (p2p.ts) or the bridge (bridge.ts), switching
 * make-before-break. Loaded lazily from the hair check on Join (it pulls in StanzaJS).
 */
import type { Agent } from "stanza";
import * as JID from "stanza/JID";
import type { ReceivedMessage, ReceivedMUCPresence, ReceivedPresence } from "stanza/protocol";
import { stopStream } from "../local-media";
import { P2PMesh } from "./p2p";
import { avFromWire, avToWire, parseMediaAnnouncement, type AvState, type MediaAnnouncement, type MediaMode } from "./parley-ns";
import { ActiveSpeaker } from "./speaker";
import { CallView, renderLeft } from "./view";
import { connectSession, createRoomClient, fetchIceServers, roomJid } from "./xmpp";
import type { BridgeEvents, BridgeLink } from "./bridge";
import { takeWarm, type Lobby, type WarmSession } from "./warm";

export interface JoinOptions {
  room: string;
  name: string;
  password?: string;
  stream: MediaStream;
  micOn: boolean;
  camOn: boolean;
  speakerId?: string;
  /** Called right before the call screen replaces the hair check. */
  beforeRender(): void;
}

export type JoinOutcome = { kind: "joined" } | { kind: "locked"; wrongPassword: boolean } | { kind: "failed"; message: string };

let bridgeModule: typeof import("./bridge") | undefined;
/** The bridge code (mediasoup-client), kept once loaded; fetched as soon as this module is (during the hair check). */
function loadBridge(): Promise<typeof import("./bridge")> {
  return import("./bridge").then((m) => (bridgeModule = m));
}
void loadBridge().catch(() => undefined);

/** How long a room of three or more waits for the bridge announcement before connecting everyone directly. */
const MESH_FALLBACK_MS = 2500;
/** When the lock-state and media-mode queries go out after joining (see join()). */
const AFTER_JOIN_QUERIES_MS = 1000;
/**
 * Standby (bridge.ts): connect to the bridge room this long after the announcement, and not before this long after
 * our own join, so it does not compete with setting up the direct call.
 */
const STANDBY_AFTER_MS = 500;
const STANDBY_NOT_BEFORE_JOIN_MS = 2000;
/** A lobby connection (warm.ts) is used by the move to the bridge our join causes, or closed this long after joining. */
const LOBBY_UNUSED_MS = 10_000;

/** A standby connection to the bridge room (bridge.ts, `standby`): `link` once connected. */
interface Standby {
  url: string;
  link?: BridgeLink;
  timer: ReturnType<typeof setTimeout>;
}

interface Participant {
  nick: string;
  jid: string;
  av: AvState;
  /** They were in the room when we joined: we are the later one and start the direct session (p2p.ts). */
  weInitiate: boolean;
  p2pStream?: MediaStream;
  bridgeStream?: MediaStream;
}

/** XEP-0045 §7.2: errors a join can end with, in plain words. */
function joinErrorText(condition: string | undefined): string {
  switch (condition) {
    case "service-unavailable":
      return "The room is full.";
    case "forbidden":
      return "You are not allowed in this room.";
    case "not-allowed":
      return "This room can't be created.";
    case "registration-required":
      return "This room is members-only.";
    case "jid-malformed":
      return "That name can't be used. Try another.";
    default:
      return `The room refused the join${condition ? ` (${condition})` : ""}.`;
  }
}

export async function joinCall(root: HTMLElement, opts: JoinOptions): Promise<JoinOutcome> {
  const warm = await takeWarm(opts.room);
  const client = warm?.client ?? createRoomClient(opts.room, { autoReconnect: false });
  if (!warm) {
    try {
      await connectSession(client);
    } catch (e) {
      return { kind: "failed", message: `Could not reach the server: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  const call = new Call(client, root, opts, warm);
  const outcome = await call.join(opts.password);
  if (outcome.kind !== "joined") {
    call.dispose();
    void client.disconnect();
  }
  return outcome;
}

class Call {
  readonly #client: Agent;
  readonly #root: HTMLElement;
  readonly #opts: JoinOptions;
  readonly #room: string;
  readonly #roomJid: string;
  readonly #participants = new Map<string, Participant>();
  readonly #view: CallView;
  readonly #p2p: P2PMesh;
  readonly #speaker: ActiveSpeaker;
  /** What we send: the microphone track plus the camera or screen track. */
  readonly #send = new MediaStream();
  #camera: MediaStream;
  #screen: MediaStream | undefined;
  #av: AvState;
  #nick = "";
  #password: string | undefined;
  #joined = false;
  /** Between sending a join presence and receiving our own (XEP-0045 §7.2.3: the roster comes first). */
  #joining = false;
  /** Occupants the room had right before our join (its disco#info, asked together with the join), if known. */
  #occupantsBeforeJoin: number | undefined;
  #left = false;
  #role = "participant";
  #affiliation = "none";
  #mode: MediaMode = "p2p";
  #bridge: BridgeLink | undefined;
  /** The bridge carries our media (send and receive set up): what the media-path indicator shows. */
  #bridgeReady = false;
  #bridgeConnecting = false;
  #bridgeUrl: string | undefined;
  #meshTimer: ReturnType<typeof setTimeout> | undefined;
  #bridgeAttempt = 0;
  /** The bridge room the room keeps ready while someone waits on its hair check (contract/media.ts), as last announced. */
  #standbyWanted: { url: string; grant: string } | undefined;
  /** Our standby connection to it (bridge.ts, `standby`): `link` once connected. */
  #standby: Standby | undefined;
  /** The connection made from the hair check to the room's bridge room (warm.ts, Lobby), until used or dropped. */
  #lobby: Lobby | undefined;
  #joinedAt = 0;
  #iceServers: RTCIceServer[];
  #haveIceServers: boolean;

  /** The direct-call offer and spare answerer prepared during the hair check (warm.ts), if any. */
  #warm: Pick<WarmSession, "offer" | "spare"> | undefined;

  constructor(client: Agent, root: HTMLElement, opts: JoinOptions, warm?: WarmSession) {
    const iceServers = warm?.iceServers;
    this.#warm = warm;
    this.#lobby = warm?.lobby.current;
    this.#iceServers = iceServers ?? [];
    this.#haveIceServers = iceServers !== undefined;
    this.#client = client;
    this.#root = root;
    this.#opts = opts;
    this.#room = opts.room;
    this.#roomJid = roomJid(opts.room, client);
    this.#camera = opts.stream;
    for (const t of opts.stream.getTracks()) this.#send.addTrack(t);
    this.#av = {
      audio: opts.micOn && opts.stream.getAudioTracks().length > 0,
      video: opts.camOn && opts.stream.getVideoTracks().length > 0,
      screen: false,
    };
    this.#applyTrackEnabled();
    this.#view = new CallView(opts.room, {
      toggleMic: () => this.#toggle("audio"),
      toggleCamera: () => this.#toggle("video"),
      toggleScreen: () => void this.#toggleScreen(),
      sendChat: (text) => this.#client.sendMessage({ to: this.#roomJid, type: "groupchat", body: text }),
      lock: (pw) => void this.#configurePassword(pw),
      unlock: () => void this.#configurePassword(""),
      kick: (nick) => void this.#kick(nick),
      leave: () => void this.leave("You left the call."),
    });
    this.#speaker = new ActiveSpeaker((nick) => this.#view.setActiveSpeaker(nick));
    this.#p2p = new P2PMesh(client, () => (this.#nick ? `${this.#roomJid}/${this.#nick}` : undefined), () => this.#send, {
      initiates: (peer) => [...this.#participants.values()].some((p) => p.jid === peer && p.weInitiate),
      acceptIncoming: (peer) => this.#mode === "p2p" && [...this.#participants.values()].some((p) => p.jid === peer),
      remoteStream: (peer, stream) => this.#onStream(peer, stream, "p2p"),
      sessionEnded: (peer) => this.#onStream(peer, undefined, "p2p"),
      stateChanged: (peer) => {
        const p = this.#participantAt(peer);
        if (p) this.#showBestStream(p);
        this.#maybeFinishSwitchToP2P();
      },
    });
    client.on("muc:available", this.#onAvailable);
    client.on("muc:unavailable", this.#onUnavailable);
    client.on("groupchat", this.#onGroupchat);
    client.on("message", this.#onMessage);
  }

  // ---------------------------------------------------------------- join / leave / reconnect

  async join(password: string | undefined): Promise<JoinOutcome> {
    this.#password = password;
    if (!this.#haveIceServers) this.#iceServers = await fetchIceServers(this.#client);
    this.#haveIceServers = false; // after a reconnect, fetch fresh credentials
    this.#client.jingle.resetICEServers();
    for (const s of this.#iceServers) this.#client.jingle.addICEServer(s);
    // Spare answerer and prepared offer (p2p.ts), made right after the join presence has gone out.
    const iceServers = this.#iceServers;
    const warm = this.#warm;
    this.#warm = undefined;
    setTimeout(() => this.#p2p.keepReady(iceServers, warm), 0);
    const base = this.#opts.name;
    for (let attempt = 0; attempt < 5; attempt++) {
      const nick = attempt === 0 ? base : `${base} (${attempt + 1})`;
      const r = await this.#joinAs(nick);
      if (r === "ok") break;
      if (r === "conflict") continue; // XEP-0045 §7.2.9: nick in use, try the next one
      if (r === "not-authorized") return { kind: "locked", wrongPassword: password !== undefined && password !== "" };
      return { kind: "failed", message: joinErrorText(r) };
    }
    if (!this.#joined) return { kind: "failed", message: "That name is taken in this room. Try another." };
    this.#reconcile();
    // Let the session-initiate that #reconcile just queued reach the WebSocket (StanzaJS sends it in microtasks)
    // before the call screen is drawn: drawing takes tens of ms on a slow machine, and the offer is what the other
    // side is waiting for.
    await new Promise((r) => setTimeout(r, 0));
    this.#opts.beforeRender();
    this.#root.replaceChildren(this.#view.root);
    this.#view.setLocalStream(this.#send, true);
    this.#view.setLocalAv(this.#av);
    this.#view.setSpeaker(this.#opts.speakerId);
    this.#view.setSelf(this.#nick, this.#role === "moderator", this.#affiliation === "owner");
    this.#speaker.set(this.#nick, this.#av.audio ? this.#send : null);

    this.#client.config.autoReconnect = true;
    this.#client.on("disconnected", this.#onDisconnected);
    this.#client.on("session:started", this.#onReconnected);
    window.addEventListener("pagehide", this.#onPageHide);
    // Two queries that can wait a moment (the first second after joining is when a direct call is set up, and the
    // room answers every stanza in turn): whether the room is locked (for the owner's lock button), and the media
    // mode (a joiner of a room already in bridge mode gets the announcement after the subject; this asks anyway in
    // case it was missed).
    setTimeout(() => {
      if (this.#left) return;
      void this.#refreshLockState();
      void this.#fetchMedia();
    }, AFTER_JOIN_QUERIES_MS);
    // A connection prepared from the hair check that the room did not need right away (it stayed direct): drop it.
    setTimeout(() => this.#dropLobby(), LOBBY_UNUSED_MS);
    // The bridge code is fetched when this module loads; if that failed, try again now that we are in the call.
    if (!bridgeModule) setTimeout(() => void loadBridge().catch(() => undefined), 1500);
    return { kind: "joined" };
  }

  /** Send the join presence (with password and our a/v state) and wait for the self-presence or an error. */
  async #joinAs(nick: string): Promise<"ok" | string> {
    this.#nick = nick;
    this.#joining = true;
    // Asked right before the join presence (same socket, answered in order, so known before any occupant's
    // presence arrives): with exactly one occupant, its presence is the whole roster and the call can start then.
    this.#occupantsBeforeJoin = undefined;
    void this.#client
      .getDiscoInfo(this.#roomJid)
      .then((info) => (this.#occupantsBeforeJoin = occupantCount(info.extensions)))
      .catch(() => undefined);
    performance.mark("parley:join-sent");
    try {
      const pres = await withTimeout(
        this.#client.joinRoom(this.#roomJid, nick, {
          muc: { type: "join", password: this.#password || undefined, history: { maxStanzas: 20 } },
          parleyAv: avToWire(this.#av),
        }),
        15_000,
        "the room did not answer",
      );
      this.#nick = JID.getResource(pres.from) ?? nick;
      this.#role = pres.muc.role ?? "participant";
      this.#affiliation = pres.muc.affiliation ?? "none";
      this.#joined = true;
      this.#joinedAt = Date.now();
      performance.mark("parley:joined");
      return "ok";
    } catch (e) {
      const p = e as ReceivedPresence & { error?: { condition?: string } };
      if (e instanceof Error) return e.message;
      return p.error?.condition ?? "unknown";
    } finally {
      this.#joining = false;
    }
  }



  async leave(reason: string): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    window.removeEventListener("pagehide", this.#onPageHide);
    this.#client.config.autoReconnect = false;
    clearTimeout(this.#meshTimer);
    this.#p2p.close();
    this.#bridge?.close();
    this.#closeStandby();
    this.#dropLobby();
    this.#speaker.close();
    try {
      if (this.#joined) await withTimeout(this.#client.leaveRoom(this.#roomJid, this.#nick), 2000, "leave timeout");
    } catch {
      /* leaving anyway */
    }
    await Promise.resolve(this.#client.disconnect()).catch(() => undefined);
    stopStream(this.#camera);
    stopStream(this.#screen);
    renderLeft(this.#root, this.#room, reason);
  }

  dispose(): void {
    this.#client.off("muc:available", this.#onAvailable);
    this.#client.off("muc:unavailable", this.#onUnavailable);
    this.#client.off("groupchat", this.#onGroupchat);
    this.#client.off("message", this.#onMessage);
    clearTimeout(this.#meshTimer);
    this.#p2p.close();
    this.#speaker.close();
  }

  readonly #onPageHide = (): void => {
    // Best effort: the unavailable presence and <close/> go out before the page is gone; the server also removes
    // occupants whose socket drops.
    this.#left = true;
    this.#client.sendPresence({ to: `${this.#roomJid}/${this.#nick}`, type: "unavailable" });
    void this.#client.disconnect();
  };

  readonly #onDisconnected = (): void => {
    if (this.#left) return;
    this.#view.setConnection("reconnecting");
    // We rejoin ourselves (with password and a/v state): stop StanzaJS' own rejoin.
    this.#client.joinedRooms.clear();
    this.#client.joiningRooms.clear();
  };

  readonly #onReconnected = async (): Promise<void> => {
    if (this.#left) return;
    for (const nick of [...this.#participants.keys()]) this.#removeParticipant(nick);
    const r = await this.#joinAs(this.#nick);
    if (r !== "ok") {
      this.#view.setConnection("failed", joinErrorText(r));
      return;
    }
    this.#view.setConnection("connected");
    this.#view.setSelf(this.#nick, this.#role === "moderator", this.#affiliation === "owner");
    this.#reconcile();
    void this.#fetchMedia();
  };

  // ---------------------------------------------------------------- room events

  readonly #onAvailable = (pres: ReceivedMUCPresence): void => {
    if (!JID.equalBare(pres.from, this.#roomJid)) return;
    const nick = JID.getResource(pres.from);
    if (!nick) return;
    if (nick === this.#nick) {
      this.#joining = false;
      this.#role = pres.muc.role ?? this.#role;
      this.#affiliation = pres.muc.affiliation ?? this.#affiliation;
      if (this.#joined) this.#view.setSelf(this.#nick, this.#role === "moderator", this.#affiliation === "owner");
      return;
    }
    const av = avFromWire(pres.parleyAv) ?? { audio: true, video: true, screen: false };
    const existing = this.#participants.get(nick);
    if (existing) existing.av = av;
    else this.#participants.set(nick, { nick, jid: pres.from, av, weInitiate: this.#joining });
    if (this.#joining && !existing) this.#startEarly(pres.from);
    this.#view.upsertParticipant(nick, av);
    if (!existing && this.#joined) this.#view.addSystem(`${nick} joined.`);
    this.#reconcile();
  };

  /**
   * Joining a room that had one occupant: its presence is the whole roster (ours comes last, XEP-0045 §7.2.3), and
   * the join has been accepted (the room sends the roster only then). Start the direct session now instead of after
   * our own presence: the offer goes out one message earlier. #reconcile later finds the session there.
   */
  #startEarly(peer: string): void {
    if (this.#occupantsBeforeJoin !== 1 || this.#participants.size !== 1 || this.#mode !== "p2p" || this.#left) return;
    performance.mark("parley:early-initiate");
    this.#p2p.setPeers([peer]);
  }

  readonly #onUnavailable = (pres: ReceivedMUCPresence): void => {
    if (!JID.equalBare(pres.from, this.#roomJid)) return;
    const nick = JID.getResource(pres.from);
    if (!nick) return;
    const codes = pres.muc.statusCodes ?? [];
    if (nick === this.#nick && codes.includes("110")) {
      if (this.#left) return;
      // XEP-0045 §9.1.1: status 307 = kicked.
      if (codes.includes("307")) void this.leave("You were removed from the call by a moderator.");
      else if (pres.muc.destroy) void this.leave("The room was closed.");
      return;
    }
    if (!this.#participants.has(nick)) return;
    this.#removeParticipant(nick);
    this.#view.addSystem(codes.includes("307") ? `${nick} was removed.` : `${nick} left.`);
    this.#reconcile();
  };

  #removeParticipant(nick: string): void {
    this.#participants.delete(nick);
    this.#speaker.set(nick, null);
    this.#view.removeParticipant(nick);
  }

  readonly #onGroupchat = (msg: ReceivedMessage): void => {
    if (!JID.equalBare(msg.from, this.#roomJid) || !msg.body) return;
    const nick = JID.getResource(msg.from);
    if (!nick) return this.#view.addSystem(msg.body);
    this.#view.addChat(nick, msg.body, nick === this.#nick);
  };

  readonly #onMessage = (msg: ReceivedMessage): void => {
    if (!JID.equalBare(msg.from, this.#roomJid) || JID.getResource(msg.from)) return;
    // XEP-0045 §10.2.1: status 104 = room configuration changed (e.g. password set or removed).
    const codes = (msg as ReceivedMessage & { muc?: { statusCodes?: string[] } }).muc?.statusCodes ?? [];
    if (codes.includes("104")) void this.#refreshLockState();
    const ann = parseMediaAnnouncement(msg.parleyMedia);
    if (ann) this.#onMediaAnnouncement(ann);
  };

  // ---------------------------------------------------------------- media

  #applyTrackEnabled(): void {
    for (const t of this.#camera.getAudioTracks()) t.enabled = this.#av.audio;
    for (const t of this.#camera.getVideoTracks()) t.enabled = this.#av.video;
  }

  #announceAv(): void {
    this.#applyTrackEnabled();
    this.#view.setLocalAv(this.#av);
    this.#speaker.set(this.#nick, this.#av.audio ? this.#send : null);
    if (this.#joined) this.#client.sendPresence({ to: `${this.#roomJid}/${this.#nick}`, parleyAv: avToWire(this.#av) });
  }

  #toggle(kind: "audio" | "video"): void {
    const has = kind === "audio" ? this.#camera.getAudioTracks().length > 0 : this.#camera.getVideoTracks().length > 0;
    if (!has) {
      this.#view.notify(kind === "audio" ? "No microphone is available." : "No camera is available.");
      return;
    }
    this.#av = { ...this.#av, [kind]: !this.#av[kind] };
    this.#announceAv();
  }

  async #toggleScreen(): Promise<void> {
    if (this.#screen) return this.#stopScreen();
    let screen: MediaStream;
    try {
      screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      this.#view.notify("Screen sharing was cancelled or is not allowed.");
      return;
    }
    const track = screen.getVideoTracks()[0];
    if (!track) return;
    this.#screen = screen;
    track.addEventListener("ended", () => void this.#stopScreen());
    await this.#setVideoTrack(track);
    this.#view.setLocalStream(this.#send, false);
    this.#av = { ...this.#av, screen: true };
    this.#announceAv();
  }

  async #stopScreen(): Promise<void> {
    if (!this.#screen) return;
    stopStream(this.#screen);
    this.#screen = undefined;
    await this.#setVideoTrack(this.#camera.getVideoTracks()[0] ?? null);
    this.#view.setLocalStream(this.#send, true);
    this.#av = { ...this.#av, screen: false };
    this.#announceAv();
  }

  async #setVideoTrack(track: MediaStreamTrack | null): Promise<void> {
    for (const t of this.#send.getVideoTracks()) this.#send.removeTrack(t);
    if (track) this.#send.addTrack(track);
    await Promise.all([this.#p2p.replaceTrack("video", track), this.#bridge?.replaceTrack("video", track), this.#standby?.link?.replaceTrack("video", track)]);
  }

  /** The participant behind an occupant JID (room@service/nick). */
  #participantAt(occupantJid: string): Participant | undefined {
    return this.#participants.get(JID.getResource(occupantJid) ?? occupantJid);
  }

  #onStream(peerJid: string, stream: MediaStream | undefined, path: MediaMode): void {
    const p = this.#participantAt(peerJid);
    if (!p) return;
    if (path === "p2p") p.p2pStream = stream;
    else p.bridgeStream = stream;
    this.#showBestStream(p);
  }

  #showBestStream(p: Participant): void {
    // Back on P2P, a direct stream replaces the bridge's only once its session carries media (make-before-break):
    // a direct session's stream exists from its offer or answer on, before anything flows.
    const direct = p.p2pStream && (!p.bridgeStream || this.#p2p.connectedPeers().includes(p.jid)) ? p.p2pStream : undefined;
    const s = this.#mode === "bridge" ? (p.bridgeStream ?? p.p2pStream) : (direct ?? p.bridgeStream ?? p.p2pStream);
    // Once it is on screen, the other path may go (make-before-break, #maybeFinishSwitchToP2P and #switchToBridge).
    void this.#view.setRemoteStream(p.nick, s ?? null).then((shown) => shown && this.#maybeFinishSwitchToP2P());
    this.#speaker.set(p.nick, s ?? null);
  }

  /** Bring the media paths in line with the room's mode and occupants. */
  #reconcile(): void {
    if (!this.#joined || this.#left) return;
    const peers = [...this.#participants.values()].map((p) => p.jid);
    clearTimeout(this.#meshTimer);
    if (this.#mode === "p2p" && peers.length >= 2 && !this.#bridge) {
      // Three or more people: the room usually announces the bridge right away. Keep the sessions we have and
      // only fall back to a direct mesh if no announcement comes (a server without bridges).
      this.#p2p.setPeers(peers.filter((p) => this.#p2p.hasSession(p)));
      this.#meshTimer = setTimeout(() => {
        if (this.#mode === "p2p" && !this.#left) this.#p2p.setPeers([...this.#participants.values()].map((p) => p.jid));
      }, MESH_FALLBACK_MS);
    } else if (this.#mode === "p2p") this.#p2p.setPeers(peers);
    // In bridge mode, keep the existing direct sessions until the bridge is up (make-before-break), start none.
    else if (!this.#bridge) this.#p2p.setPeers(peers.filter((p) => this.#p2p.connectedPeers().includes(p)));
    if (this.#mode === "p2p") this.#p2p.setSwitching(false);
    this.#view.setMediaMode(this.#bridge && this.#bridgeReady ? "bridge" : "p2p", this.#participants.size === 0);
  }

  async #fetchMedia(): Promise<void> {
    try {
      const res = await this.#client.sendIQ({ to: this.#roomJid, type: "get", parleyMedia: {} });
      const ann = parseMediaAnnouncement(res.parleyMedia);
      if (ann) this.#onMediaAnnouncement(ann);
    } catch {
      /* the server may not support the query: we rely on announcements */
    }
  }

  #onMediaAnnouncement(ann: MediaAnnouncement): void {
    switch (ann.mode) {
      case "bridge":
        // The join's announcement and our own query can both answer: one connection attempt per bridge URL. A new
        // URL (the room moved to another bridge, e.g. the old one is draining) is a new make-before-break switch.
        if (this.#mode === "bridge" && (this.#bridge || this.#bridgeConnecting) && ann.url === this.#bridgeUrl) return;
        this.#bridgeUrl = ann.url;
        this.#mode = "bridge";
        void this.#switchToBridge(ann.url, ann.grant);
        return;
      case "lobby":
        return; // for those on the hair check (warm.ts); we are in the room
      case "p2p":
        this.#dropLobby();
        this.#setStandby(ann.standby);
        if (this.#mode === "p2p") return;
        this.#mode = "p2p";
        this.#bridgeAttempt++;
        this.#reconcile(); // starts direct sessions; the bridge closes once they carry media
        this.#maybeFinishSwitchToP2P();
        setTimeout(() => this.#finishSwitchToP2P(), 10_000); // don't keep the bridge forever if a peer never connects
        return;
      default:
        throw new Error(`unhandled media mode ${(ann satisfies never) as string}`);
    }
  }

  /** Make-before-break (bridge -> p2p): close the bridge once every peer's direct session is connected. */
  #maybeFinishSwitchToP2P(): void {
    if (this.#mode !== "p2p" || !this.#bridge) return;
    const connected = new Set(this.#p2p.connectedPeers());
    const direct = (p: Participant) => connected.has(p.jid) && (!p.p2pStream || this.#view.onScreen(p.nick) === p.p2pStream);
    if ([...this.#participants.values()].every(direct)) this.#finishSwitchToP2P();
  }

  #finishSwitchToP2P(): void {
    if (this.#mode !== "p2p" || !this.#bridge) return;
    this.#dropBridge();
    this.#reconcile();
  }

  /** Close the bridge connection (if any) and show each participant's direct stream again. */
  #dropBridge(): void {
    this.#bridge?.close();
    this.#bridge = undefined;
    this.#bridgeReady = false;
    for (const p of this.#participants.values()) {
      p.bridgeStream = undefined;
      this.#showBestStream(p);
    }
    // Back to two with someone still waiting: be ready again (a fresh connection; the grant is from the announcement).
    if (this.#mode === "p2p" && this.#standbyWanted) this.#startStandby(this.#standbyWanted);
  }

  /** What the room keeps ready changed (a `p2p` announcement, with or without a standby bridge room). */
  #setStandby(s: { url: string; grant: string } | undefined): void {
    this.#standbyWanted = s;
    if (s && this.#standby?.url === s.url) return; // the same room again (an announcement and our own query)
    this.#closeStandby();
    if (s && !this.#bridge) this.#startStandby(s); // else once the bridge we are on closes (#dropBridge)
  }

  #startStandby(s: { url: string; grant: string }): void {
    if (this.#standby || this.#left) return;
    const delay = Math.max(STANDBY_AFTER_MS, this.#joinedAt + STANDBY_NOT_BEFORE_JOIN_MS - Date.now());
    const entry: Standby = { url: s.url, timer: setTimeout(() => void connect(), delay) };
    this.#standby = entry;
    const current = () => this.#standby === entry && !this.#left && this.#mode === "p2p";
    const connect = async () => {
      try {
        const { connectBridge } = bridgeModule ?? (await withTimeout(loadBridge(), 15_000, "the bridge code did not load"));
        if (!current()) return;
        let link: BridgeLink | undefined; // (events may come before connectBridge returns)
        link = await connectBridge(s.url, s.grant, this.#nick, this.#send, this.#bridgeEvents(() => link), { standby: true });
        if (!current()) return link.close();
        entry.link = link;
        await link.ready;
      } catch (e) {
        // Nothing depends on it: the call stays direct, and a move to the bridge connects afresh.
        if (this.#standby === entry) this.#closeStandby();
        console.warn("bridge standby failed", e);
      }
    };
  }

  #dropLobby(): void {
    this.#lobby?.close();
    this.#lobby = undefined;
  }

  /**
   * The hair check's lobby connection to this bridge room, admitted as us with our occupant grant, if there is one
   * (any other is closed). It then is a standby link (bridge.ts) with our call's tracks.
   */
  async #admitLobby(url: string, grant: string): Promise<BridgeLink | undefined> {
    const lobby = this.#lobby;
    this.#lobby = undefined;
    const link = lobby?.url === url ? lobby.link : undefined;
    if (!link) {
      lobby?.close();
      return undefined;
    }
    try {
      await link.admit(grant, this.#nick, this.#bridgeEvents(() => link));
      performance.mark("parley:bridge:from-lobby");
      for (const kind of ["audio", "video"] as const) {
        const track = (kind === "audio" ? this.#send.getAudioTracks() : this.#send.getVideoTracks())[0] ?? null;
        await link.replaceTrack(kind, track);
      }
      return link;
    } catch (e) {
      console.warn("bridge lobby not admitted", e);
      link.close();
      return undefined;
    }
  }

  #closeStandby(): void {
    const s = this.#standby;
    this.#standby = undefined;
    if (!s) return;
    clearTimeout(s.timer);
    s.link?.close();
  }

  /** A connected standby link to this bridge room, taken over by the move to the bridge (others are closed). */
  #takeStandby(url: string): BridgeLink | undefined {
    const link = this.#standby?.url === url ? this.#standby.link : undefined;
    if (link) this.#standby = undefined; // (its timer has fired: it connected)
    else this.#closeStandby();
    return link;
  }

  /** What a bridge link reports to the call; `link()` is the link these are for (set once it exists). */
  #bridgeEvents(link: () => BridgeLink | undefined): BridgeEvents {
    return {
      expectedVideo: () => [...this.#participants.values()].filter((p) => p.av.video || p.av.screen).map((p) => p.nick),
      remoteStream: (nick, stream) => this.#onStream(`${this.#roomJid}/${nick}`, stream, "bridge"),
      peerGone: (nick) => this.#onStream(`${this.#roomJid}/${nick}`, undefined, "bridge"),
      failed: (reason) => {
        const l = link();
        if (l && this.#bridge === l) this.#onBridgeFailed(reason);
        else if (l && this.#standby?.link === l) this.#closeStandby();
      },
    };
  }

  /** Make-before-break (p2p -> bridge): connect to the bridge, send and receive there, then end direct sessions. */
  async #switchToBridge(url: string, grant: string): Promise<void> {
    const attempt = ++this.#bridgeAttempt;
    this.#bridgeConnecting = true;
    this.#view.notify("Moving the call to the media bridge…");
    performance.mark("parley:bridge:announced");
    this.#p2p.setSwitching(true); // direct video goes small meanwhile: the CPU is needed for the bridge's
    // While switching, keep the direct sessions we have but let none be re-created: the others end theirs as soon
    // as their own bridge is up, and P2PMesh re-initiates a session ended while still wanted (1 s later), which
    // only costs CPU and signaling in the middle of the switch.
    const keepExisting = () => {
      if (this.#mode === "bridge" && attempt === this.#bridgeAttempt && !this.#left) {
        this.#p2p.setPeers([...this.#participants.values()].map((p) => p.jid).filter((j) => this.#p2p.hasSession(j)));
      }
    };
    keepExisting();
    const trim = setInterval(keepExisting, 200);
    try {
      // Bounded: a chunk request that is never answered (seen against `wrangler dev`) must not leave the call stuck
      // in "Moving the call to the media bridge…"; failing here falls back to direct sessions and asks again.
      // The module as fetched in the background, used right away: awaiting import() again still costs a task or two,
      // which is noticeable while three pages share the CPU at the start of a switch.
      // Standby: the connection made while someone waited on the hair check only needs its senders turned on.
      let link: BridgeLink;
      const spare = this.#takeStandby(url) ?? (await this.#admitLobby(url, grant));
      if (spare) {
        performance.mark("parley:bridge:from-standby");
        link = spare;
        await spare.activate();
      } else {
        const { connectBridge } = bridgeModule ?? (await withTimeout(loadBridge(), 15_000, "the bridge code did not load"));
        link = await connectBridge(url, grant, this.#nick, this.#send, this.#bridgeEvents(() => link));
      }
      if (attempt !== this.#bridgeAttempt || this.#mode !== "bridge" || this.#left) {
        link.close();
        return;
      }
      const previous = this.#bridge;
      this.#bridge = link;
      await link.ready;
      // Make-before-break: keep the direct sessions (or the previous bridge) until everyone we see directly is shown
      // through this bridge (bridge.ts offers a stream once its video carries media), at most a few seconds.
      for (const until = Date.now() + 4000; Date.now() < until; await new Promise((r) => setTimeout(r, 40))) {
        if (this.#bridge !== link || [...this.#participants.values()].every((p) => this.#onBridge(p))) break;
      }
      if (this.#mode !== "bridge" || this.#bridge !== link) return;
      previous?.close(); // moved from one bridge to another: the old one goes once the new one carries media
      this.#bridgeReady = true;
      this.#p2p.setPeers([]);
      for (const p of this.#participants.values()) this.#showBestStream(p);
      this.#view.notify("");
      this.#reconcile();
    } catch (e) {
      if (attempt === this.#bridgeAttempt) this.#onBridgeFailed(e instanceof Error ? e.message : String(e));
    } finally {
      clearInterval(trim);
      if (attempt === this.#bridgeAttempt) this.#bridgeConnecting = false;
    }
  }

  /** Has this participant's direct stream got its replacement through the bridge: on screen, and with sound if it had sound? */
  #onBridge(p: Participant): boolean {
    if (!p.p2pStream) return true;
    const b = p.bridgeStream;
    return !!b && this.#view.onScreen(p.nick) === b && (p.p2pStream.getAudioTracks().length === 0 || b.getAudioTracks().length > 0);
  }

  #onBridgeFailed(reason: string): void {
    this.#dropBridge();
    if (this.#mode !== "bridge" || this.#left) {
      // Already going back to P2P (the room closed its bridge room): nothing to retry.
      this.#reconcile();
      return;
    }
    this.#view.notify(`The media bridge is not reachable (${reason}). Connecting directly meanwhile…`);
    const attempt = this.#bridgeAttempt;
    // Meanwhile connect directly (P2P mesh), and ask the room again for a fresh grant (grants are short-lived).
    setTimeout(() => {
      if (attempt === this.#bridgeAttempt && this.#mode === "bridge" && !this.#bridge && !this.#left) {
        this.#mode = "p2p";
        this.#reconcile();
        void this.#fetchMedia();
      }
    }, 3000);
    this.#reconcile();
  }

  // ---------------------------------------------------------------- moderation

  async #refreshLockState(): Promise<void> {
    try {
      const info = await this.#client.getDiscoInfo(this.#roomJid);
      this.#view.setLocked((info.features ?? []).includes("muc_passwordprotected"));
    } catch {
      /* unknown: leave as is */
    }
  }

  /** XEP-0045 §10.2: the owner sets (or clears, with "") the room secret via the muc#owner configuration form. */
  async #configurePassword(password: string): Promise<void> {
    try {
      await this.#client.getRoomConfig(this.#roomJid).catch(() => undefined);
      await this.#client.configureRoom(this.#roomJid, {
        type: "submit",
        fields: [
          { name: "FORM_TYPE", type: "hidden", value: "http://jabber.org/protocol/muc#roomconfig" },
          { name: "muc#roomconfig_passwordprotectedroom", type: "boolean", value: password !== "" },
          { name: "muc#roomconfig_roomsecret", type: "text-private", value: password },
        ],
      });
      this.#password = password || undefined;
      this.#view.setLocked(password !== "");
      this.#view.addSystem(password ? "You locked the room with a password." : "You unlocked the room.");
    } catch (e) {
      this.#view.notify(`Could not change the room password${errorCondition(e)}.`);
    }
  }

  /** XEP-0045 §8.2: a moderator kicks by setting the occupant's role to none. */
  async #kick(nick: string): Promise<void> {
    try {
      await this.#client.kick(this.#roomJid, nick, "Removed by a moderator");
    } catch (e) {
      this.#view.notify(`Could not remove ${nick}${errorCondition(e)}.`);
    }
  }
}

/** XEP-0045 §15.5.4: the muc#roominfo_occupants field of a room's disco#info, if present. */
function occupantCount(forms: ReadonlyArray<{ fields?: Array<{ name?: string; value?: unknown }> }> | undefined): number | undefined {
  for (const form of forms ?? []) {
    const v = form.fields?.find((f) => f.name === "muc#roominfo_occupants")?.value;
    const n = typeof v === "string" ? Number(v) : NaN;
    if (Number.isInteger(n) && n >= 0) return n;
  }
  return undefined;
}

function errorCondition(e: unknown): string {
  const c = (e as { error?: { condition?: string } } | undefined)?.error?.condition;
  return c ? ` (${c})` : "";
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e); // keep the original: a MUC error presence carries the XEP-0045 condition
      },
    );
  });
}
