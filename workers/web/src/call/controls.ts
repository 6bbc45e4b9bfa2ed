/**
 * The call screen's control bar: icon buttons with names and visible state (a crossed-out microphone or camera when
 * off), in-call device switching, the keyboard shortcuts and their help dialog.
 */
import { clear, h, setPressed } from "../dom";
import { canChooseSpeaker, listDevices } from "../local-media";
import { icon, setIcon, type IconName } from "./icons";

interface ControlActions {
  toggleMic(): void;
  toggleCamera(): void;
  toggleScreen(): void;
  toggleLayout(): void;
  toggleSide(): void;
  fullScreen(): void;
  focusChat(): void;
  copyLink(): void;
  lockClicked(): void;
  leave(): void;
  /** a camera or microphone chosen in the devices dialog */
  switchDevice(kind: "audioinput" | "videoinput", deviceId: string): void;
  switchSpeaker(deviceId: string): void;
  /** the devices in use now (to preselect them) */
  currentDevices(): { audioinput?: string; videoinput?: string; audiooutput?: string };
}

/** Keyboard shortcuts (single keys, ignored while typing in a field or with a modifier held). Listed in the help dialog. */
const SHORTCUTS: ReadonlyArray<{ key: string; what: string; run: keyof ControlActions | "help" }> = [
  { key: "m", what: "Microphone on or off", run: "toggleMic" },
  { key: "v", what: "Camera on or off", run: "toggleCamera" },
  { key: "d", what: "Share your screen, or stop", run: "toggleScreen" },
  { key: "w", what: "Grid or speaker view", run: "toggleLayout" },
  { key: "f", what: "Full screen for the focused tile (else the large one)", run: "fullScreen" },
  { key: "c", what: "Write a chat message", run: "focusChat" },
  { key: "p", what: "Show or hide people and chat", run: "toggleSide" },
  { key: "?", what: "This list", run: "help" },
];

function button(name: IconName, label: string, attrs: Record<string, string> = {}): HTMLButtonElement {
  return h("button", { type: "button", class: "ctl", ...attrs }, icon(name), h("span", { class: "label" }, label));
}

