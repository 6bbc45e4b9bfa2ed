/**
 * Each participant's streams on the two media paths, and which one is on screen: the machine's mode decides, with
 * make-before-break on screen (a new path's stream replaces the old one only once it carries media). Part of the
 * call shell (call.ts); it reports "every participant is connected and shown directly" back to the machine.
 */
import * as JID from "stanza/JID";
import type { CallEvent, CallState } from "./machine/types";
import type { MediaMode } from "../../../../contract/media";
import type { SpeakerSource } from "./speaker";
import { tileSizes } from "./tile-sizes";
import type { CallView } from "./view";

/** A participant's streams, one per path. */
interface Streams {
  p2p?: MediaStream;
  bridge?: MediaStream;
}

export interface StreamsHost {
  state: CallState;
  view: CallView;
  speaker: SpeakerSource;
  /** occupant JIDs whose direct session has connected media */
  connectedPeers(): string[];
  dispatch(ev: CallEvent): void;
}

export class RemoteStreams {
  readonly #streams = new Map<string, Streams>();

  constructor(readonly host: StreamsHost) {}

  /** A stream from one path (undefined: that path's stream ended). */
  set(peerJid: string, stream: MediaStream | undefined, path: MediaMode): void {
    const nick = JID.getResource(peerJid) ?? peerJid;
    if (!this.host.state.participants.has(nick)) return;
    let s = this.#streams.get(nick);
    if (!s) this.#streams.set(nick, (s = {}));
    if (path === "p2p") s.p2p = stream;
    else s.bridge = stream;
    this.show(nick);
  }

  forget(nick: string): void {
    this.#streams.delete(nick);
    tileSizes.forget(nick);
  }

  /** The bridge is gone: show everyone's direct stream. */
  bridgeGone(): void {
    for (const [nick, s] of this.#streams) {
      s.bridge = undefined;
      this.show(nick);
    }
  }

  showAll(): void {
    for (const nick of this.host.state.participants.keys()) this.show(nick);
  }

  show(nick: string): void {
    const { state, view, speaker } = this.host;
    const p = state.participants.get(nick);
    if (!p) return;
    const { p2p, bridge } = this.#streams.get(nick) ?? {};
    // Back on direct, a direct stream replaces the bridge's only once its session carries media (make-before-break):
    // a direct session's stream exists from its offer or answer on, before anything flows.
    const direct = p2p && (!bridge || this.host.connectedPeers().includes(p.jid)) ? p2p : undefined;
    const s = state.mode === "bridge" ? (bridge ?? p2p) : (direct ?? bridge ?? p2p);
    // Once it is on screen, the other path may go (make-before-break: checkDirect, Links.connect). Its element's
    // rendered size goes to the bridge (tile-sizes.ts): the element may be a new one now.
    void view.setRemoteStream(nick, s ?? null).then((shown) => {
      if (!shown) return;
      tileSizes.watch(nick, view.remoteVideos().get(nick));
      this.checkDirect();
    });
    speaker.set(nick, s ?? null);
  }

  /** A direct session's connection state changed: its stream may now be the one to show, and the bridge may go. */
  directChanged(peerJid: string): void {
    const nick = JID.getResource(peerJid);
    if (nick) this.show(nick);
    this.checkDirect();
  }

  /** Back on direct with the bridge still up: is everyone connected and shown directly? Then the bridge can go. */
  checkDirect(): void {
    const { state, view } = this.host;
    if (state.mode !== "p2p" || !state.bridge || state.left) return;
    const connected = new Set(this.host.connectedPeers());
    const direct = (nick: string, jid: string) => {
      const p2p = this.#streams.get(nick)?.p2p;
      return connected.has(jid) && (!p2p || view.onScreen(nick) === p2p);
    };
    if ([...state.participants.values()].every((p) => direct(p.nick, p.jid))) this.host.dispatch({ type: "direct-carrying" });
  }

  /** Has everyone's direct stream got its replacement through the bridge: on screen, and with sound if it had sound? */
  everyoneOnBridge(): boolean {
    return [...this.host.state.participants.keys()].every((nick) => {
      const { p2p, bridge } = this.#streams.get(nick) ?? {};
      if (!p2p) return true;
      return !!bridge && this.host.view.onScreen(nick) === bridge && (p2p.getAudioTracks().length === 0 || bridge.getAudioTracks().length > 0);
    });
  }
}
