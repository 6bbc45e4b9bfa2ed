/**
 * Drives the pure room core (durable/core/step.ts) without a Durable Object: connections are plain ConnState
 * records, effects are rendered into per-connection outboxes exactly as room-do.ts would send them.
 */
import type { Deps } from "../../../durable/core/deps";
import { renderFor, type Effect } from "../../../durable/core/effects";
import { handleDisconnect, handleFrame, newRuntime, type Limits, type Runtime } from "../../../durable/core/step";
import { addConn, fullJid, newRoom, type ConnState, type RoomState } from "../../../durable/core/state";
import { escapeAttr, parseFrame, type XmlElement } from "../../../durable/xmpp/xml";

export interface Harness {
  rt: Runtime;
  clock: { now: number };
  outbox: Map<string, string[]>;
  closed: Map<string, { code: number; reason: string }>;
  effects: Effect[];
  /** add a connection in phase "init" */
  open(id: string, opts?: { domain?: string; ipKey?: string }): ConnState;
  /** add a bound connection (phase ready) */
  ready(id: string, opts?: { domain?: string; ipKey?: string }): ConnState;
  /** feed a frame; returns (and consumes) the frames sent to *this* connection by this step */
  send(id: string, xml: string): Promise<string[]>;
  drop(id: string): void;
  /** take all frames queued for a connection */
  take(id: string): string[];
  /** join room/nick and return the frames it received */
  join(id: string, nick: string, extra?: string): Promise<string[]>;
}

/**
 * Render effects exactly as room-do.ts sends them: "send" frames and "fanout" templates (rendered per recipient)
 * go to `box(conn)`, "close" is reported to `onClose`; persistence effects carry no frames.
 */
export function applyEffects(
  room: RoomState,
  effects: readonly Effect[],
  box: (conn: string) => string[],
  onClose: (conn: string, code: number, reason: string) => void,
): void {
  for (const e of effects) {
    switch (e.kind) {
      case "send":
        box(e.conn).push(e.xml);
        break;
      case "fanout": {
        const cache = new Map<string, [string, string | null]>();
        for (const id of e.conns) {
          const c = room.conns.get(id);
          if (c) box(id).push(renderFor(e.tpl, escapeAttr(fullJid(c)), c.domain, cache));
        }
        break;
      }
      case "close":
        onClose(e.conn, e.code, e.reason);
        break;
      case "save-conn":
      case "save-room":
      case "save-pw-failure":
      case "save-mls":
      case "occupants-changed":
      case "sessions-changed":
      case "bridge-unreachable":
        break;
      default:
        throw new Error(`unknown effect ${JSON.stringify(e satisfies never)}`);
    }
  }
}

/** A room where alice (conn "a", the creator, so owner) and bob (conn "b") have joined; alice's frames so far are taken. */
export async function aliceAndBob(opts?: Parameters<typeof harness>[0]): Promise<Harness> {
  const h = harness(opts);
  h.ready("a");
  h.ready("b");
  await h.join("a", "alice");
  await h.join("b", "bob");
  h.take("a");
  return h;
}

export const SECRETS = { turn: "turn-secret-for-tests-0123456789abcdef", bridge: "bridge-secret-for-tests-0123456789abcdef" };

/** Deps for the pure core: test config (overridable), time read from `clock`, ids `${idPrefix}1`, `${idPrefix}2`, ... */
export function testDeps(clock: { now: number }, cfg: Partial<Deps["cfg"]> = {}, idPrefix = "id"): Deps {
  let n = 0;
  return {
    cfg: {
      maxOccupants: 20,
      turnHost: undefined,
      turnPort: 3478,
      turnTtlSeconds: 86400,
      turnSecret: SECRETS.turn,
      bridgeSecret: SECRETS.bridge,
      ...cfg,
    },
    now: () => clock.now,
    randomId: () => `${idPrefix}${++n}`,
  };
}

export function harness(opts: { room?: string; limits?: Partial<Limits>; cfg?: Partial<Deps["cfg"]> } = {}): Harness {
  const clock = { now: 1_700_000_000_000 };
  const deps = testDeps(clock, opts.cfg);
  const room = newRoom(opts.room ?? "room");
  const rt = newRuntime(room, deps, { maxStanzaBytes: 65536, ratePerSecond: 1000, burst: 1000, ...opts.limits });
  const outbox = new Map<string, string[]>();
  const closed = new Map<string, { code: number; reason: string }>();
  const effects: Effect[] = [];
  const box = (id: string) => {
    let b = outbox.get(id);
    if (!b) outbox.set(id, (b = []));
    return b;
  };
  const run = (es: Effect[]) => {
    effects.push(...es);
    applyEffects(room, es, box, (conn, code, reason) => closed.set(conn, { code, reason }));
  };
  const h: Harness = {
    rt,
    clock,
    outbox,
    closed,
    effects,
    open(id, o = {}) {
      const c: ConnState = { v: 1, id, domain: o.domain ?? "example.org", ipKey: o.ipKey ?? `ip-${id}`, phase: "init" };
      addConn(room, c);
      return c;
    },
    ready(id, o = {}) {
      const c = h.open(id, o);
      c.phase = "ready";
      c.local = `u-${id}`;
      c.resource = "res";
      return c;
    },
    async send(id, xml) {
      const before = box(id).length;
      run(await handleFrame(rt, id, xml));
      return box(id).splice(before);
    },
    drop(id) {
      run(handleDisconnect(rt, id));
    },
    take(id) {
      return box(id).splice(0);
    },
    async join(id, nick, extra = "") {
      const c = room.conns.get(id)!;
      return h.send(id, `<presence xmlns="jabber:client" id="join" to="${room.name}@conference.${c.domain}/${nick}"><x xmlns="http://jabber.org/protocol/muc">${extra}</x></presence>`);
    },
  };
  return h;
}

export const el = (xml: string): XmlElement => parseFrame(xml)[0]!;
