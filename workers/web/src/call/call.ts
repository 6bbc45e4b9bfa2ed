/**
 * A call in one room: the shell around the call machine (machine/): it turns XMPP stanzas (StanzaJS), direct
 * sessions (p2p.ts), bridge links (links.ts, bridge.ts) and the person's clicks into machine events, and runs the
 * effects the machine returns. The machine decides; this file only does. Loaded lazily from the hair check on Join
 * (it pulls in StanzaJS).
 */
import type { Agent } from "stanza";
import * as JID from "stanza/JID";
import type { ReceivedMessage, ReceivedMUCPresence, ReceivedPresence } from "stanza/protocol";
import { callEncryption } from "../e2ee/call-encryption";
import { openDevice, stopStream } from "../local-media";
import { loadPrefs, savePrefs } from "../prefs";
import { bridgeLoaded, Links, loadBridge } from "./links";
import { connectAction } from "./machine/connect";
import { acceptsDirect, bridgeNamesSpeaker, initiatesDirect, isCurrentLink, isStandbyLink, sendingVideo } from "./machine/queries";
import { step } from "./machine/step";
import { initialState, type CallEffect, type CallEvent, type CallState, type LinkId, type TimerId } from "./machine/types";
import { P2PMesh } from "./p2p";
import { avFromWire, avToWire, parseMediaAnnouncement } from "./parley-ns";
import { RemoteStreams } from "./remote-streams";
import { joinErrorText, occupantCount, RoomAdmin, withTimeout } from "./room-admin";
import { onActiveSpeaker } from "./bridge-speaker";
import { ActiveSpeaker, type SpeakerSource } from "./speaker";
import { CallView, renderLeft } from "./view";
import { takeWarm, type WarmSession } from "./warm";
import { connectSession, createRoomClient, fetchIceServers, roomJid } from "./xmpp";
import { startMls, type MlsSession } from "../e2ee/mls-xmpp";
import type { GroupKeySource } from "../e2ee/keys";
import { pageKeys } from "../e2ee/key-relay";
import { SafetyPanel } from "./safety";

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