export class Controls {
  readonly el: HTMLElement;
  readonly mic = button("mic", "Microphone", { class: "ctl toggle", "aria-pressed": "true", "aria-keyshortcuts": "M" });
  readonly cam = button("camera", "Camera", { class: "ctl toggle", "aria-pressed": "true", "aria-keyshortcuts": "V" });
  readonly screen = button("screen", "Share screen", { "aria-pressed": "false", "aria-keyshortcuts": "D" });
  readonly layout = button("speaker", "Speaker view", { "aria-pressed": "false", "aria-keyshortcuts": "W" });
  readonly side = button("chat", "People and chat", { "aria-expanded": "true", "aria-controls": "call-side", "aria-keyshortcuts": "P" });
  readonly lock = button("lock", "Lock room", { hidden: "" });
  readonly #help: HTMLDialogElement;
  readonly #devices: HTMLDialogElement;
  readonly #selects = {
    videoinput: h("select", { id: "dev-camera" }),
    audioinput: h("select", { id: "dev-mic" }),
    audiooutput: h("select", { id: "dev-speaker" }),
  };

  constructor(
    readonly actions: ControlActions,
    extra: HTMLElement[],
  ) {
    const a = actions;
    this.mic.addEventListener("click", () => a.toggleMic());
    this.cam.addEventListener("click", () => a.toggleCamera());
    this.screen.addEventListener("click", () => a.toggleScreen());
    this.layout.addEventListener("click", () => a.toggleLayout());
    this.side.addEventListener("click", () => a.toggleSide());
    this.lock.addEventListener("click", () => a.lockClicked());
    if (!navigator.mediaDevices?.getDisplayMedia) this.screen.hidden = true;
    this.#help = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "keys-title" },
      h("h2", { id: "keys-title" }, "Keyboard shortcuts"),
      h(
        "table",
        {},
        h("tbody", {}, ...SHORTCUTS.map((s) => h("tr", {}, h("td", {}, h("kbd", {}, s.key.toUpperCase())), h("td", {}, s.what)))),
      ),
      h("p", {}, "Tab moves between controls; Enter or Space presses a button; Escape closes this dialog."),
      h("form", { method: "dialog" }, h("button", { type: "submit" }, "Close")),
    );
    const field = (id: string, label: string, sel: HTMLSelectElement) => h("div", { class: "field" }, h("label", { for: id }, label), sel);
    this.#devices = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "devices-title" },
      h("h2", { id: "devices-title" }, "Devices"),
      field("dev-camera", "Camera", this.#selects.videoinput),
      field("dev-mic", "Microphone", this.#selects.audioinput),
      canChooseSpeaker() ? field("dev-speaker", "Speaker", this.#selects.audiooutput) : null,
      h("form", { method: "dialog" }, h("button", { type: "submit" }, "Done")),
    );
    this.#selects.videoinput.addEventListener("change", () => a.switchDevice("videoinput", this.#selects.videoinput.value));
    this.#selects.audioinput.addEventListener("change", () => a.switchDevice("audioinput", this.#selects.audioinput.value));
    this.#selects.audiooutput.addEventListener("change", () => a.switchSpeaker(this.#selects.audiooutput.value));
    const devicesBtn = button("devices", "Devices");
    devicesBtn.addEventListener("click", () => void this.#openDevices());
    const copy = button("link", "Copy link");
    copy.addEventListener("click", () => a.copyLink());
    const keys = button("keyboard", "Keyboard shortcuts", { "aria-keyshortcuts": "Shift+?" });
    keys.addEventListener("click", () => this.#help.showModal());
    const leave = button("leave", "Leave", { class: "ctl danger" });
    leave.addEventListener("click", () => a.leave());
    this.el = h(
      "footer",
      { class: "controls" },
      // Leave stays outside the part that scrolls sideways on a phone: always in reach.
      h(
        "div",
        { class: "ctl-main" },
        h("div", { class: "ctl-group" }, this.mic, this.cam, this.screen),
        h("div", { class: "ctl-group" }, this.layout, this.side, devicesBtn, copy, this.lock, ...extra, keys),
      ),
      leave,
      this.#help,
      this.#devices,
    );
  }

  setAv(av: { audio: boolean; video: boolean; screen: boolean }): void {
    setPressed(this.mic, av.audio);
    setIcon(this.mic, "mic", !av.audio);
    setPressed(this.cam, av.video);
    setIcon(this.cam, "camera", !av.video);
    setPressed(this.screen, av.screen);
    this.#setLabel(this.screen, av.screen ? "Stop sharing" : "Share screen");
  }

  setLayout(speaker: boolean): void {
    setPressed(this.layout, speaker);
  }

  setSideOpen(open: boolean): void {
    this.side.setAttribute("aria-expanded", String(open));
  }

  setLockLabel(text: string): void {
    this.#setLabel(this.lock, text);
  }

  #setLabel(btn: HTMLButtonElement, text: string): void {
    const label = btn.querySelector(".label");
    if (label) label.textContent = text;
  }

  async #openDevices(): Promise<void> {
    const devices = await listDevices();
    const current = this.actions.currentDevices();
    const fill = (kind: "videoinput" | "audioinput" | "audiooutput", list: MediaDeviceInfo[], fallback: string) => {
      const sel = this.#selects[kind];
      clear(sel);
      list.forEach((d, i) => sel.append(h("option", { value: d.deviceId }, d.label || `${fallback} ${i + 1}`)));
      if (current[kind]) sel.value = current[kind]!;
      sel.disabled = list.length === 0;
    };
    fill("videoinput", devices.cameras, "Camera");
    fill("audioinput", devices.mics, "Microphone");
    fill("audiooutput", devices.speakers, "Speaker");
    this.#devices.showModal();
  }

  /** The page-wide key handler: a shortcut's action, unless the person is typing or a dialog is open. */
  onKey(ev: KeyboardEvent): void {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    const t = ev.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
    if (t instanceof HTMLElement && t.isContentEditable) return;
    if (this.#help.open || this.#devices.open) return;
    const s = SHORTCUTS.find((x) => x.key === ev.key.toLowerCase());
    if (!s) return;
    ev.preventDefault();
    if (s.run === "help") return this.#help.showModal();
    const run = this.actions[s.run] as () => void;
    run.call(this.actions);
  }
}
