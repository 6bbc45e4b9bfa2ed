/**
 * The call screen's DOM: the stage with participant tiles (tiles.ts) in a grid, speaker or screen-share layout
 * (layout.ts), the control bar (controls.ts), the people list and chat. No call logic here: call.ts drives it through
 * these methods and reacts to the callbacks.
 *
 * Test contract (the end-to-end tests and `npm run bench:call` rely on it): the stage is `[data-stage]` with
 * `data-layout` = `grid`, `speaker` or `share`; each tile is `[data-tile]` (tiles.ts); each remote `<video>` has
 * `data-participant="<nick>"`, the local one `data-local`; the active speaker's tile has `data-active-speaker`; an
 * element with `data-media-mode` holds `p2p` or `bridge`, and its `data-e2ee` is `on` while media is end-to-end
 * encrypted with the group's keys (either path), `off` otherwise; chat is a `role="log"` region with an input labelled
 * "Message"; joins, leaves and others' chat messages are announced in a `role="status"` region.
 */
import { clear, h } from "../dom";
import { Controls } from "./controls";
import { chooseLayout, placeTiles, SELF } from "./layout";
import type { AvState, MediaMode } from "./parley-ns";
import { SidePanel } from "./side";
import { Tile } from "./tiles";

export interface ViewCallbacks {
  toggleMic(): void;
  toggleCamera(): void;
  toggleScreen(): void;
  switchDevice(kind: "audioinput" | "videoinput", deviceId: string): void;
  switchSpeaker(deviceId: string): void;
  sendChat(text: string): void;
  lock(password: string): void;
  unlock(): void;
  kick(nick: string): void;
  leave(): void;
}

/** Narrow or short windows (phones, upright or turned) start with people and chat closed: the stage needs the room. */
const COMPACT = "(max-width: 50rem), (max-height: 30rem)";
/** How long a join, leave or chat notice stays on screen (it stays in the chat log). */
const TOAST_MS = 5000;

export class CallView {
  readonly root: HTMLElement;
  readonly #cb: ViewCallbacks;
  readonly #stage = h("div", { class: "stage", "data-stage": "", "data-layout": "grid", role: "region", "aria-label": "Participants' video" });
  readonly #tiles = new Map<string, Tile>();
  readonly #local: Tile;
  readonly #mode = h("span", { class: "media-mode", "data-media-mode": "p2p", "data-e2ee": "off", role: "status" });
  #modeNow: { mode: MediaMode; alone: boolean } = { mode: "p2p", alone: false };
  /** Media frames are encrypted end to end with the group's keys (e2ee/call-encryption.ts), on either path. */
  #e2ee = false;
  readonly #av = new Map<string, AvState>();
  readonly #controls: Controls;
  #layoutQueued = false;
  readonly #conn = h("span", { class: "conn-state", role: "status", hidden: true });
  readonly #lockState = h("span", { class: "lock-state" });
  readonly #announcer = h("div", { class: "toast", role: "status", "aria-live": "polite" });
  readonly #side: SidePanel;
  readonly #lockForm: HTMLFormElement;
  readonly #lockInput = h("input", { id: "lock-password", type: "password", autocomplete: "new-password", minlength: 1 });
  readonly #notice = h("p", { class: "notice", role: "alert" });
  /** self-contained parts of the header added by the call (the safety code, call/safety.ts) */
  readonly #headExtra = h("span", { class: "head-extra" });
  #canKick = false;
  #selfNick = "";
  #locked = false;
  #speakerId: string | undefined;
  #pinned: string | undefined;
  #preferSpeaker = false;
  #active: string | undefined;
  #lastSpeaker: string | undefined;
  #toastTimer: ReturnType<typeof setTimeout> | undefined;
  #localStream: MediaStream | undefined;

  /** Put a self-contained element (e.g. the safety code, call/safety.ts) in the call's header. */
  addToHeader(el: HTMLElement): void {
    this.#headExtra.append(el);
  }

