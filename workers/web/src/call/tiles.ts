/**
 * One participant's tile on the call stage: the video, the name with crossed-out microphone/camera icons, and
 * per-tile controls (pin, full screen; for others also mute and hide video, on this page only).
 *
 * Test contract: the tile is `[data-tile]` (the nick, or empty for our own); the `<video>` inside has
 * `data-participant="<nick>"` (ours `data-local`); the active speaker's tile has `data-active-speaker`.
 */
import { h } from "../dom";
import { icon, setIcon } from "./icons";
import { fitFor, type Rect } from "./layout";
import type { AvState } from "./parley-ns";

/** An incoming stream whose first frame does not come (its sender's camera just went off, say) is shown anyway. */
const INCOMING_MAX_MS = 3000;

interface TileActions {
  pin(key: string): void;
}

export class Tile {
  readonly el: HTMLElement;
  video: HTMLVideoElement;
  readonly #name = h("span", { class: "tile-name" });
  /** the state in words (for screen readers and tests); the icons beside it show the same */
  readonly #state = h("span", { class: "tile-state" });
  readonly #micOff = h("span", { class: "tile-icon", hidden: true }, icon("mic", true));
  readonly #camOff = h("span", { class: "tile-icon", hidden: true }, icon("camera", true));
  readonly #avatar = h("span", { class: "avatar", "aria-hidden": "true" });
  readonly #pinBtn: HTMLButtonElement;
  readonly #fullBtn: HTMLButtonElement;
  readonly #muteBtn?: HTMLButtonElement;
  readonly #hideBtn?: HTMLButtonElement;
  #label = "";
  #mutedForMe = false;
  /** The next stream, playing muted behind `video` until its first frame is on screen (setStream). */
  #incoming?: { video: HTMLVideoElement; waiters: Array<(onScreen: boolean) => void>; done(onScreen: boolean): void };

