/**
 * A call in one room: the shell around the call machine (machine/). It wires the machine's inputs to it (the room's
 * stanzas: room-stanzas.ts; the XMPP stream and the network: connection.ts; direct sessions: p2p.ts; bridge links:
 * links.ts, bridge.ts; local devices: local-send.ts; the person's clicks) and runs the effects it returns. The machine
 * decides; this file only does. End-to-end encryption: call-e2ee.ts. Loaded lazily from the hair check on Join (it
 * pulls in StanzaJS).
 */
import type { Agent } from "stanza";
import { loadPrefs, savePrefs } from "../prefs";
import { startMls, type MlsSession } from "../e2ee/mls-xmpp";
import { onActiveSpeaker } from "./bridge-speaker";
import { CallE2ee } from "./call-e2ee";
import { Connection } from "./connection";
import { bridgeLoaded, Links, loadBridge } from "./links";
import { LocalSend } from "./local-send";
import { acceptsDirect, bridgeNamesSpeaker, initiatesDirect, isCurrentLink, isStandbyLink, sendingVideo } from "./machine/queries";
import { step } from "./machine/step";
import { initialState, type CallEffect, type CallEvent, type CallState, type TimerId } from "./machine/types";
import { P2PMesh } from "./p2p";
import { RemoteStreams } from "./remote-streams";
import { joinErrorText, RoomAdmin } from "./room-admin";
import { RoomStanzas } from "./room-stanzas";
import { ActiveSpeaker, type SpeakerSource } from "./speaker";
import { CallView, renderLeft } from "./view";
import { takeWarm, type WarmSession } from "./warm";
import { connectSession, createRoomClient, fetchIceServers, roomJid } from "./xmpp";

export interface JoinOptions {
  room: string;
  name: string;
  password?: string;
  stream: MediaStream;
  /**
   * The devices once ready, if they were not yet when Join was clicked (`stream` then lacks them): the call starts
   * with what `stream` has and adds the rest when this resolves.
   */
  devicesReady?: Promise<MediaStream>;
  micOn: boolean;
  camOn: boolean;
  speakerId?: string;
  /** Called right before the call screen replaces the hair check. */
  beforeRender(): void;
}

export type JoinOutcome = { kind: "joined" } | { kind: "locked"; wrongPassword: boolean } | { kind: "failed"; message: string };

