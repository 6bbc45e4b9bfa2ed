/**
 * The room as MLS Delivery Service (RFC 9420 §14, RFC 9750, "Delivery Service"): trusted to order handshake messages and to say who is
 * in the room, never to hold a secret. Pure: requests and room events in, effects as data out, clock injected.
 *
 * Rules (docs/e2ee-protocol.md):
 *  - Exactly one commit per epoch wins: the first valid one. A later commit for the same epoch, or for any other
 *    epoch, is refused with `conflict` and `<stale-epoch current='N'/>` so its sender processes the winner and
 *    retries on epoch N.
 *  - Only members commit (`forbidden` otherwise). A commit adds only occupants whose KeyPackage the room holds, and
 *    removes only members who left the room (nobody is pushed out of the keys while present).
 *  - KeyPackages may be sent from the hair check (prepared early); they are handed to the committer once their
 *    session joins the room, never before: adding a session that has not joined would give it the media keys.
 *  - Who commits: the room asks the longest-present member (by room join order); if it has not committed within
 *    COMMIT_TIMEOUT_MS, the next one, and so on round the members. The first occupant with a KeyPackage is asked to
 *    create the group when there is none.
 *  - Stored: the group id, the epoch, the last GroupInfo (public; a member that lost its state can rejoin from it),
 *    the KeyPackages of connected sessions, member identities. No private key ever reaches the room.
 *  - When no member is left in the room (in particular when the room empties) the group is forgotten.
 */
import {
  commitRequestXml,
  commitXml,
  groupXml,
  peekCommit,
  peekGroupInfo,
  peekWelcome,
  welcomeXml,
  MlsWireError,
  type DsError,
  type MlsRequest,
} from "./mls-wire";

export const COMMIT_TIMEOUT_MS = 3_000;

/** A session is the room's id of one connection (the shell maps it to its JID). */
type Session = string;

export interface DsState {
  group: { id: Uint8Array; epoch: bigint; groupInfo: Uint8Array } | undefined;
  /** members of the group: session -> credential identity (insertion order: when they became members) */
  members: Map<Session, string>;
  /** room occupants: session -> join time (insertion order: join order) */
  occupants: Map<Session, number>;
  /** one KeyPackage per connected session that is not a member */
  keyPackages: Map<Session, { identity: string; bytes: Uint8Array }>;
  /** the open commit request: who was asked, for which work, until when; `tried` were asked before this round */
  request: { session: Session; epoch: bigint | undefined; deadline: number; work: string; tried: Set<Session> } | undefined;
}

export type DsEffect =
  /** send this NS_MLS payload to one session (the shell wraps it in a headline message from the room) */
  | { kind: "send"; session: Session; payload: string }
  /** call `tick` at (or after) this time */
  | { kind: "timer"; at: number };

export type DsOutcome = { ok: true; result: string; effects: DsEffect[] } | { ok: false; error: DsError; effects: DsEffect[] };

export function newDs(): DsState {
  return { group: undefined, members: new Map(), occupants: new Map(), keyPackages: new Map(), request: undefined };
}

const eqBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const fail = (error: DsError, effects: DsEffect[] = []): DsOutcome => ({ ok: false, error, effects });

/** A session joined the room (became an occupant). */
export function occupantJoined(ds: DsState, session: Session, now: number): DsEffect[] {
  return occupantsChanged(ds, { joined: [{ session, at: now }] }, now);
}

/** A session left the room; `disconnected`: its connection is gone too (its KeyPackage goes with it). */
export function sessionLeft(ds: DsState, session: Session, disconnected: boolean, now: number): DsEffect[] {
  return occupantsChanged(ds, { left: [{ session, disconnected }] }, now);
}

/**
 * Occupants went and came in one step of the room (a rejoin after a network change: the old session goes as the new
 * one takes its place), in join order for those who came. One plan for all of it: asking for a commit after each
 * change would have the committer answer the first request (its page had not read the second yet) and cost a whole
 * extra commit round before the last change.
 */
export function occupantsChanged(
  ds: DsState,
  change: { left?: { session: Session; disconnected: boolean }[]; joined?: { session: Session; at: number }[] },
  now: number,
): DsEffect[] {
  for (const { session, disconnected } of change.left ?? []) {
    ds.occupants.delete(session);
    if (disconnected) ds.keyPackages.delete(session);
  }
  for (const { session, at } of change.joined ?? []) if (!ds.occupants.has(session)) ds.occupants.set(session, at);
  if (ds.occupants.size === 0) {
    // the room emptied: forget the group (the KeyPackages left belong to sessions still on the hair check)
    ds.group = undefined;
    ds.members.clear();
    ds.request = undefined;
    return [];
  }
  return plan(ds, now);
}

