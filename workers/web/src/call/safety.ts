/**
 * The safety code on the call screen (docs/e2ee-protocol.md §3, §5): a button in the call's header opens a panel with
 * the current MLS epoch's code and who is in the MLS group. Everyone in the same epoch sees the same code, and it
 * changes with every join and leave; people who compare it (read aloud, say) know they share the keys with exactly
 * the members listed. The list matches the group's members with the room's occupants by the identity each occupant
 * announces in its presence:
 *   - a member no occupant announces is flagged as not in the room (a "ghost": someone the server added to the keys);
 *   - an occupant whose identity is not in the group after GRACE_MS is flagged as not in the group (it cannot read
 *     our media, and may be shown something else).
 *
 * Keyboard: the button opens and closes the panel (Enter or Space); Escape in the panel or on the button closes it
 * and leaves the focus on the button.
 *
 * Test contract: `[data-safety-code]` holds the code as text (empty while not in a group); each member row has
 * `data-member="<identity>"`, and `data-ghost` when it is flagged; an occupant flagged as not in the group has
 * `data-not-in-group`.
 */
import { h } from "../dom";
import type { GroupKeySource } from "../e2ee/keys";

/** How long an occupant may be outside the group before it is flagged: one commit round trip, plus the room asking another committer (3 s) twice. */
const GRACE_MS = 10_000;

export class SafetyPanel {
  readonly root: HTMLElement;
  readonly #button = h("button", { type: "button", class: "safety-button", "aria-expanded": "false", "aria-controls": "safety-panel" }, "Safety code");
  readonly #panel = h("div", { id: "safety-panel", class: "safety-panel", hidden: true, role: "region", "aria-label": "Safety code" });
  readonly #code = h("code", { class: "safety-code", "data-safety-code": "" });
  readonly #list = h("ul", { class: "safety-members", "aria-label": "In the encryption group" });
  readonly #keys: GroupKeySource;
  readonly #selfIdentity: () => string | undefined;
  /** occupant nick -> identity announced in its presence (undefined: none), and since when it is outside the group */
  readonly #occupants = new Map<string, { identity: string | undefined; outsideSince: number | undefined }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #now: () => number;

  constructor(keys: GroupKeySource, selfIdentity: () => string | undefined, now: () => number = () => Date.now()) {
    this.#now = now;
    this.#keys = keys;
    this.#selfIdentity = selfIdentity;
    this.#button.addEventListener("click", () => this.#show(this.#panel.hidden));
    const escape = (ev: KeyboardEvent): void => {
      if (ev.key !== "Escape" || this.#panel.hidden) return;
      ev.preventDefault();
      this.#show(false);
      this.#button.focus();
    };
    this.#button.addEventListener("keydown", escape);
    this.#panel.addEventListener("keydown", escape);
    this.#panel.append(
      h("p", {}, "Compare this code with everyone in the call. If it is the same for all, nobody else can see or hear you."),
      this.#code,
      h("p", { class: "safety-members-label", "aria-hidden": "true" }, "In the encryption group:"),
      this.#list,
    );
    this.root = h("div", { class: "safety" }, this.#button, this.#panel);
    this.update();
  }

  #show(open: boolean): void {
    this.#panel.hidden = !open;
    this.#button.setAttribute("aria-expanded", String(open));
  }

  /** An occupant's presence (with the identity it announces), or its departure (`identity` null). */
  setOccupant(nick: string, identity: string | undefined | null): void {
    if (identity === null) this.#occupants.delete(nick);
    else {
      const prev = this.#occupants.get(nick);
      this.#occupants.set(nick, { identity, outsideSince: prev && prev.identity === identity ? prev.outsideSince : undefined });
    }
    this.update();
  }

  /** Redraw from the key source (call it on every epoch change). */
  update(): void {
    const code = this.#keys.safetyCode() ?? "";
    this.#code.textContent = code;
    const members = this.#keys.members();
    const inGroup = new Set(members.map((m) => m.identity));
    const self = this.#selfIdentity();
    const byIdentity = new Map<string, string>();
    for (const [nick, o] of this.#occupants) if (o.identity) byIdentity.set(o.identity, nick);
    const rows: HTMLElement[] = [];
    for (const m of members) {
      const nick = m.identity === self ? "You" : byIdentity.get(m.identity);
      const ghost = nick === undefined;
      rows.push(
        h(
          "li",
          { "data-member": m.identity, ...(ghost ? { "data-ghost": "", class: "flagged" } : {}) },
          ghost ? `Not in the room: ${m.identity}` : nick,
        ),
      );
    }
    const now = this.#now();
    let nextCheck: number | undefined;
    for (const [nick, o] of this.#occupants) {
      const outside = !code || !o.identity || !inGroup.has(o.identity);
      if (!outside) {
        o.outsideSince = undefined;
        continue;
      }
      o.outsideSince ??= now;
      const flagAt = o.outsideSince + GRACE_MS;
      if (now >= flagAt) rows.push(h("li", { "data-not-in-group": "", class: "flagged" }, `${nick}: not in the encryption group`));
      else nextCheck = Math.min(nextCheck ?? flagAt, flagAt);
    }
    this.#list.replaceChildren(...rows);
    const flagged = rows.some((r) => r.classList.contains("flagged"));
    this.#button.classList.toggle("flagged", flagged);
    // the warning is in the button's name too, not only in its colour (WCAG 1.4.1)
    this.#button.textContent = `Safety code${code ? ` ${code.slice(0, 5)}…` : ""}${flagged ? " (check who is in the group)" : ""}`;
    clearTimeout(this.#timer);
    if (nextCheck !== undefined) this.#timer = setTimeout(() => this.update(), nextCheck - now + 50);
  }

  close(): void {
    clearTimeout(this.#timer);
  }
}