void loadBridge().catch(() => undefined);

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
  const call = new Call(client, root, opts, warm, warm?.mls ?? startMls(client, roomJid(opts.room, client)));
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
  readonly #roomJid: string;
  readonly #state: CallState;
  readonly #view: CallView;
  readonly #admin: RoomAdmin;
  readonly #room: RoomStanzas;
  readonly #connection: Connection;
  readonly #local: LocalSend;
  readonly #e2ee: CallE2ee;
  readonly #p2p: P2PMesh;
  readonly #links: Links;
  readonly #speaker: SpeakerSource;
  readonly #unfollowBridgeSpeaker: () => void;
  readonly #remote: RemoteStreams;
  readonly #timers = new Map<TimerId, ReturnType<typeof setTimeout>>();
  /** Events that came while effects of an earlier one were running: handled right after, in order. */
  readonly #queue: CallEvent[] = [];
  #dispatching = false;
  #password: string | undefined;
  /** The page is going away (pagehide): leaving must not wait for anything. */
  #pageGone = false;
  /** The ICE servers, direct-call offer and spare answerer prepared during the hair check (warm.ts), if any. */
  #warm: Pick<WarmSession, "iceServers" | "offer" | "spare"> | undefined;

  constructor(client: Agent, root: HTMLElement, opts: JoinOptions, warm: WarmSession | undefined, mls: Promise<MlsSession>) {
    this.#warm = warm;
    this.#client = client;
    this.#root = root;
    this.#opts = opts;
    this.#roomJid = roomJid(opts.room, client);
    const lobby = warm?.lobby.current;
    this.#state = initialState({
      want: { audio: opts.micOn, video: opts.camOn },
      devices: { audio: opts.stream.getAudioTracks().length > 0, video: opts.stream.getVideoTracks().length > 0 },
      lobbyUrl: lobby?.url,
    });
    const dispatch = (ev: CallEvent): void => this.#dispatch(ev);
    const left = (): boolean => this.#state.left;
    this.#local = new LocalSend(opts.stream, {
      av: () => this.#state.av,
      left,
      dispatch,
      replaceDirect: (kind, track) => this.#p2p?.replaceTrack(kind, track),
      link: (id) => this.#links.get(id),
      notify: (text) => this.#view.notify(text),
      showLocal: (stream, mirrored) => this.#view.setLocalStream(stream, mirrored),
      refreshLocal: (mirrored) => this.#view.refreshLocal(mirrored),
    });
    void this.#local.sync();
    this.#view = new CallView(opts.room, {
      toggleMic: () => this.#dispatch({ type: "toggle", kind: "audio" }),
      toggleCamera: () => this.#dispatch({ type: "toggle", kind: "video" }),
      toggleScreen: () => void this.#local.toggleScreen(),
      switchDevice: (kind, id) => void this.#local.switchDevice(kind, id),
      switchSpeaker: (id) => savePrefs({ ...loadPrefs(), speakerId: id }),
      sendChat: (text) => this.#room.sendChat(text),
      lock: (pw) => void this.#admin.configurePassword(pw),
      unlock: () => void this.#admin.configurePassword(""),
      kick: (nick) => void this.#admin.kick(nick),
      leave: () => void this.leave("You left the call."),
    });
    this.#admin = new RoomAdmin(client, this.#roomJid, this.#view, (pw) => (this.#password = pw));
    this.#e2ee = new CallE2ee(mls, this.#view, left, () => dispatch({ type: "keys-lost" }));
    this.#room = new RoomStanzas(client, this.#roomJid, {
      nick: () => this.#state.nick,
      dispatch,
      view: this.#view,
      configChanged: () => void this.#admin.refreshLockState(),
      occupantIdentity: (nick, identity) => this.#e2ee.occupant(nick, identity),
    });
    this.#connection = new Connection(client, { left, dispatch });
    // Who speaks: this page's own audio meters on either path; on the bridge path the bridge's announcement
    // (its ActiveSpeakerObserver hears everyone's audio) names a speaker too, and the latest word wins.
    this.#speaker = new ActiveSpeaker((nick) => this.#view.setActiveSpeaker(nick));
    this.#unfollowBridgeSpeaker = onActiveSpeaker((nick) => {
      if (nick !== undefined && bridgeNamesSpeaker(this.#state)) this.#view.setActiveSpeaker(nick);
    });
    this.#remote = new RemoteStreams({
      state: this.#state,
      view: this.#view,
      speaker: this.#speaker,
      connectedPeers: () => this.#p2p.connectedPeers(),
      dispatch,
    });
    const jidOf = (nick: string) => `${this.#roomJid}/${nick}`;
    this.#links = new Links(
      {
        dispatch,
        nick: () => this.#state.nick,
        sendStream: () => this.#local.stream,
        streams: {
          expectedVideo: () => sendingVideo(this.#state),
          remoteStream: (nick, stream) => this.#remote.set(jidOf(nick), stream, "bridge"),
          peerGone: (nick) => this.#remote.set(jidOf(nick), undefined, "bridge"),
        },
        isCurrent: (link) => isCurrentLink(this.#state, link),
        isStandby: (link) => isStandbyLink(this.#state, link),
        everyoneOnBridge: () => this.#remote.everyoneOnBridge(),
      },
      lobby,
    );
    this.#p2p = new P2PMesh(client, () => (this.#state.nick ? jidOf(this.#state.nick) : undefined), () => this.#local.stream, {
      initiates: (peer) => initiatesDirect(this.#state, peer),
      acceptIncoming: (peer) => acceptsDirect(this.#state, peer),
      remoteStream: (peer, stream) => this.#remote.set(peer, stream, "p2p"),
      sessionEnded: (peer) => this.#remote.set(peer, undefined, "p2p"),
      stateChanged: (peer, state) => {
        if (state === "disconnected") this.#dispatch({ type: "media-stalled" });
        this.#remote.directChanged(peer);
      },
    });
    this.#room.listen(true);
    void opts.devicesReady?.then((stream) => this.#local.useDevices(stream)).catch(() => undefined);
  }

  // ---------------------------------------------------------------- the machine

  #dispatch(ev: CallEvent): void {
    this.#queue.push(ev);
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
        for (const effect of step(this.#state, next, { now: () => Date.now() })) this.#run(effect);
      }
    } finally {
      this.#dispatching = false;
    }
  }

  #run(e: CallEffect): void {
    switch (e.kind) {
      case "p2p-peers": {
        const keep =
          e.keep === "all"
            ? () => true
            : e.keep === "existing"
              ? (p: string) => this.#p2p.hasSession(p)
              : (p: string) => this.#p2p.connectedPeers().includes(p);
        this.#p2p.setPeers(e.peers.filter(keep));
        return;
      }
      case "p2p-switching":
        return this.#p2p.setSwitching(e.on);
      case "bridge-connect":
        return void this.#links.connect(e.attempt, e.link, e.url, e.grant, e.via);
      case "standby-connect":
        return void this.#links.connectStandby(e.link, e.url, e.grant);
      case "link-close":
        return this.#links.close(e.link);
      case "lobby-close":
        return this.#links.closeLobby();
      case "bridge-streams-gone":
        return this.#remote.bridgeGone();
      case "show-streams":
        return this.#remote.showAll();
      case "check-direct":
        return this.#remote.checkDirect();
      case "send-tracks":
        return void this.#local.sync(e.links);
      case "av":
        this.#local.applyTrackEnabled();
        this.#view.setLocalAv(e.av);
        this.#speaker.set(this.#state.nick, e.av.audio ? this.#local.stream : null);
        if (e.presence) this.#room.sendAv(e.av, this.#e2ee.presence());
        return;
      case "rejoin":
        return void this.#joinAs(e.nick).then((r) => r !== "ok" && this.#dispatch({ type: "rejoin-failed", condition: r }));
      case "xmpp-ping":
        return this.#connection.ping(e.timeoutMs);
      case "xmpp-restart":
        return this.#connection.connectNow(true);
      case "xmpp-connect":
        return this.#connection.connectNow(false);
      case "p2p-restart":
        return this.#p2p.restart();
      case "fetch-media":
        return void this.#room.fetchMedia();
      case "report-bridge":
        return this.#room.reportBridge(e.url);
      case "refresh-lock":
        return void this.#admin.refreshLockState();
      case "leave":
        return void this.#leave(e.reason);
      case "set-timer":
        clearTimeout(this.#timers.get(e.timer));
        this.#timers.set(
          e.timer,
          setTimeout(() => this.#dispatch({ type: "timer", timer: e.timer }), e.ms),
        );
        return;
      case "clear-timer":
        clearTimeout(this.#timers.get(e.timer));
        this.#timers.delete(e.timer);
        return;
      case "view-mode":
        return this.#view.setMediaMode(e.mode, e.alone);
      case "view-connection":
        return this.#view.setConnection(e.state, e.state === "failed" ? joinErrorText(e.condition) : undefined);
      case "view-self":
        return this.#view.setSelf(e.nick, e.moderator, e.owner);
      case "view-participant":
        return this.#view.upsertParticipant(e.nick, e.av);
      case "participant-gone":
        this.#remote.forget(e.nick);
        this.#speaker.set(e.nick, null);
        return this.#view.removeParticipant(e.nick);
      case "system":
        return this.#view.addSystem(e.text);
      case "notify":
        return this.#view.notify(e.text);
      case "mark":
        return void performance.mark(e.name);
      default:
        throw new Error(`unhandled call effect ${(e satisfies never as { kind: string }).kind}`);
    }
  }

  // ---------------------------------------------------------------- join / leave

  async join(password: string | undefined): Promise<JoinOutcome> {
    this.#password = password;
    const warm = this.#warm;
    this.#warm = undefined;
    const iceServers = warm?.iceServers ?? (await fetchIceServers(this.#client));
    this.#client.jingle.resetICEServers();
    for (const s of iceServers) this.#client.jingle.addICEServer(s);
    // Spare answerer and prepared offer (p2p.ts), made right after the join presence has gone out.
    setTimeout(() => this.#p2p.keepReady(iceServers, warm), 0);
    const r = await this.#room.enter(this.#opts.name, (nick) => this.#joinAs(nick));
    if (r === "not-authorized") return { kind: "locked", wrongPassword: password !== undefined && password !== "" };
    if (r !== "ok" && r !== "conflict") return { kind: "failed", message: joinErrorText(r) };
    if (!this.#state.joined) return { kind: "failed", message: "That name is taken in this room. Try another." };
    // Let the session-initiate the join just queued reach the WebSocket (StanzaJS sends it in microtasks) before the
    // call screen is drawn: drawing takes tens of ms on a slow machine, and the offer is what the other side waits for.
    await new Promise((r) => setTimeout(r, 0));
    this.#opts.beforeRender();
    this.#root.replaceChildren(this.#view.root);
    this.#view.setLocalStream(this.#local.stream, true);
    this.#view.setLocalAv(this.#state.av);
    this.#view.setSpeaker(this.#opts.speakerId);
    this.#speaker.set(this.#state.nick, this.#state.av.audio ? this.#local.stream : null);

    this.#connection.start();
    window.addEventListener("pagehide", this.#onPageHide);
    // The bridge code is fetched when this module loads; if that failed, try again now that we are in the call.
    if (!bridgeLoaded()) setTimeout(() => void loadBridge().catch(() => undefined), 1500);
    return { kind: "joined" };
  }

  /** Send the join presence (with password, our a/v state and MLS identity) and wait for the self-presence or an error. */
  async #joinAs(nick: string): Promise<"ok" | string> {
    await this.#e2ee.beforeJoin();
    return this.#room.join(nick, { password: this.#password, av: this.#state.av, mls: this.#e2ee.presence() });
  }

  leave(reason: string): Promise<void> {
    this.#dispatch({ type: "leave", reason });
    return this.#leaving ?? Promise.resolve();
  }

  #leaving: Promise<void> | undefined;

  /** The machine closed every path (effects before this one): leave the room, end the session, say so. */
  #leave(reason: string): Promise<void> {
    this.#leaving = (async () => {
      window.removeEventListener("pagehide", this.#onPageHide);
      this.#stop();
      if (this.#pageGone) return this.#room.leaveNow();
      await this.#room.leave(this.#state.joined);
      this.#local.stop();
      renderLeft(this.#root, this.#opts.room, reason);
    })();
    return this.#leaving;
  }

  /** The join failed: undo what the constructor started. */
  dispose(): void {
    this.#room.listen(false);
    this.#stop();
  }

  /** Leaving (or never joined): every timer, session, meter and follower stops. */
  #stop(): void {
    this.#connection.stop();
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#p2p.close();
    this.#speaker.close();
    this.#unfollowBridgeSpeaker();
    this.#e2ee.close();
  }

  readonly #onPageHide = (): void => {
    this.#pageGone = true;
    this.#dispatch({ type: "leave", reason: "" });
  };
}