/** Time passed: a committer that did not commit in time is skipped. */
export function tick(ds: DsState, now: number): DsEffect[] {
  const r = ds.request;
  if (r && now >= r.deadline) {
    r.tried.add(r.session);
    ds.request = { ...r, deadline: -Infinity };
  }
  return plan(ds, now);
}

/** One request from `session` (already parsed by mls-wire.ts). */
export function handleRequest(ds: DsState, session: Session, req: MlsRequest, now: number): DsOutcome {
  try {
    return dispatch(ds, session, req, now);
  } catch (e) {
    if (e instanceof MlsWireError) return fail(e.error);
    throw e;
  }
}

function dispatch(ds: DsState, session: Session, req: MlsRequest, now: number): DsOutcome {
  switch (req.kind) {
    case "key-package":
      return keyPackage(ds, session, req.identity, req.keyPackage, now);
    case "create":
      return create(ds, session, req.groupId, req.groupInfo, now);
    case "commit":
      return commit(ds, session, req, now);
    case "group-info":
      if (!ds.occupants.has(session)) return fail({ type: "cancel", condition: "not-acceptable", text: "join the room first" });
      return { ok: true, result: groupXml(ds.group), effects: [] };
    default: {
      const never: never = req;
      throw new Error(`unknown request ${JSON.stringify(never)}`);
    }
  }
}

function identityInUse(ds: DsState, identity: string, except: Session): boolean {
  for (const [s, id] of ds.members) if (s !== except && id === identity) return true;
  for (const [s, kp] of ds.keyPackages) if (s !== except && kp.identity === identity) return true;
  return false;
}

function keyPackage(ds: DsState, session: Session, identity: string, bytes: Uint8Array, now: number): DsOutcome {
  if (ds.members.has(session)) return fail({ type: "cancel", condition: "not-allowed", text: "already a member of the group" });
  if (identityInUse(ds, identity, session)) return fail({ type: "cancel", condition: "conflict", text: "identity already in use in this room" });
  ds.keyPackages.set(session, { identity, bytes });
  return { ok: true, result: "", effects: plan(ds, now) };
}

function create(ds: DsState, session: Session, groupId: Uint8Array, groupInfo: Uint8Array, now: number): DsOutcome {
  if (ds.group) return fail({ type: "cancel", condition: "conflict", text: "the group exists", currentEpoch: ds.group.epoch });
  if (!ds.occupants.has(session)) return fail({ type: "cancel", condition: "not-acceptable", text: "join the room first" });
  const kp = ds.keyPackages.get(session);
  if (!kp) return fail({ type: "cancel", condition: "not-acceptable", text: "send a key package first (it names your identity)" });
  ds.group = { id: new Uint8Array(groupId), epoch: 0n, groupInfo };
  ds.members.set(session, kp.identity);
  ds.keyPackages.delete(session);
  ds.request = undefined;
  return { ok: true, result: "", effects: plan(ds, now) };
}

type CommitReq = Extract<MlsRequest, { kind: "commit" }>;

