/** Landing page: create a room with a readable random name, or go to one by name. */
import { clear, h } from "./dom";
import { normaliseRoomName, randomRoomName } from "./room-name";

export function renderLanding(root: HTMLElement, error?: string): void {
  clear(root);
  const input = h("input", {
    id: "room-name",
    name: "room",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: randomRoomName(),
    "aria-describedby": "room-help",
  });
  const problem = h("p", { class: "error", role: "alert" }, error ?? "");
  const go = (name: string) => location.assign(`/${name}`);
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: (ev) => {
        ev.preventDefault();
        const typed = input.value.trim();
        if (typed === "") return go(randomRoomName());
        const name = normaliseRoomName(typed);
        if (!name) {
          problem.textContent = "Use letters, digits and dashes for the room name.";
          input.focus();
          return;
        }
        go(name);
      },
    },
    h("label", { for: "room-name" }, "Room name"),
    h("div", { class: "row" }, input, h("button", { type: "submit", class: "primary" }, "Go to room")),
    h("p", { id: "room-help", class: "help" }, "Leave it empty for a new room with a random name. Anyone with the link can join, unless you lock the room."),
    problem,
  );
  root.append(
    h(
      "section",
      { class: "landing" },
      h("h1", {}, "Parley"),
      h("p", { class: "lead" }, "Private video calls in your browser. No account, no app, no tracking."),
      h("button", { type: "button", class: "primary big", onclick: () => go(randomRoomName()) }, "Start a new call"),
      form,
      h(
        "ul",
        { class: "facts" },
        h("li", {}, "Calls between two people go directly between your browsers, encrypted end to end (DTLS-SRTP)."),
        h("li", {}, "Larger calls go through a media bridge over encrypted connections."),
        h("li", {}, "Rooms and messages are not stored: when everyone leaves, the room is gone."),
      ),
    ),
  );
}
