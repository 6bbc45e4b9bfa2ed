/**
 * The call screen's side panel: everyone in the room by name (us included) with their microphone and camera state,
 * and the text chat. The chat log is not a live region itself: view.ts announces joins, leaves and messages in one
 * status region, which also works while the panel is closed (hidden) on a phone.
 */
import { clear, h } from "../dom";
import { icon } from "./icons";
import { SELF } from "./layout";
import type { AvState } from "./parley-ns";

export class SidePanel {
  readonly el: HTMLElement;
  readonly #people = h("ul", { class: "people", "aria-label": "Participants" });
  readonly #log = h("div", { class: "chat-log", role: "log", "aria-label": "Chat", "aria-live": "off", tabindex: "0" });
  readonly #input = h("input", { id: "chat-input", autocomplete: "off", maxlength: 2000 });
  readonly #send = h("button", { type: "submit" }, "Send");
  /** a scroll of the chat to its end is scheduled (#scrollLog) */
  #logScroll = false;

  constructor(readonly cb: { sendChat(text: string): void; kick(nick: string): void }) {
    const chatForm = h(
      "form",
      {
        class: "chat-form",
        onsubmit: (ev) => {
          ev.preventDefault();
          const text = this.#input.value.trim();
          if (!text || this.#send.disabled) return;
          cb.sendChat(text);
          this.#input.value = "";
        },
      },
      h("label", { for: "chat-input" }, "Message"),
      this.#input,
      this.#send,
    );
    this.el = h(
      "aside",
      { class: "side", id: "call-side", "aria-label": "People and chat" },
      h("h2", {}, "People"),
      this.#people,
      h("h2", {}, "Chat"),
      this.#log,
      chatForm,
    );
  }

  focusInput(): void {
    this.#input.focus();
  }

  /** Messages typed while the connection is down would be lost: they stay in the input until it is back. */
  setSendEnabled(enabled: boolean): void {
    this.#send.disabled = !enabled;
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

  /** Everyone by name, us first, with their microphone and camera state as icons (the tiles say it in words). */
  renderPeople(selfNick: string, others: string[], av: ReadonlyMap<string, AvState>, canKick: boolean): void {
    clear(this.#people);
    const row = (name: string, state: AvState | undefined, extra?: Node) => {
      const li = h("li", {}, h("span", { class: "person-name" }, name));
      if (state && !state.audio) li.append(h("span", { class: "person-icon", role: "img", "aria-label": "microphone off" }, icon("mic", true)));
      if (state && !state.video && !state.screen) li.append(h("span", { class: "person-icon", role: "img", "aria-label": "camera off" }, icon("camera", true)));
      if (extra) li.append(extra);
      this.#people.append(li);
    };
    row(selfNick ? `${selfNick} (you)` : "You", av.get(SELF));
    for (const nick of [...others].sort()) {
      const kick = canKick ? h("button", { type: "button", class: "small", "aria-label": `Remove ${nick}`, onclick: () => this.cb.kick(nick) }, "Remove") : undefined;
      row(nick, av.get(nick), kick);
    }
  }
}