function commit(ds: DsState, session: Session, req: CommitReq, now: number): DsOutcome {
  const g = ds.group;
  if (!g) return fail({ type: "cancel", condition: "item-not-found", text: "no group yet" });
  if (!ds.members.has(session)) return fail({ type: "auth", condition: "forbidden", text: "only members of the group commit" });
  if (req.epoch !== g.epoch) {
    return fail({ type: "cancel", condition: "conflict", text: `epoch ${req.epoch} is not the current one`, currentEpoch: g.epoch });
  }
  const bad = (text: string): DsOutcome => fail({ type: "modify", condition: "bad-request", text });
  const msg = peekCommit(req.message);
  if (!eqBytes(msg.groupId, g.id) || msg.epoch !== g.epoch) return bad("commit: group id or epoch differ from the group's");
  const gi = peekGroupInfo(req.groupInfo);
  if (!eqBytes(gi.groupId, g.id) || gi.epoch !== g.epoch + 1n) return bad("group info: must be of this group's next epoch");
  if (req.adds.length > 0 !== (req.welcome !== undefined)) return bad("a welcome comes with added members, and only then");
  if (req.welcome) peekWelcome(req.welcome);

  const added: Session[] = [];
  for (const id of new Set(req.adds)) {
    const s = [...ds.keyPackages].find(([s, kp]) => kp.identity === id && ds.occupants.has(s))?.[0];
    if (s === undefined) return fail({ type: "cancel", condition: "item-not-found", text: `no key package of an occupant for ${id}` });
    added.push(s);
  }
  const removed: Session[] = [];
  for (const id of new Set(req.removes)) {
    const s = [...ds.members].find(([, mid]) => mid === id)?.[0];
    if (s === undefined) return fail({ type: "cancel", condition: "item-not-found", text: `no member ${id}` });
    if (ds.occupants.has(s)) return fail({ type: "cancel", condition: "not-allowed", text: `${id} is still in the room` });
    removed.push(s);
  }

  // accepted: this is the one commit of epoch g.epoch
  const effects: DsEffect[] = [];
  for (const m of ds.members.keys()) {
    if (m !== session && ds.occupants.has(m)) effects.push({ kind: "send", session: m, payload: commitXml(g.epoch, req.message) });
  }
  g.epoch += 1n;
  g.groupInfo = req.groupInfo;
  for (const s of removed) ds.members.delete(s);
  for (const s of added) {
    ds.members.set(s, ds.keyPackages.get(s)!.identity);
    ds.keyPackages.delete(s);
    effects.push({ kind: "send", session: s, payload: welcomeXml(g.epoch, req.welcome!) });
  }
  ds.request = undefined;
  return { ok: true, result: "", effects: [...effects, ...plan(ds, now)] };
}

/**
 * Decide who should commit now, and ask them (again when the work changed). Returns the effects: a commit request
 * and the timer for its deadline, or nothing when there is no work.
 */
function plan(ds: DsState, now: number): DsEffect[] {
  const inRoom = (s: Session) => ds.occupants.has(s);
  if (ds.group && ![...ds.members.keys()].some(inRoom)) {
    // nobody who holds the group's state is here: it is of no use to anyone
    ds.group = undefined;
    ds.members.clear();
    ds.request = undefined;
  }
  const waiting = [...ds.occupants.keys()].filter((s) => !ds.members.has(s) && ds.keyPackages.has(s));
  const leavers = [...ds.members].filter(([s]) => !inRoom(s)).map(([, id]) => id);
  let epoch: bigint | undefined;
  let candidates: Session[];
  let adds: { identity: string; keyPackage: Uint8Array }[] = [];
  if (!ds.group) {
    if (waiting.length === 0) return clearRequest(ds);
    candidates = waiting; // occupants in join order
    epoch = undefined;
  } else {
    if (waiting.length === 0 && leavers.length === 0) return clearRequest(ds);
    candidates = [...ds.occupants.keys()].filter((s) => ds.members.has(s)); // longest-present first
    epoch = ds.group.epoch;
    adds = waiting.map((s) => ({ identity: ds.keyPackages.get(s)!.identity, keyPackage: ds.keyPackages.get(s)!.bytes }));
  }
  const removes = ds.group ? leavers : [];
  const work = `${epoch ?? "create"}|${adds.map((a) => a.identity).join(",")}|${removes.join(",")}`;
  const r = ds.request;
  if (r && r.epoch === epoch && now < r.deadline && candidates.includes(r.session)) {
    if (r.work === work) return [];
    r.work = work;
    return [{ kind: "send", session: r.session, payload: commitRequestXml({ epoch, adds, removes }) }, { kind: "timer", at: r.deadline }];
  }
  let tried = r && r.epoch === epoch ? r.tried : new Set<Session>();
  let next = candidates.find((s) => !tried.has(s));
  if (next === undefined) {
    tried = new Set(); // everyone had a turn: start over with the longest-present one
    next = candidates[0]!;
  }
  const deadline = now + COMMIT_TIMEOUT_MS;
  ds.request = { session: next, epoch, deadline, work, tried };
  return [{ kind: "send", session: next, payload: commitRequestXml({ epoch, adds, removes }) }, { kind: "timer", at: deadline }];
}

function clearRequest(ds: DsState): DsEffect[] {
  ds.request = undefined;
  return [];
}