  constructor(
    readonly key: string,
    readonly local: boolean,
    actions: TileActions,
    readonly sink: () => string | undefined,
  ) {
    this.video = this.#makeVideo(local ? { "data-local": "" } : { "data-participant": key });
    this.video.muted = local;
    const tool = (name: Parameters<typeof icon>[0], onclick: () => void) =>
      h("button", { type: "button", class: "tile-button", onclick }, icon(name));
    this.#pinBtn = tool("pin", () => actions.pin(key));
    this.#pinBtn.setAttribute("aria-pressed", "false");
    this.#fullBtn = tool("fullscreen", () => void this.#fullScreen());
    const tools = h("div", { class: "tile-tools" }, this.#pinBtn, this.#fullBtn);
    if (!local) {
      this.#muteBtn = tool("volume", () => this.#setMutedForMe(!this.#mutedForMe));
      this.#muteBtn.setAttribute("aria-pressed", "false");
      this.#hideBtn = tool("eye", () => this.#setHidden(!this.el.classList.contains("hidden-video")));
      this.#hideBtn.setAttribute("aria-pressed", "false");
      tools.append(this.#muteBtn, this.#hideBtn);
    }
    if (!document.fullscreenEnabled) this.#fullBtn.hidden = true;
    this.el = h(
      "figure",
      { class: "tile" + (local ? " local" : ""), "data-tile": local ? "" : key },
      this.video,
      this.#avatar,
      h("figcaption", {}, this.#micOff, this.#camOff, this.#name, this.#state),
      tools,
    );
    this.setLabel(local ? "You" : key);
  }

  setLabel(label: string): void {
    this.#label = label;
    this.#name.textContent = label;
    this.#avatar.textContent = (label.trim()[0] ?? "?").toUpperCase();
    const who = this.local ? "your picture" : label;
    this.#pinBtn.setAttribute("aria-label", `Pin ${who}`);
    this.#fullBtn.setAttribute("aria-label", `Full screen: ${who}`);
    this.#muteBtn?.setAttribute("aria-label", `Mute ${label} for me`);
    this.#hideBtn?.setAttribute("aria-label", `Hide ${label}'s video`);
  }

  setAv(av: AvState): void {
    this.#state.textContent = describeAv(av);
    this.#micOff.hidden = av.audio;
    this.#camOff.hidden = av.video || av.screen;
    this.el.classList.toggle("video-off", !av.video && !av.screen);
    this.el.classList.toggle("screen", av.screen);
    this.el.setAttribute("data-audio", av.audio ? "on" : "off");
  }

  setPinned(pinned: boolean): void {
    this.#pinBtn.setAttribute("aria-pressed", String(pinned));
    this.el.classList.toggle("pinned", pinned);
  }

  setActive(active: boolean): void {
    this.el.classList.toggle("speaking", active);
    this.el.toggleAttribute("data-active-speaker", active);
  }

  /** Position on the stage (undefined: not shown in this layout). */
  place(r: Rect | undefined, role: "main" | "strip" | "grid" | "pip"): void {
    this.el.hidden = !r;
    if (!r) return;
    Object.assign(this.el.style, { left: `${r.x}px`, top: `${r.y}px`, width: `${r.w}px`, height: `${r.h}px` });
    this.el.setAttribute("data-role", role);
    this.el.setAttribute("data-fit", fitFor(r));
  }

  async #fullScreen(): Promise<void> {
    if (document.fullscreenElement === this.el) await document.exitFullscreen().catch(() => undefined);
    else await this.el.requestFullscreen().catch(() => undefined);
  }

  toggleFullScreen(): void {
    void this.#fullScreen();
  }

  #setMutedForMe(muted: boolean): void {
    this.#mutedForMe = muted;
    this.video.muted = muted;
    if (this.#muteBtn) {
      this.#muteBtn.setAttribute("aria-pressed", String(muted));
      setIcon(this.#muteBtn, "volume", muted);
    }
    this.el.classList.toggle("muted-for-me", muted);
  }

  #setHidden(hidden: boolean): void {
    this.el.classList.toggle("hidden-video", hidden);
    if (this.#hideBtn) {
      this.#hideBtn.setAttribute("aria-pressed", String(hidden));
      setIcon(this.#hideBtn, "eye", hidden);
    }
  }

  #makeVideo(attrs: Record<string, string | boolean | undefined>): HTMLVideoElement {
    const video = h("video", { autoplay: true, playsinline: true, ...attrs });
    const id = this.sink();
    if (id) void setSink(video, id);
    return video;
  }

  setSink(id: string): void {
    for (const v of [this.video, this.#incoming?.video]) if (v) void setSink(v, id);
  }

  /** Is this tile showing video now (a live track, a frame presented, the camera not marked off)? */
  #showsVideo(): boolean {
    const s = this.video.srcObject;
    const track = s instanceof MediaStream ? s.getVideoTracks()[0] : undefined;
    return !!track && track.readyState === "live" && this.video.videoWidth > 0 && !this.el.classList.contains("video-off");
  }

  /**
   * Show `stream`. Resolves true once it is on screen, false if another stream or the tile's removal came first.
   *
   * Make-before-break on screen: when the tile shows video and the new stream has video too (a switch between the
   * direct path and the bridge), the new stream plays in a second, muted element behind the current one, and takes
   * its place at its first presented frame. Setting it on the same element instead would tear down that element's
   * player and show nothing (or a frozen frame) while a new one starts: a few hundred milliseconds on a busy machine.
   */
  setStream(stream: MediaStream | null): Promise<boolean> {
    const pending = this.#incoming;
    if (pending) {
      if (pending.video.srcObject === stream) return new Promise((resolve) => pending.waiters.push(resolve));
      pending.done(false);
    }
    if (this.video.srcObject === stream) return Promise.resolve(true);
    const video = stream?.getVideoTracks()[0];
    if (!stream || !video || video.readyState !== "live" || !this.#showsVideo()) {
      this.#show(this.video, stream);
      return Promise.resolve(true);
    }
    const next = this.#makeVideo({ class: "incoming", muted: true });
    next.muted = true; // its sound starts when it is shown (the current element still plays the same voice)
    next.srcObject = stream;
    this.el.prepend(next);
    void next.play().catch(() => undefined);
    return new Promise<boolean>((resolve) => {
      const incoming = {
        video: next,
        waiters: [resolve],
        done: (onScreen: boolean): void => {
          if (this.#incoming !== incoming) return;
          this.#incoming = undefined;
          clearTimeout(timer);
          if (onScreen) {
            const old = this.video;
            old.srcObject = null;
            old.remove();
            next.classList.remove("incoming");
            next.setAttribute("data-participant", this.key);
            next.muted = this.#mutedForMe;
            this.video = next;
            performance.mark(`parley:first-frame:${this.key}`);
          } else {
            next.srcObject = null;
            next.remove();
          }
          for (const w of incoming.waiters) w(onScreen);
        },
      };
      this.#incoming = incoming;
      const timer = setTimeout(() => incoming.done(true), INCOMING_MAX_MS);
      next.requestVideoFrameCallback?.(() => incoming.done(true));
    });
  }

  #show(el: HTMLVideoElement, stream: MediaStream | null): void {
    el.srcObject = stream;
    if (!stream) return;
    void el.play().catch(() => undefined);
    // Diagnostics (performance timeline): when this participant's first frame is on screen.
    el.requestVideoFrameCallback?.(() => performance.mark(`parley:first-frame:${this.key}`));
  }

  /** The stream on the tile now (not one still waiting behind it for its first frame). */
  onScreen(): MediaStream | null {
    const s = this.video.srcObject;
    return s instanceof MediaStream ? s : null;
  }

  remove(): void {
    this.#incoming?.done(false);
    this.video.srcObject = null;
    this.el.remove();
  }

  get label(): string {
    return this.#label;
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
