/**
 * The room's stanzas in the call (part of the call shell, call.ts): joining as a nick (XEP-0045 §7.2), occupants'
 * presences (§7.2.3, with their a/v state and MLS identity), chat (§7.4), status messages (§10.2.1) and the media
 * announcements and queries of `urn:parley:media:0` (contract/media.ts). Each becomes a machine event; what follows
 * from it is the machine's decision (machine/step.ts).
 */
import type { Agent } from "stanza";
import * as JID from "stanza/JID";
import type { ReceivedMessage, ReceivedMUCPresence, ReceivedPresence } from "stanza/protocol";
import type { AvState } from "../../../../contract/media";
import type { CallEvent } from "./machine/types";
import { avFromWire, avToWire, parseMediaAnnouncement } from "./parley-ns";
import { occupantCount, withTimeout } from "./room-admin";
import type { CallView } from "./view";

/** How long a join presence may wait for the room's answer. */
const JOIN_ANSWER_MS = 15_000;
/** How long leaving waits for the room's answer to our unavailable presence before it ends the stream anyway. */
const LEAVE_ANSWER_MS = 2000;
/** How many nicks a join tries ("Ann", "Ann (2)", …) while the room says the nick is in use. */
const NICK_ATTEMPTS = 5;

function randomToken(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** What the room's stanzas need from the call. */
export interface RoomHost {
  /** our nick in the room (the machine's state) */
  nick(): string;
  dispatch(ev: CallEvent): void;
  view: CallView;
  /** the room's configuration changed: ask its lock state again */
  configChanged(): void;
  /** an occupant's presence with the MLS identity it announces (undefined: none), or its departure (null) */
  occupantIdentity(nick: string, identity: string | undefined | null): void;
}

/** What a join presence carries besides the nick. */
export interface JoinPresence {
  password: string | undefined;
  av: AvState;
  mls: { parleyMls?: { identity: string } };
}

export class RoomStanzas {
  /** Sent in our join presence: a rejoin with it gets our place in the room back (muc-resume.ts). Never shown. */
  readonly #resumeToken = randomToken();

  constructor(
    readonly client: Agent,
    readonly roomJid: string,
    readonly host: RoomHost,
  ) {}

  listen(on: boolean): void {
    const c = this.client;
    if (on) {
      c.on("muc:available", this.#onAvailable);
      c.on("muc:unavailable", this.#onUnavailable);
      c.on("groupchat", this.#onGroupchat);
      c.on("message", this.#onMessage);
    } else {
      c.off("muc:available", this.#onAvailable);
      c.off("muc:unavailable", this.#onUnavailable);
      c.off("groupchat", this.#onGroupchat);
      c.off("message", this.#onMessage);
    }
  }

  /**
   * Join as `base`, or as "base (2)" and so on while the room says the nick is in use (XEP-0045 §7.2.9): "ok", or
   * the last attempt's error condition ("conflict": every nick tried is in use).
   */
  async enter(base: string, joinAs: (nick: string) => Promise<"ok" | string>): Promise<"ok" | string> {
    let r = "conflict";
    for (let attempt = 0; attempt < NICK_ATTEMPTS && r === "conflict"; attempt++) {
      r = await joinAs(attempt === 0 ? base : `${base} (${attempt + 1})`);
    }
    return r;
  }

  /** Send the join presence and wait for the self-presence ("ok") or an error (its condition). */
  async join(nick: string, p: JoinPresence): Promise<"ok" | string> {
    const { dispatch } = this.host;
    dispatch({ type: "join-sent", nick });
    // Asked right before the join presence (same socket, answered in order, so known before any occupant's
    // presence arrives): with exactly one occupant, its presence is the whole roster and the call can start then.
    void this.client
      .getDiscoInfo(this.roomJid)
      .then((info) => {
        const count = occupantCount(info.extensions);
        if (count !== undefined) dispatch({ type: "occupants-before-join", count });
      })
      .catch(() => undefined);
    performance.mark("parley:join-sent");
    try {
      const pres = await withTimeout(
        this.client.joinRoom(this.roomJid, nick, {
          muc: { type: "join", password: p.password || undefined, history: { maxStanzas: 20 } },
          parleyAv: avToWire(p.av),
          parleyResume: { token: this.#resumeToken },
          ...p.mls,
        }),
        JOIN_ANSWER_MS,
        "the room did not answer",
      );
      performance.mark("parley:joined");
      dispatch({
        type: "joined",
        nick: JID.getResource(pres.from) ?? nick,
        role: pres.muc.role ?? "participant",
        affiliation: pres.muc.affiliation ?? "none",
      });
      return "ok";
    } catch (e) {
      const pres = e as ReceivedPresence & { error?: { condition?: string } };
      if (e instanceof Error) return e.message;
      return pres.error?.condition ?? "unknown";
    }
  }

  /** Leave the room (if `joined`, waiting a moment for the room's answer) and end the stream. */
  async leave(joined: boolean): Promise<void> {
    try {
      if (joined) await withTimeout(this.client.leaveRoom(this.roomJid, this.host.nick()), LEAVE_ANSWER_MS, "leave timeout");
    } catch {
      /* leaving anyway */
    }
    await Promise.resolve(this.client.disconnect()).catch(() => undefined);
  }

  /**
   * The page is going away: best effort, the unavailable presence and <close/> go out before it is gone, without
   * waiting for anything; the server also removes occupants whose socket drops.
   */
  leaveNow(): void {
    this.client.sendPresence({ to: `${this.roomJid}/${this.host.nick()}`, type: "unavailable" });
    void this.client.disconnect();
  }

  /** Our a/v state (and MLS identity) to the room. */
  sendAv(av: AvState, mls: { parleyMls?: { identity: string } }): void {
    this.client.sendPresence({ to: `${this.roomJid}/${this.host.nick()}`, parleyAv: avToWire(av), ...mls });
  }

  sendChat(text: string): void {
    this.client.sendMessage({ to: this.roomJid, type: "groupchat", body: text });
  }

  /** Ask the room for its media path now (it may have announced it before we listened). */
  async fetchMedia(): Promise<void> {
    try {
      const res = await this.client.sendIQ({ to: this.roomJid, type: "get", parleyMedia: {} });
      const ann = parseMediaAnnouncement(res.parleyMedia);
      if (ann) this.host.dispatch({ type: "media", ann });
    } catch {
      /* the server may not support the query: we rely on announcements */
    }
  }

  /** Tell the room its bridge at `url` does not answer us. */
  reportBridge(url: string): void {
    void this.client.sendIQ({ to: this.roomJid, type: "set", parleyMedia: { unreachable: url } }).catch(() => undefined);
  }

  readonly #onAvailable = (pres: ReceivedMUCPresence): void => {
    if (!JID.equalBare(pres.from, this.roomJid)) return;
    const nick = JID.getResource(pres.from);
    if (!nick) return;
    if (nick === this.host.nick()) return this.host.dispatch({ type: "self-presence", role: pres.muc.role, affiliation: pres.muc.affiliation });
    this.host.occupantIdentity(nick, pres.parleyMls?.identity);
    const av = avFromWire(pres.parleyAv) ?? { audio: true, video: true, screen: false };
    this.host.dispatch({ type: "occupant-available", nick, jid: pres.from, av });
  };

  readonly #onUnavailable = (pres: ReceivedMUCPresence): void => {
    if (!JID.equalBare(pres.from, this.roomJid)) return;
    const nick = JID.getResource(pres.from);
    if (!nick) return;
    const codes = pres.muc.statusCodes ?? [];
    // XEP-0045 §9.1.1: status 307 = kicked; 110 = this presence is about us.
    if (nick === this.host.nick() && codes.includes("110")) {
      this.host.dispatch({ type: "self-unavailable", kicked: codes.includes("307"), destroyed: !!pres.muc.destroy });
      return;
    }
    this.host.occupantIdentity(nick, null);
    this.host.dispatch({ type: "occupant-unavailable", nick, kicked: codes.includes("307") });
  };

  readonly #onGroupchat = (msg: ReceivedMessage): void => {
    if (!JID.equalBare(msg.from, this.roomJid) || !msg.body) return;
    const nick = JID.getResource(msg.from);
    if (!nick) return this.host.view.addSystem(msg.body);
    this.host.view.addChat(nick, msg.body, nick === this.host.nick());
  };

  readonly #onMessage = (msg: ReceivedMessage): void => {
    if (!JID.equalBare(msg.from, this.roomJid) || JID.getResource(msg.from)) return;
    // XEP-0045 §10.2.1: status 104 = room configuration changed (e.g. password set or removed).
    const codes = (msg as ReceivedMessage & { muc?: { statusCodes?: string[] } }).muc?.statusCodes ?? [];
    if (codes.includes("104")) this.host.configChanged();
    const ann = parseMediaAnnouncement(msg.parleyMedia);
    if (ann) this.host.dispatch({ type: "media", ann });
  };
}
