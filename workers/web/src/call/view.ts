/**
 * The call screen's DOM: participant tiles, controls, participants list, chat. No call logic here: call.ts
 * drives it through these methods and reacts to the callbacks.
 *
 * Test contract (the end-to-end tests and `npm run bench:call` rely on it): each remote `<video>` has `data-participant="<nick>"`, the local one `data-local`;
 * an element with `data-media-mode` holds `p2p` or `bridge`, and its `data-e2ee` is `on` while media is end-to-end
 * encrypted with the group's keys (either path), `off` otherwise; chat is a `role="log"` region with an input labelled
 * "Message".
 */
import { clear, h, setPressed } from "../dom";
import type { AvState, MediaMode } from "./parley-ns";

export interface ViewCallbacks {
  toggleMic(): void;
  toggleCamera(): void;
  toggleScreen(): void;
  sendChat(text: string): void;
  lock(password: string): void;
  unlock(): void;
  kick(nick: string): void;
  leave(): void;
}

interface Tile {
  el: HTMLElement;
  video: HTMLVideoElement;
  name: HTMLElement;
  state: HTMLElement;
  /** The next stream, playing muted behind `video` until its first frame is on screen (setRemoteStream). */
  incoming?: { video: HTMLVideoElement; waiters: Array<(onScreen: boolean) => void>; done(onScreen: boolean): void };
}

/** An incoming stream whose first frame does not come (its sender's camera just went off, say) is shown anyway. */
const INCOMING_MAX_MS = 3000;

/** Is this element showing video now (a live track, a frame presented, the camera not marked off)? */
function showsVideo(tile: Tile): boolean {
  const s = tile.video.srcObject;
  const track = s instanceof MediaStream ? s.getVideoTracks()[0] : undefined;
  return !!track && track.readyState === "live" && tile.video.videoWidth > 0 && !tile.el.classList.contains("video-off");
}

export class CallView {
  readonly root: HTMLElement;
  readonly #cb: ViewCallbacks;
  readonly #stage = h("div", { class: "stage", "aria-label": "Participants' video" });
  readonly #tiles = new Map<string, Tile>();
  readonly #local: Tile;
  /** a scroll of the chat to its end is scheduled (#scrollLog) */
  #logScroll = false;
  readonly #mode = h("span", { class: "media-mode", "data-media-mode": "p2p", "data-e2ee": "off", role: "status" });
  #modeNow: { mode: MediaMode; alone: boolean } = { mode: "p2p", alone: false };
  /** Media frames are encrypted end to end with the group's keys (e2ee/call-encryption.ts), on either path. */
  #e2ee = false;
  readonly #conn = h("span", { class: "conn-state", role: "status", hidden: true });
  readonly #lockState = h("span", { class: "lock-state" });
  readonly #people = h("ul", { class: "people", "aria-label": "Participants" });
  readonly #log = h("div", { class: "chat-log", role: "log", "aria-label": "Chat", "aria-live": "polite" });
  readonly #chatInput = h("input", { id: "chat-input", autocomplete: "off", maxlength: 2000 });
  readonly #chatSend = h("button", { type: "submit" }, "Send");
  readonly #micBtn = h("button", { type: "button", class: "toggle", "aria-pressed": "true" }, "Microphone");
  readonly #camBtn = h("button", { type: "button", class: "toggle", "aria-pressed": "true" }, "Camera");
  readonly #screenBtn = h("button", { type: "button", class: "share", "aria-pressed": "false" }, "Share screen");
  readonly #lockBtn = h("button", { type: "button", hidden: true }, "Lock room");
  readonly #lockForm: HTMLFormElement;
  readonly #lockInput = h("input", { id: "lock-password", type: "password", autocomplete: "new-password", minlength: 1 });
  readonly #notice = h("p", { class: "notice", role: "alert" });
  /** self-contained parts of the header added by the call (the safety code, call/safety.ts) */
  readonly #headExtra = h("span", { class: "head-extra" });
  #canKick = false;
  #selfNick = "";
  #locked = false;
  #speakerId: string | undefined;

  /** Put a self-contained element (e.g. the safety code, call/safety.ts) in the call's header. */
  addToHeader(el: HTMLElement): void {
    this.#headExtra.append(el);
  }

