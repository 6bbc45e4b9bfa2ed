/**
 * Drives the web app's call machine (workers/web/src/call/machine/) without a browser: events in, effects out, a
 * clock the test moves, and the machine's timers fired when their time comes (as the call shell would).
 */
import { step } from "../../../workers/web/src/call/machine/step";
import { initialState, type CallEffect, type CallEvent, type CallState, type TimerId } from "../../../workers/web/src/call/machine/types";
import type { AvState } from "../../../contract/media";

const ROOM = "room@conference.example";
export const jid = (nick: string): string => `${ROOM}/${nick}`;
const AV_ON: AvState = { audio: true, video: true, screen: false };

export type EffectOf<K extends CallEffect["kind"]> = Extract<CallEffect, { kind: K }>;

export class CallHarness {
  readonly s: CallState;
  now = 1_000_000;
  /** pending timers: when each fires */
  readonly timers = new Map<TimerId, number>();

  constructor(init: { want?: { audio: boolean; video: boolean }; devices?: { audio: boolean; video: boolean }; lobbyUrl?: string } = {}) {
    this.s = initialState({
      want: init.want ?? { audio: true, video: true },
      devices: init.devices ?? { audio: true, video: true },
      lobbyUrl: init.lobbyUrl,
    });
  }

  send(ev: CallEvent): CallEffect[] {
    const out = step(this.s, ev, { now: () => this.now });
    for (const e of out) {
      if (e.kind === "set-timer") this.timers.set(e.timer, this.now + e.ms);
      if (e.kind === "clear-timer") this.timers.delete(e.timer);
    }
    return out;
  }

  /** Move the clock on, firing every timer due meanwhile (in order); the effects of all of them. */
  advance(ms: number): CallEffect[] {
    const until = this.now + ms;
    const out: CallEffect[] = [];
    for (;;) {
      const due = [...this.timers].filter(([, at]) => at <= until).sort((a, b) => a[1] - b[1])[0];
      if (!due) break;
      this.now = due[1];
      this.timers.delete(due[0]);
      out.push(...this.send({ type: "timer", timer: due[0] }));
    }
    this.now = until;
    return out;
  }

  /** Join as `nick` into a room holding `others` (their presences come before ours, XEP-0045 §7.2.3). */
  join(nick: string, others: string[] = []): CallEffect[] {
    const out = this.send({ type: "join-sent", nick });
    out.push(...this.send({ type: "occupants-before-join", count: others.length }));
    for (const o of others) out.push(...this.send({ type: "occupant-available", nick: o, jid: jid(o), av: AV_ON }));
    out.push(...this.send({ type: "joined", nick, role: "participant", affiliation: "none" }));
    return out;
  }

  arrive(nick: string, av: AvState = AV_ON): CallEffect[] {
    return this.send({ type: "occupant-available", nick, jid: jid(nick), av });
  }

  /** A move to the bridge at `url`, linked and carrying: returns the link id. */
  onBridge(url = "wss://b1/room", grant = "g1"): number {
    const connect = only(this.send({ type: "media", ann: { mode: "bridge", url, grant } }), "bridge-connect");
    this.send({ type: "bridge-linked", attempt: connect.attempt, link: connect.link });
    this.send({ type: "bridge-carrying", attempt: connect.attempt, link: connect.link });
    return connect.link;
  }
}

export function ofKind<K extends CallEffect["kind"]>(out: CallEffect[], kind: K): Array<EffectOf<K>> {
  return out.filter((e): e is EffectOf<K> => e.kind === kind);
}

/** The one effect of this kind (fails if there is none or several). */
export function only<K extends CallEffect["kind"]>(out: CallEffect[], kind: K): EffectOf<K> {
  const all = ofKind(out, kind);
  if (all.length !== 1) throw new Error(`expected one ${kind}, got ${all.length}: ${JSON.stringify(out)}`);
  return all[0]!;
}

/** The last effect of this kind. */
export function last<K extends CallEffect["kind"]>(out: CallEffect[], kind: K): EffectOf<K> | undefined {
  return ofKind(out, kind).at(-1);
}
