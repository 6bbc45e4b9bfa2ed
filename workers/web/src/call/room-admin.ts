/**
 * The room's side of a call that is not media: the lock (XEP-0045 §10.2 room secret), kicking (§8.2), the join's
 * error conditions in plain words (§7.2), and small promise helpers the call shell shares.
 */
import type { Agent } from "stanza";
import type { CallView } from "./view";

/** XEP-0045 §7.2: errors a join can end with, in plain words. */
export function joinErrorText(condition: string | undefined): string {
  switch (condition) {
    case "service-unavailable":
      return "The room is full.";
    case "forbidden":
      return "You are not allowed in this room.";
    case "not-allowed":
      return "This room can't be created.";
    case "registration-required":
      return "This room is members-only.";
    case "jid-malformed":
      return "That name can't be used. Try another.";
    default:
      return `The room refused the join${condition ? ` (${condition})` : ""}.`;
  }
}

/** XEP-0045 §15.5.4: the muc#roominfo_occupants field of a room's disco#info, if present. */
export function occupantCount(forms: ReadonlyArray<{ fields?: Array<{ name?: string; value?: unknown }> }> | undefined): number | undefined {
  for (const form of forms ?? []) {
    const v = form.fields?.find((f) => f.name === "muc#roominfo_occupants")?.value;
    const n = typeof v === "string" ? Number(v) : NaN;
    if (Number.isInteger(n) && n >= 0) return n;
  }
  return undefined;
}

function errorCondition(e: unknown): string {
  const c = (e as { error?: { condition?: string } } | undefined)?.error?.condition;
  return c ? ` (${c})` : "";
}

export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e); // keep the original: a MUC error presence carries the XEP-0045 condition
      },
    );
  });
}

/** Moderation and the lock, for the call's buttons. */
export class RoomAdmin {
  constructor(
    readonly client: Agent,
    readonly roomJid: string,
    readonly view: CallView,
    /** The room password changed (we rejoin with it after a reconnect). */
    readonly passwordChanged: (password: string | undefined) => void,
  ) {}

  async refreshLockState(): Promise<void> {
    try {
      const info = await this.client.getDiscoInfo(this.roomJid);
      this.view.setLocked((info.features ?? []).includes("muc_passwordprotected"));
    } catch {
      /* unknown: leave as is */
    }
  }

  /** XEP-0045 §10.2: the owner sets (or clears, with "") the room secret via the muc#owner configuration form. */
  async configurePassword(password: string): Promise<void> {
    try {
      await this.client.getRoomConfig(this.roomJid).catch(() => undefined);
      await this.client.configureRoom(this.roomJid, {
        type: "submit",
        fields: [
          { name: "FORM_TYPE", type: "hidden", value: "http://jabber.org/protocol/muc#roomconfig" },
          { name: "muc#roomconfig_passwordprotectedroom", type: "boolean", value: password !== "" },
          { name: "muc#roomconfig_roomsecret", type: "text-private", value: password },
        ],
      });
      this.passwordChanged(password || undefined);
      this.view.setLocked(password !== "");
      this.view.addSystem(password ? "You locked the room with a password." : "You unlocked the room.");
    } catch (e) {
      this.view.notify(`Could not change the room password${errorCondition(e)}.`);
    }
  }

  /** XEP-0045 §8.2: a moderator kicks by setting the occupant's role to none. */
  async kick(nick: string): Promise<void> {
    try {
      await this.client.kick(this.roomJid, nick, "Removed by a moderator");
    } catch (e) {
      this.view.notify(`Could not remove ${nick}${errorCondition(e)}.`);
    }
  }
}