  constructor(room: string, cb: ViewCallbacks) {
    this.#cb = cb;
    this.#local = this.#makeTile("You", true);
    this.#stage.append(this.#local.el);
    this.#micBtn.addEventListener("click", () => cb.toggleMic());
    this.#camBtn.addEventListener("click", () => cb.toggleCamera());
    this.#screenBtn.addEventListener("click", () => cb.toggleScreen());
    if (!navigator.mediaDevices?.getDisplayMedia) this.#screenBtn.hidden = true;
    this.#lockForm = h(
      "form",
      {
        class: "lock-form",
        hidden: true,
        onsubmit: (ev) => {
          ev.preventDefault();
          const pw = this.#lockInput.value;
          if (!pw) return this.#lockInput.focus();
          this.#lockForm.hidden = true;
          cb.lock(pw);
          this.#lockInput.value = "";
        },
      },
      h("label", { for: "lock-password" }, "New room password"),
      this.#lockInput,
      h("button", { type: "submit" }, "Set password"),
      h("button", { type: "button", onclick: () => (this.#lockForm.hidden = true) }, "Cancel"),
    );
    this.#lockBtn.addEventListener("click", () => {
      if (this.#locked) cb.unlock();
      else {
        this.#lockForm.hidden = false;
        this.#lockInput.focus();
      }
    });
    const copyBtn = h("button", { type: "button" }, "Copy link");
    copyBtn.addEventListener("click", () => {
      const url = location.origin + "/" + room;
      const ok = () => this.notify("Link copied. Anyone with it can join" + (this.#locked ? " with the password." : "."));
      if (navigator.clipboard?.writeText) navigator.clipboard.writeText(url).then(ok, () => this.notify(url));
      else this.notify(url);
    });
    const chatForm = h(
      "form",
      {
        class: "chat-form",
        onsubmit: (ev) => {
          ev.preventDefault();
          const text = this.#chatInput.value.trim();
          if (!text || this.#chatSend.disabled) return;
          cb.sendChat(text);
          this.#chatInput.value = "";
        },
      },
      h("label", { for: "chat-input" }, "Message"),
      this.#chatInput,
      this.#chatSend,
    );
    this.root = h(
      "section",
      { class: "call" },
      h(
        "header",
        { class: "call-head" },
        h("h1", {}, room),
        this.#mode,
        this.#headExtra,
        this.#lockState,
        this.#conn,
      ),
      this.#notice,
      h("div", { class: "call-body" }, this.#stage, h("aside", { class: "side" }, h("h2", {}, "People"), this.#people, h("h2", {}, "Chat"), this.#log, chatForm)),
      h(
        "footer",
        { class: "controls" },
        this.#micBtn,
        this.#camBtn,
        this.#screenBtn,
        copyBtn,
        this.#lockBtn,
        this.#lockForm,
        h("button", { type: "button", class: "danger", onclick: () => cb.leave() }, "Leave"),
      ),
    );
    this.setMediaMode("p2p", false);
  }

  #makeTile(label: string, local: boolean, nick?: string): Tile {
    const video = this.#makeVideo(local ? { "data-local": "", muted: true } : { "data-participant": nick });
    if (local) video.muted = true;
    const name = h("span", { class: "tile-name" }, label);
    const state = h("span", { class: "tile-state" });
    const el = h("figure", { class: "tile" + (local ? " local" : "") }, video, h("figcaption", {}, name, state));
    return { el, video, name, state };
  }

  #makeVideo(attrs: Record<string, string | boolean | undefined>): HTMLVideoElement {
    const video = h("video", { autoplay: true, playsinline: true, ...attrs });
    if (this.#speakerId) void setSink(video, this.#speakerId);
    return video;
  }

  setLocalStream(stream: MediaStream, mirrored: boolean): void {
    if (this.#local.video.srcObject !== stream) this.#local.video.srcObject = stream;
    this.#local.el.classList.toggle("mirrored", mirrored);
  }

  /** Our own tracks changed inside the same stream (devices that became ready): show them. */
  refreshLocal(mirrored: boolean): void {
    const v = this.#local.video;
    const stream = v.srcObject;
    v.srcObject = null;
    v.srcObject = stream;
    void v.play().catch(() => undefined);
    this.#local.el.classList.toggle("mirrored", mirrored);
  }

  setSelf(nick: string, canKick: boolean, isOwner: boolean): void {
    this.#selfNick = nick;
    this.#local.name.textContent = `${nick} (you)`;
    this.#canKick = canKick;
    this.#lockBtn.hidden = !isOwner;
  }

  setLocalAv(av: AvState): void {
    setPressed(this.#micBtn, av.audio);
    setPressed(this.#camBtn, av.video);
    setPressed(this.#screenBtn, av.screen);
    this.#screenBtn.textContent = av.screen ? "Stop sharing" : "Share screen";
    this.#local.state.textContent = describeAv(av);
    this.#local.el.classList.toggle("video-off", !av.video && !av.screen);
  }

  upsertParticipant(nick: string, av: AvState): void {
    let tile = this.#tiles.get(nick);
    if (!tile) {
      tile = this.#makeTile(nick, false, nick);
      this.#tiles.set(nick, tile);
      this.#stage.append(tile.el);
    }
    tile.state.textContent = describeAv(av);
    tile.el.classList.toggle("video-off", !av.video && !av.screen);
    tile.el.setAttribute("data-audio", av.audio ? "on" : "off");
    this.#renderPeople();
  }

  removeParticipant(nick: string): void {
    const tile = this.#tiles.get(nick);
    if (!tile) return;
    tile.incoming?.done(false);
    tile.video.srcObject = null;
    tile.el.remove();
    this.#tiles.delete(nick);
    this.#renderPeople();
  }

  /**
   * Show `stream` on `nick`'s tile. Resolves true once it is on screen, false if another stream or the participant's
   * departure came first.
   *
   * Make-before-break on screen: when the tile shows video and the new stream has video too (a switch between the
   * direct path and the bridge), the new stream plays in a second, muted element behind the current one, and takes
   * its place at its first presented frame. Setting it on the same element instead would tear down that element's
   * player and show nothing (or a frozen frame) while a new one starts: a few hundred milliseconds on a busy machine.
   */
  setRemoteStream(nick: string, stream: MediaStream | null): Promise<boolean> {
    const tile = this.#tiles.get(nick);
    if (!tile) return Promise.resolve(false);
    const pending = tile.incoming;
    if (pending) {
      if (pending.video.srcObject === stream) return new Promise((resolve) => pending.waiters.push(resolve));
      pending.done(false);
    }
    if (tile.video.srcObject === stream) return Promise.resolve(true);
    const video = stream?.getVideoTracks()[0];
    if (!stream || !video || video.readyState !== "live" || !showsVideo(tile)) {
      this.#show(nick, tile.video, stream);
      return Promise.resolve(true);
    }
    const next = this.#makeVideo({ class: "incoming", muted: true });
    next.muted = true; // its sound starts when it is shown (the current element still plays the same voice)
    next.srcObject = stream;
    tile.el.prepend(next);
    void next.play().catch(() => undefined);
    return new Promise<boolean>((resolve) => {
      const incoming = {
        video: next,
        waiters: [resolve],
        done: (onScreen: boolean): void => {
          if (tile.incoming !== incoming) return;
          tile.incoming = undefined;
          clearTimeout(timer);
          if (onScreen) {
            const old = tile.video;
            old.srcObject = null;
            old.remove();
            next.classList.remove("incoming");
            next.setAttribute("data-participant", nick);
            next.muted = false;
            tile.video = next;
            performance.mark(`parley:first-frame:${nick}`);
          } else {
            next.srcObject = null;
            next.remove();
          }
          for (const w of incoming.waiters) w(onScreen);
        },
      };
      tile.incoming = incoming;
      const timer = setTimeout(() => incoming.done(true), INCOMING_MAX_MS);
      next.requestVideoFrameCallback?.(() => incoming.done(true));
    });
  }

  #show(nick: string, el: HTMLVideoElement, stream: MediaStream | null): void {
    el.srcObject = stream;
    if (!stream) return;
    void el.play().catch(() => undefined);
    // Diagnostics (performance timeline): when this participant's first frame is on screen.
    el.requestVideoFrameCallback?.(() => performance.mark(`parley:first-frame:${nick}`));
  }

  /** The stream on `nick`'s tile now (not one still waiting behind it for its first frame). */
  onScreen(nick: string): MediaStream | null {
    const s = this.#tiles.get(nick)?.video.srcObject;
    return s instanceof MediaStream ? s : null;
  }

  remoteVideos(): Map<string, HTMLVideoElement> {
    return new Map([...this.#tiles].map(([n, t]) => [n, t.video]));
  }

  setSpeaker(deviceId: string | undefined): void {
    this.#speakerId = deviceId;
    if (!deviceId) return;
    for (const t of this.#tiles.values()) for (const v of [t.video, t.incoming?.video]) if (v) void setSink(v, deviceId);
  }

  setActiveSpeaker(nick: string | undefined): void {
    for (const [n, t] of this.#tiles) t.el.classList.toggle("speaking", n === nick);
    this.#local.el.classList.toggle("speaking", nick === this.#selfNick && nick !== undefined);
  }

  setMediaMode(mode: MediaMode, alone: boolean): void {
    this.#modeNow = { mode, alone };
    this.#mode.setAttribute("data-media-mode", mode);
    this.#mode.setAttribute("data-e2ee", this.#e2ee ? "on" : "off");
    const path = mode === "p2p" ? "Direct" : "Via the bridge";
    this.#mode.textContent = this.#e2ee
      ? `${path} · Encrypted end to end${mode === "p2p" && alone ? " (waiting for others)" : ""}`
      : mode === "p2p"
        ? alone
          ? "Direct · encrypted (waiting for others)"
          : "Direct · encrypted end to end"
        : "Via the bridge · encrypted in transit";
    this.#mode.title = this.#e2ee
      ? mode === "p2p"
        ? "Every audio and video frame is encrypted in the browser with keys only the people in this call hold, and sent directly between browsers (or through a TURN relay)."
        : "Every audio and video frame is encrypted in the browser with keys only the people in this call hold: Parley's media bridge forwards frames it cannot read."
      : mode === "p2p"
        ? "Audio and video go directly between browsers (or through a TURN relay that cannot decrypt them), encrypted with DTLS-SRTP."
        : "Audio and video go through Parley's media bridge, encrypted on each hop (DTLS-SRTP). The bridge forwards media and does not record it.";
  }

  /** Media is (or is no longer) end-to-end encrypted with the group's keys: `[data-e2ee]` and the badge follow. */
  setE2ee(on: boolean): void {
    this.#e2ee = on;
    this.setMediaMode(this.#modeNow.mode, this.#modeNow.alone);
  }

  setConnection(state: "connected" | "reconnecting" | "failed", detail?: string): void {
    this.#conn.hidden = state === "connected";
    // Messages typed while the connection is down would be lost: keep them in the input until it is back.
    this.#chatSend.disabled = state !== "connected";
    this.#conn.setAttribute("data-state", state);
    this.#conn.textContent = state === "reconnecting" ? "Reconnecting…" : state === "failed" ? `Disconnected${detail ? `: ${detail}` : ""}` : "";
  }

  setLocked(locked: boolean): void {
    this.#locked = locked;
    this.#lockState.textContent = locked ? "Locked" : "";
    this.#lockState.hidden = !locked;
    this.#lockBtn.textContent = locked ? "Unlock room" : "Lock room";
  }

  addChat(from: string, text: string, self: boolean): void {
    const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    this.#log.append(
      h("p", { class: "chat-line" + (self ? " self" : "") }, h("span", { class: "chat-from" }, from), " ", h("span", { class: "chat-text" }, text), " ", h("time", {}, time)),
    );
    this.#scrollLog();
  }

  addSystem(text: string): void {
    this.#log.append(h("p", { class: "chat-line system" }, text));
    this.#scrollLog();
  }

  /**
   * Scroll the chat to its end at the next frame, not now: reading scrollHeight right after appending forces a
   * layout in the middle of handling the stanza ("carol joined." arrives with the room's move to the bridge; on a
   * busy machine that forced layout holds up the rest of the switch). At the frame, the layout is done anyway.
   */
  #scrollLog(): void {
    if (this.#logScroll) return;
    this.#logScroll = true;
    requestAnimationFrame(() => {
      this.#logScroll = false;
      this.#log.scrollTop = this.#log.scrollHeight;
    });
  }

  notify(text: string): void {
    this.#notice.textContent = text;
  }

  #renderPeople(): void {
    clear(this.#people);
    this.#people.append(h("li", {}, `${this.#selfNick} (you)`));
    for (const nick of [...this.#tiles.keys()].sort()) {
      const li = h("li", {}, nick);
      if (this.#canKick) {
        li.append(" ", h("button", { type: "button", class: "small", "aria-label": `Remove ${nick}`, onclick: () => this.#cb.kick(nick) }, "Remove"));
      }
      this.#people.append(li);
    }
  }

  refreshPeople(): void {
    this.#renderPeople();
  }
}

function describeAv(av: AvState): string {
  const parts: string[] = [];
  if (!av.audio) parts.push("muted");
  if (av.screen) parts.push("sharing screen");
  else if (!av.video) parts.push("camera off");
  return parts.join(", ");
}

async function setSink(el: HTMLVideoElement, id: string): Promise<void> {
  const m = el as HTMLVideoElement & { setSinkId?: (id: string) => Promise<void> };
  await m.setSinkId?.(id).catch(() => undefined);
}

export function renderLeft(root: HTMLElement, room: string, reason: string): void {
  clear(root);
  root.append(
    h(
      "section",
      { class: "left card" },
      h("h1", {}, reason),
      h("p", {}, h("a", { href: `/${room}` }, "Rejoin"), " · ", h("a", { href: "/" }, "Start another call")),
    ),
  );
}