  constructor(room: string, cb: ViewCallbacks) {
    this.#cb = cb;
    this.#local = this.#makeTile(SELF, true);
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
    this.#controls = new Controls(
      {
        toggleMic: () => cb.toggleMic(),
        toggleCamera: () => cb.toggleCamera(),
        toggleScreen: () => cb.toggleScreen(),
        toggleLayout: () => {
          this.#preferSpeaker = !this.#preferSpeaker;
          this.#pinned = undefined;
          this.#relayout();
        },
        toggleSide: () => this.#setSide(this.#side.el.hidden),
        fullScreen: () => {
          const focused = [...this.#tiles.values(), this.#local].find((t) => t.el.contains(document.activeElement));
          const main = this.#stage.querySelector<HTMLElement>('[data-role="main"]')?.getAttribute("data-tile");
          (focused ?? (main !== undefined && main !== null ? this.#tile(main) : undefined) ?? this.#tile(this.#active ?? SELF))?.toggleFullScreen();
        },
        focusChat: () => {
          this.#setSide(true);
          this.#side.focusInput();
        },
        copyLink: () => this.#copyLink(room),
        lockClicked: () => {
          if (this.#locked) cb.unlock();
          else {
            this.#lockForm.hidden = false;
            this.#lockInput.focus();
          }
        },
        leave: () => cb.leave(),
        switchDevice: (kind, id) => cb.switchDevice(kind, id),
        switchSpeaker: (id) => {
          this.setSpeaker(id);
          cb.switchSpeaker(id);
        },
        currentDevices: () => ({
          audioinput: this.#localStream?.getAudioTracks()[0]?.getSettings().deviceId,
          videoinput: this.#localStream?.getVideoTracks()[0]?.getSettings().deviceId,
          audiooutput: this.#speakerId,
        }),
      },
      [this.#lockForm],
    );
    this.#side = new SidePanel(cb);
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
      h("div", { class: "call-body" }, this.#stage, this.#side.el, this.#announcer),
      this.#controls.el,
    );
    // Shortcuts work wherever the focus is on the page (also on the body, after a click on the stage).
    document.addEventListener("keydown", (ev) => {
      if (this.root.isConnected) this.#controls.onKey(ev);
    });
    const compact = matchMedia(COMPACT);
    this.#setSide(!compact.matches);
    compact.addEventListener("change", () => this.#setSide(!compact.matches));
    new ResizeObserver(() => this.#relayout()).observe(this.#stage);
    this.setMediaMode("p2p", false);
  }

  #makeTile(key: string, local: boolean): Tile {
    const tile = new Tile(key, local, { pin: (k) => this.#pin(k) }, () => this.#speakerId);
    this.#stage.append(tile.el);
    return tile;
  }

  #tile(key: string): Tile | undefined {
    return key === SELF ? this.#local : this.#tiles.get(key);
  }

  #pin(key: string): void {
    this.#pinned = this.#pinned === key ? undefined : key;
    this.#relayout();
  }

  #setSide(open: boolean): void {
    this.#side.el.hidden = !open;
    this.#controls.setSideOpen(open);
  }

  /** Lay the tiles out at the next frame (several changes at once cost one layout). */
  #relayout(): void {
    if (this.#layoutQueued) return;
    this.#layoutQueued = true;
    requestAnimationFrame(() => {
      this.#layoutQueued = false;
      this.#layout();
    });
  }

  #layout(): void {
    const remotes = [...this.#tiles.keys()];
    const sharing = remotes.filter((n) => this.#av.get(n)?.screen);
    const choice = chooseLayout({
      remotes,
      sharing,
      pinned: this.#pinned,
      preferred: this.#preferSpeaker ? "speaker" : "grid",
      activeSpeaker: this.#active,
      lastSpeaker: this.#lastSpeaker,
    });
    this.#stage.setAttribute("data-layout", choice.kind);
    this.#controls.setLayout(choice.kind === "speaker");
    const rects = placeTiles(choice, [SELF, ...remotes], this.#stage.clientWidth, this.#stage.clientHeight);
    for (const t of [this.#local, ...this.#tiles.values()]) {
      const role = choice.kind === "grid" ? (choice.pip && t.local ? "pip" : "grid") : t.key === choice.main ? "main" : "strip";
      t.place(rects.get(t.key), role);
      t.setPinned(this.#pinned === t.key);
    }
  }

  setLocalStream(stream: MediaStream, mirrored: boolean): void {
    this.#localStream = stream;
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
    this.#local.setLabel(`${nick} (you)`);
    this.#canKick = canKick;
    this.#controls.lock.hidden = !isOwner;
    this.#renderPeople();
  }

  setLocalAv(av: AvState): void {
    this.#controls.setAv(av);
    this.#local.setAv(av);
    this.#av.set(SELF, av);
    this.#renderPeople();
  }

  upsertParticipant(nick: string, av: AvState): void {
    let tile = this.#tiles.get(nick);
    if (!tile) {
      tile = this.#makeTile(nick, false);
      this.#tiles.set(nick, tile);
    }
    tile.setAv(av);
    this.#av.set(nick, av);
    this.#renderPeople();
    this.#relayout();
  }

  removeParticipant(nick: string): void {
    const tile = this.#tiles.get(nick);
    if (!tile) return;
    tile.remove();
    this.#tiles.delete(nick);
    this.#av.delete(nick);
    if (this.#pinned === nick) this.#pinned = undefined;
    this.#renderPeople();
    this.#relayout();
  }

  /** Show `stream` on `nick`'s tile (tiles.ts: make-before-break). Resolves true once it is on screen. */
  setRemoteStream(nick: string, stream: MediaStream | null): Promise<boolean> {
    return this.#tiles.get(nick)?.setStream(stream) ?? Promise.resolve(false);
  }

  /** The stream on `nick`'s tile now (not one still waiting behind it for its first frame). */
  onScreen(nick: string): MediaStream | null {
    return this.#tiles.get(nick)?.onScreen() ?? null;
  }

  /** Each remote participant's video element (tile-sizes.ts reports their rendered sizes to the bridge). */
  remoteVideos(): Map<string, HTMLVideoElement> {
    return new Map([...this.#tiles].map(([n, t]) => [n, t.video]));
  }

  setSpeaker(deviceId: string | undefined): void {
    this.#speakerId = deviceId;
    if (!deviceId) return;
    for (const t of this.#tiles.values()) t.setSink(deviceId);
  }

  /** Who speaks now (speaker.ts, or later the bridge's announcement); undefined: nobody. */
  setActiveSpeaker(nick: string | undefined): void {
    const key = nick !== undefined && nick === this.#selfNick ? SELF : nick;
    this.#active = key;
    if (key !== undefined && key !== SELF) this.#lastSpeaker = key;
    for (const t of [this.#local, ...this.#tiles.values()]) t.setActive(key !== undefined && t.key === key);
    if (this.#preferSpeaker) this.#relayout();
  }

  setMediaMode(mode: MediaMode, alone: boolean): void {
    this.#modeNow = { mode, alone };
    this.#mode.setAttribute("data-media-mode", mode);
    this.#mode.setAttribute("data-e2ee", this.#e2ee ? "on" : "off");
    const path = mode === "p2p" ? "Direct" : "Via the bridge";
    this.#mode.textContent = this.#e2ee
      ? `${path} · Encrypted end to end${mode === "p2p" && alone ? " (waiting for others)" : ""}`
      : `${path} · Encrypted in transit${mode === "p2p" && alone ? " (waiting for others)" : ""}`;
    this.#mode.title = this.#e2ee
      ? mode === "p2p"
        ? "Every audio and video frame is encrypted in the browser with keys only the people in this call hold, and sent directly between browsers (or through a TURN relay)."
        : "Every audio and video frame is encrypted in the browser with keys only the people in this call hold: Parley's media bridge forwards frames it cannot read."
      : mode === "p2p"
        ? "Audio and video go directly between browsers (or through a TURN relay that cannot decrypt them), encrypted with DTLS-SRTP, whose keys are not checked end to end."
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
    this.#side.setSendEnabled(state === "connected");
    this.#conn.setAttribute("data-state", state);
    this.#conn.textContent = state === "reconnecting" ? "Reconnecting…" : state === "failed" ? `Disconnected${detail ? `: ${detail}` : ""}` : "";
  }

  setLocked(locked: boolean): void {
    this.#locked = locked;
    this.#lockState.textContent = locked ? "Locked" : "";
    this.#lockState.hidden = !locked;
    this.#controls.setLockLabel(locked ? "Unlock room" : "Lock room");
  }

  addChat(from: string, text: string, self: boolean): void {
    this.#side.addChat(from, text, self);
    if (!self) this.#announce(`${from} says: ${text}`);
  }

  addSystem(text: string): void {
    this.#side.addSystem(text);
    this.#announce(text);
  }

  /** Say it through the live region (screen readers) and show it briefly on screen (people and chat may be closed). */
  #announce(text: string): void {
    this.#announcer.textContent = text;
    clearTimeout(this.#toastTimer);
    this.#toastTimer = setTimeout(() => (this.#announcer.textContent = ""), TOAST_MS);
  }

  notify(text: string): void {
    this.#notice.textContent = text;
  }

  #copyLink(room: string): void {
    const url = location.origin + "/" + room;
    const ok = () => this.notify("Link copied. Anyone with it can join" + (this.#locked ? " with the password." : "."));
    if (navigator.clipboard?.writeText) navigator.clipboard.writeText(url).then(ok, () => this.notify(url));
    else this.notify(url);
  }

  #renderPeople(): void {
    this.#side.renderPeople(this.#selfNick, [...this.#tiles.keys()], this.#av, this.#canKick);
  }
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