function randomToken(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
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
  readonly #p2p: P2PMesh;
  readonly #links: Links;
  readonly #speaker: SpeakerSource;
  readonly #unfollowBridgeSpeaker: () => void;
  readonly #remote: RemoteStreams;
  readonly #timers = new Map<TimerId, ReturnType<typeof setTimeout>>();
  /** Events that came while effects of an earlier one were running: handled right after, in order. */
  readonly #queue: CallEvent[] = [];
  #dispatching = false;
  /** What we send: the microphone track plus the camera or screen track. */
  readonly #send = new MediaStream();
  #camera: MediaStream;
  #screen: MediaStream | undefined;
  #password: string | undefined;
  /** The page is going away (pagehide): leaving must not wait for anything. */
  #pageGone = false;
  #iceServers: RTCIceServer[];
  #haveIceServers: boolean;
  /** The direct-call offer and spare answerer prepared during the hair check (warm.ts), if any. */
  #warm: Pick<WarmSession, "offer" | "spare"> | undefined;
  /** Sent in our join presence: a rejoin with it gets our place in the room back (muc-resume.ts). Never shown. */
  readonly #resumeToken = randomToken();
  /** We dropped the stream to connect again at once (xmpp-restart): connect when the client reports it down. */
  #connectWhenDown = false;
  /** When the current connection attempt started (xmpp-connect leaves a recent one alone). */
  #connectingSince = 0;
  /** Stops following the group keys (e2ee/call-encryption.ts) for the badge. */
  #unfollowKeys: () => void = () => undefined;
  /** Our MLS member (e2ee/mls-xmpp.ts), once ts-mls has loaded */
  readonly #mls: Promise<MlsSession | undefined>;
  #mlsNow: MlsSession | undefined;
  /** the safety code and group members on the call screen (safety.ts), once the MLS member runs */
  #safety: SafetyPanel | undefined;
  /** occupants' MLS identities from their presence (for the safety panel) */
  readonly #mlsIds = new Map<string, string | undefined>();

  constructor(client: Agent, root: HTMLElement, opts: JoinOptions, warm: WarmSession | undefined, mls: Promise<MlsSession>) {
    this.#warm = warm;
    this.#mls = mls.then(
      (m) => (this.#mlsNow = m),
      (e: unknown) => void console.warn("MLS member not started", e),
    );
    this.#iceServers = warm?.iceServers ?? [];
    this.#haveIceServers = warm?.iceServers !== undefined;
    this.#client = client;
    this.#root = root;
    this.#opts = opts;
    this.#roomJid = roomJid(opts.room, client);
    this.#camera = opts.stream;
    const lobby = warm?.lobby.current;
    this.#state = initialState({
      want: { audio: opts.micOn, video: opts.camOn },
      devices: { audio: opts.stream.getAudioTracks().length > 0, video: opts.stream.getVideoTracks().length > 0 },
      lobbyUrl: lobby?.url,
    });
    this.#syncSendTracks();
    this.#applyTrackEnabled();
    this.#view = new CallView(opts.room, {
      toggleMic: () => this.#dispatch({ type: "toggle", kind: "audio" }),
      toggleCamera: () => this.#dispatch({ type: "toggle", kind: "video" }),
      toggleScreen: () => void this.#toggleScreen(),
      switchDevice: (kind, id) => void this.#switchDevice(kind, id),
      switchSpeaker: (id) => savePrefs({ ...loadPrefs(), speakerId: id }),
      sendChat: (text) => this.#client.sendMessage({ to: this.#roomJid, type: "groupchat", body: text }),
      lock: (pw) => void this.#admin.configurePassword(pw),
      unlock: () => void this.#admin.configurePassword(""),
      kick: (nick) => void this.#admin.kick(nick),
      leave: () => void this.leave("You left the call."),
    });
    this.#admin = new RoomAdmin(client, this.#roomJid, this.#view, (pw) => (this.#password = pw));
    const e2ee = callEncryption();
    if (e2ee) {
      const show = (): void => this.#view.setE2ee(e2ee.active());
      show();
      this.#unfollowKeys = e2ee.onChange(show);
    }
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
      dispatch: (ev) => this.#dispatch(ev),
    });
    const jidOf = (nick: string) => `${this.#roomJid}/${nick}`;
    this.#links = new Links(
      {
        dispatch: (ev) => this.#dispatch(ev),
        nick: () => this.#state.nick,
        sendStream: () => this.#send,
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
    this.#p2p = new P2PMesh(client, () => (this.#state.nick ? jidOf(this.#state.nick) : undefined), () => this.#send, {
      initiates: (peer) => initiatesDirect(this.#state, peer),
      acceptIncoming: (peer) => acceptsDirect(this.#state, peer),
      remoteStream: (peer, stream) => this.#remote.set(peer, stream, "p2p"),
      sessionEnded: (peer) => this.#remote.set(peer, undefined, "p2p"),
      stateChanged: (peer, state) => {
        if (state === "disconnected") this.#dispatch({ type: "media-stalled" });
        const nick = JID.getResource(peer);
        if (nick) this.#remote.show(nick);
        this.#remote.checkDirect();
      },
    });
    void this.#mls.then((m) => {
      if (!m || this.#state.left) return;
      pageKeys.use(m.keys); // call encryption's keys (hair-check.ts provided pageKeys)
      const panel = new SafetyPanel(m.keys, () => m.identity());
      this.#safety = panel;
      for (const [nick, id] of this.#mlsIds) panel.setOccupant(nick, id);
      this.#view.addToHeader(panel.root);
      m.onChange(() => panel.update());
    });
    client.on("muc:available", this.#onAvailable);
    client.on("muc:unavailable", this.#onUnavailable);
    client.on("groupchat", this.#onGroupchat);
    client.on("message", this.#onMessage);
    void opts.devicesReady?.then((stream) => this.#useDevices(stream)).catch(() => undefined);
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
        return void this.#syncSendTracks(e.links);
      case "av":
        this.#applyTrackEnabled();
        this.#view.setLocalAv(e.av);
        this.#speaker.set(this.#state.nick, e.av.audio ? this.#send : null);
        if (e.presence) this.#client.sendPresence({ to: `${this.#roomJid}/${this.#state.nick}`, parleyAv: avToWire(e.av), ...this.#mlsPresence() });
        return;
      case "rejoin":
        return void this.#joinAs(e.nick).then((r) => r !== "ok" && this.#dispatch({ type: "rejoin-failed", condition: r }));
      case "xmpp-ping":
        return void withTimeout(this.#client.ping(), e.timeoutMs, "timeout").then(
          () => this.#dispatch({ type: "xmpp-ping", ok: true }),
          // An error answer (e.g. feature-not-implemented) is an answer: the stream carries (XEP-0199 §4).
          (err: unknown) => this.#dispatch({ type: "xmpp-ping", ok: !(err instanceof Error && err.message === "timeout") }),
        );
      case "xmpp-restart":
        return this.#connectNow(true);
      case "xmpp-connect":
        return this.#connectNow(false);
      case "p2p-restart":
        return this.#p2p.restart();
      case "fetch-media":
        return void this.#fetchMedia();
      case "report-bridge":
        return void this.#client.sendIQ({ to: this.#roomJid, type: "set", parleyMedia: { unreachable: e.url } }).catch(() => undefined);
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
    if (!this.#state.joined) return { kind: "failed", message: "That name is taken in this room. Try another." };
    // Let the session-initiate the join just queued reach the WebSocket (StanzaJS sends it in microtasks) before the
    // call screen is drawn: drawing takes tens of ms on a slow machine, and the offer is what the other side waits for.
    await new Promise((r) => setTimeout(r, 0));
    this.#opts.beforeRender();
    this.#root.replaceChildren(this.#view.root);
    this.#view.setLocalStream(this.#send, true);
    this.#view.setLocalAv(this.#state.av);
    this.#view.setSpeaker(this.#opts.speakerId);
    this.#speaker.set(this.#state.nick, this.#state.av.audio ? this.#send : null);

    this.#client.config.autoReconnect = true;
    this.#client.on("disconnected", this.#onDisconnected);
    this.#client.on("session:started", this.#onReconnected);
    window.addEventListener("pagehide", this.#onPageHide);
    this.#watchNetwork(true);
    // The bridge code is fetched when this module loads; if that failed, try again now that we are in the call.
    if (!bridgeLoaded()) setTimeout(() => void loadBridge().catch(() => undefined), 1500);
    return { kind: "joined" };
  }

  /**
   * Our MLS identity for our presence (e2ee/mls-xmpp.ts), so that others match us with our group member; every
   * presence carries it, since the room keeps only the last one.
   */
  #mlsPresence(): { parleyMls?: { identity: string } } {
    const identity = this.#mlsNow?.identity();
    return identity ? { parleyMls: { identity } } : {};
  }

  /** The call's MLS group keys (frame encryption and safety code), once the member runs. */
  groupKeys(): Promise<GroupKeySource | undefined> {
    return this.#mls.then((m) => m?.keys);
  }

  /** Send the join presence (with password and our a/v state) and wait for the self-presence or an error. */
  async #joinAs(nick: string): Promise<"ok" | string> {
    // our KeyPackage (made on the hair check, or after a reconnection) names the identity the presence announces
    const mls = await this.#mls;
    if (mls) await withTimeout(mls.ready(), 5000, "mls").catch(() => undefined);
    this.#dispatch({ type: "join-sent", nick });
    // Asked right before the join presence (same socket, answered in order, so known before any occupant's
    // presence arrives): with exactly one occupant, its presence is the whole roster and the call can start then.
    void this.#client
      .getDiscoInfo(this.#roomJid)
      .then((info) => {
        const count = occupantCount(info.extensions);
        if (count !== undefined) this.#dispatch({ type: "occupants-before-join", count });
      })
      .catch(() => undefined);
    performance.mark("parley:join-sent");
    try {
      const pres = await withTimeout(
        this.#client.joinRoom(this.#roomJid, nick, {
          muc: { type: "join", password: this.#password || undefined, history: { maxStanzas: 20 } },
          parleyAv: avToWire(this.#state.av),
          parleyResume: { token: this.#resumeToken },
          ...this.#mlsPresence(),
        }),
        15_000,
        "the room did not answer",
      );
      performance.mark("parley:joined");
      this.#dispatch({
        type: "joined",
        nick: JID.getResource(pres.from) ?? nick,
        role: pres.muc.role ?? "participant",
        affiliation: pres.muc.affiliation ?? "none",
      });
      return "ok";
    } catch (e) {
      const p = e as ReceivedPresence & { error?: { condition?: string } };
      if (e instanceof Error) return e.message;
      return p.error?.condition ?? "unknown";
    }
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
      this.#watchNetwork(false);
      this.#client.config.autoReconnect = false;
      for (const t of this.#timers.values()) clearTimeout(t);
      this.#p2p.close();
      this.#speaker.close();
      this.#unfollowBridgeSpeaker();
      this.#safety?.close();
      this.#mlsNow?.close();
      if (this.#pageGone) {
        // Best effort: the unavailable presence and <close/> go out before the page is gone; the server also
        // removes occupants whose socket drops.
        this.#client.sendPresence({ to: `${this.#roomJid}/${this.#state.nick}`, type: "unavailable" });
        void this.#client.disconnect();
        return;
      }
      try {
        if (this.#state.joined) await withTimeout(this.#client.leaveRoom(this.#roomJid, this.#state.nick), 2000, "leave timeout");
      } catch {
        /* leaving anyway */
      }
      await Promise.resolve(this.#client.disconnect()).catch(() => undefined);
      stopStream(this.#camera);
      stopStream(this.#screen);
      renderLeft(this.#root, this.#opts.room, reason);
    })();
    return this.#leaving;
  }

  dispose(): void {
    this.#client.off("muc:available", this.#onAvailable);
    this.#client.off("muc:unavailable", this.#onUnavailable);
    this.#client.off("groupchat", this.#onGroupchat);
    this.#client.off("message", this.#onMessage);
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#p2p.close();
    this.#speaker.close();
    this.#unfollowBridgeSpeaker();
    this.#watchNetwork(false);
    this.#unfollowKeys();
    this.#safety?.close();
    this.#mlsNow?.close();
  }

  readonly #onPageHide = (): void => {
    this.#pageGone = true;
    this.#dispatch({ type: "leave", reason: "" });
  };

  readonly #onDisconnected = (): void => {
    // We rejoin ourselves (with password and a/v state): stop StanzaJS' own rejoin.
    this.#client.joinedRooms.clear();
    this.#client.joiningRooms.clear();
    if (this.#connectWhenDown) {
      this.#connectWhenDown = false;
      this.#connectNow(false);
    }
    this.#dispatch({ type: "xmpp-disconnected" });
  };

  /** Connect the stream again now, instead of after the client's back-off (machine/connect.ts decides how). */
  #connectNow(drop: boolean): void {
    const client = this.#client;
    if (this.#state.left) return;
    const now = Date.now();
    const action = connectAction(drop, { open: !!client.transport, inSession: !!client.sessionStarted, connectingSince: this.#connectingSince }, now);
    if (action === "none") return;
    if (action === "drop") {
      this.#connectWhenDown = true;
      client.transport?.disconnect(false);
      return;
    }
    clearTimeout((client as unknown as { reconnectTimer?: ReturnType<typeof setTimeout> }).reconnectTimer);
    performance.mark("parley:xmpp-connect");
    this.#connectingSince = now;
    client.connect();
  }

  /** The browser's network events (HTML "online"/"offline", Network Information API "change"). */
  #watchNetwork(on: boolean): void {
    const conn = (navigator as Navigator & { connection?: EventTarget }).connection;
    for (const [target, ev] of [[window, "online"], [window, "offline"], [conn, "change"]] as const) {
      if (on) target?.addEventListener(ev, this.#onNetworkChange);
      else target?.removeEventListener(ev, this.#onNetworkChange);
    }
  }

  readonly #onNetworkChange = (ev: Event): void => {
    performance.mark(`parley:network-${ev.type}`);
    this.#dispatch({ type: "network-change" });
  };

  readonly #onReconnected = (): void => {
    performance.mark("parley:xmpp-reconnected");
    this.#dispatch({ type: "xmpp-reconnected" });
  };

  // ---------------------------------------------------------------- room events

  readonly #onAvailable = (pres: ReceivedMUCPresence): void => {
    if (!JID.equalBare(pres.from, this.#roomJid)) return;
    const nick = JID.getResource(pres.from);
    if (!nick) return;
    if (nick === this.#state.nick) return this.#dispatch({ type: "self-presence", role: pres.muc.role, affiliation: pres.muc.affiliation });
    this.#mlsIds.set(nick, pres.parleyMls?.identity);
    this.#safety?.setOccupant(nick, pres.parleyMls?.identity);
    const av = avFromWire(pres.parleyAv) ?? { audio: true, video: true, screen: false };
    this.#dispatch({ type: "occupant-available", nick, jid: pres.from, av });
  };

  readonly #onUnavailable = (pres: ReceivedMUCPresence): void => {
    if (!JID.equalBare(pres.from, this.#roomJid)) return;
    const nick = JID.getResource(pres.from);
    if (!nick) return;
    const codes = pres.muc.statusCodes ?? [];
    // XEP-0045 §9.1.1: status 307 = kicked; 110 = this presence is about us.
    if (nick === this.#state.nick && codes.includes("110")) {
      this.#dispatch({ type: "self-unavailable", kicked: codes.includes("307"), destroyed: !!pres.muc.destroy });
      return;
    }
    this.#mlsIds.delete(nick);
    this.#safety?.setOccupant(nick, null);
    this.#dispatch({ type: "occupant-unavailable", nick, kicked: codes.includes("307") });
  };

  readonly #onGroupchat = (msg: ReceivedMessage): void => {
    if (!JID.equalBare(msg.from, this.#roomJid) || !msg.body) return;
    const nick = JID.getResource(msg.from);
    if (!nick) return this.#view.addSystem(msg.body);
    this.#view.addChat(nick, msg.body, nick === this.#state.nick);
  };

  readonly #onMessage = (msg: ReceivedMessage): void => {
    if (!JID.equalBare(msg.from, this.#roomJid) || JID.getResource(msg.from)) return;
    // XEP-0045 §10.2.1: status 104 = room configuration changed (e.g. password set or removed).
    const codes = (msg as ReceivedMessage & { muc?: { statusCodes?: string[] } }).muc?.statusCodes ?? [];
    if (codes.includes("104")) void this.#admin.refreshLockState();
    const ann = parseMediaAnnouncement(msg.parleyMedia);
    if (ann) this.#dispatch({ type: "media", ann });
  };

  async #fetchMedia(): Promise<void> {
    try {
      const res = await this.#client.sendIQ({ to: this.#roomJid, type: "get", parleyMedia: {} });
      const ann = parseMediaAnnouncement(res.parleyMedia);
      if (ann) this.#dispatch({ type: "media", ann });
    } catch {
      /* the server may not support the query: we rely on announcements */
    }
  }

  // ---------------------------------------------------------------- local media

  #applyTrackEnabled(): void {
    for (const t of this.#camera.getAudioTracks()) t.enabled = this.#state.av.audio;
    for (const t of this.#camera.getVideoTracks()) t.enabled = this.#state.av.video;
  }

  /**
   * Put the current microphone and camera (or screen) tracks into what we send: on the direct sessions where they
   * changed (their m-lines always send, p2p.ts, so this is a replaceTrack), and on these bridge links (a new producer,
   * or a replaced track; the same track again changes nothing).
   */
  async #syncSendTracks(links: LinkId[] = []): Promise<void> {
    const want = { audio: this.#camera.getAudioTracks()[0], video: this.#screen?.getVideoTracks()[0] ?? this.#camera.getVideoTracks()[0] };
    this.#applyTrackEnabled();
    const changes: Array<Promise<unknown> | undefined> = [];
    for (const kind of ["audio", "video"] as const) {
      const track = want[kind] ?? null;
      const current = kind === "audio" ? this.#send.getAudioTracks() : this.#send.getVideoTracks();
      if (current.length !== (track ? 1 : 0) || (track && current[0] !== track)) {
        for (const t of current) this.#send.removeTrack(t);
        if (track) this.#send.addTrack(track);
        changes.push(this.#p2p?.replaceTrack(kind, track));
      }
      for (const id of links) changes.push(this.#links.get(id)?.replaceTrack(kind, track).catch((e: unknown) => console.warn("bridge track", e)));
    }
    await Promise.all(changes);
  }

  /** The hair check's devices became ready (after Join: a camera takes a moment to start), or changed. */
  #useDevices(stream: MediaStream): void {
    if (this.#state.left) return stopStream(stream);
    if (stream === this.#camera) return;
    this.#camera = stream;
    performance.mark("parley:devices-ready");
    this.#dispatch({ type: "devices", audio: stream.getAudioTracks().length > 0, video: stream.getVideoTracks().length > 0 });
    this.#view.refreshLocal(!this.#screen);
  }

  /** Another camera or microphone chosen during the call: it replaces the old one in what we send (#useDevices). */
  async #switchDevice(kind: "audioinput" | "videoinput", deviceId: string): Promise<void> {
    const audio = kind === "audioinput";
    let track: MediaStreamTrack | undefined;
    try {
      track = await openDevice(kind, deviceId);
    } catch {
      /* reported below */
    }
    if (!track) return this.#view.notify(`That ${audio ? "microphone" : "camera"} could not be started.`);
    const keep = audio ? this.#camera.getVideoTracks() : this.#camera.getAudioTracks();
    for (const t of audio ? this.#camera.getAudioTracks() : this.#camera.getVideoTracks()) t.stop();
    this.#useDevices(new MediaStream([track, ...keep]));
    savePrefs({ ...loadPrefs(), [audio ? "micId" : "cameraId"]: deviceId });
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
    if (!screen.getVideoTracks()[0]) return;
    this.#screen = screen;
    screen.getVideoTracks()[0]!.addEventListener("ended", () => void this.#stopScreen());
    this.#dispatch({ type: "screen", on: true });
    this.#view.setLocalStream(this.#send, false);
  }

  #stopScreen(): void {
    if (!this.#screen) return;
    stopStream(this.#screen);
    this.#screen = undefined;
    this.#dispatch({ type: "screen", on: false });
    this.#view.setLocalStream(this.#send, true);
  }
}
