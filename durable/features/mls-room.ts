/**
 * The MLS Delivery Service (mls-delivery.ts) inside the room (docs/e2ee-protocol.md §4): its IQs answered, its
 * payloads sent as headline messages from the room, and the room's membership fed in so that every change asks for
 * a commit (join -> Add; leave, kick, stream error, dropped socket -> Remove).
 *
 * Membership is read from the room itself after each step (`syncMls`) rather than hooked into every way an occupant
 * comes and goes: whatever removed an occupant (unavailable presence, kick, stream error, closed socket, idle
 * expiry), the Delivery Service sees it leave. Only occupants are ever added to the group: a session waiting on the
 * hair check (or outside a locked room) may hand in its KeyPackage but gets no keys until it joins.
 *
 * Hibernation: the Delivery Service's state is public (group id, epoch, GroupInfo, member identities, KeyPackages)
 * and is saved as one snapshot (`save-mls` effect, room-store.ts) whenever it changes, so that a woken object keeps
 * ordering the same group; the shell deletes it with everything else when the room empties.
 */
import { fromBase64Url, toBase64 } from "../../contract/hmac";
import { z } from "zod";
import type { Out } from "../core/effects";
import { errorReplyXml, iqResult } from "../core/reply";
import { occupants, type ConnState, type RoomState } from "../core/state";
import type { XmlElement } from "../xmpp/xml";
import { mediaHeadline } from "./media";
import { handleRequest, newDs, occupantsChanged, tick, type DsEffect, type DsState } from "./mls-delivery";

export type { DsState } from "./mls-delivery";
export { newDs } from "./mls-delivery";
import { MlsWireError, dsErrorXml, parseRequest } from "./mls-wire";

export { NS_MLS } from "./mls-wire";

/** Run the Delivery Service's effects: payloads to sessions still connected and bound; `save-mls` when it changed. */
function runDs(room: RoomState, effects: DsEffect[], out: Out): void {
  for (const e of effects) {
    switch (e.kind) {
      case "send": {
        const c = room.conns.get(e.session);
        if (c?.phase === "ready") out.send(c.id, mediaHeadline(room, c, e.payload));
        break;
      }
      case "timer":
        break; // the shell arms its alarm for mlsDeadline() after every save-mls
      default: {
        const never: never = e;
        throw new Error(`unknown DS effect ${JSON.stringify(never)}`);
      }
    }
  }
}

/** An `<iq/>` to the room whose payload is in NS_MLS. */
export function handleMlsIq(room: RoomState, ds: DsState, c: ConnState, el: XmlElement, q: XmlElement, out: Out, now: number): void {
  const reply = (errorXml: string) => {
    const e = errorReplyXml(c, el, errorXml);
    if (e) out.send(c.id, e);
  };
  let req;
  try {
    req = parseRequest(q, el.attrs["type"] ?? "");
  } catch (e) {
    if (e instanceof MlsWireError) return reply(dsErrorXml(e.error));
    throw e;
  }
  const r = handleRequest(ds, c.id, req, now);
  if (r.ok) out.send(c.id, iqResult(c, el, r.result));
  else reply(dsErrorXml(r.error));
  runDs(room, r.effects, out);
  if (req.kind !== "group-info") out.saveMls();
}

/**
 * Bring the Delivery Service's view of the room up to date after a step: occupants who joined (in join order),
 * occupants who left (and whether their connection went too), KeyPackages of connections that ended without joining.
 */
export function syncMls(room: RoomState, ds: DsState, out: Out, now: number): void {
  let changed = false;
  const present = new Set<string>();
  const joined: ConnState[] = [];
  for (const c of occupants(room)) {
    present.add(c.id);
    if (!ds.occupants.has(c.id)) joined.push(c);
  }
  const left = [...ds.occupants.keys()].filter((s) => !present.has(s)).map((s) => ({ session: s, disconnected: !room.conns.has(s) }));
  for (const s of [...ds.keyPackages.keys()]) {
    if (room.conns.has(s)) continue;
    ds.keyPackages.delete(s);
    changed = true;
  }
  joined.sort((a, b) => a.occ!.joinedAt - b.occ!.joinedAt);
  if (left.length > 0 || joined.length > 0) {
    // all of this step's comings and goings at once: one commit request (mls-delivery.ts occupantsChanged)
    runDs(room, occupantsChanged(ds, { left, joined: joined.map((c) => ({ session: c.id, at: c.occ!.joinedAt || now })) }, now), out);
    changed = true;
  }
  // nothing asked yet (a woken room forgets its open request): ask now if there is work
  if (!ds.request) runDs(room, tick(ds, now), out);
  if (changed) out.saveMls();
}

/** The shell's alarm: a committer that did not commit in time is skipped (COMMIT_TIMEOUT_MS). */
export function mlsTick(room: RoomState, ds: DsState, out: Out, now: number): void {
  const at = mlsDeadline(ds);
  if (at === undefined || at > now) return;
  runDs(room, tick(ds, now), out);
  out.saveMls();
}

/** When the open commit request times out, if any. */
export function mlsDeadline(ds: DsState): number | undefined {
  const d = ds.request?.deadline;
  return d === undefined || !Number.isFinite(d) ? undefined : d;
}

// --- snapshot (hibernation) -----------------------------------------------------------------------------------------

const b64 = (u: Uint8Array) => toBase64(u);
const unb64 = (s: string) => fromBase64Url(s.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));

const Snapshot = z.object({
  v: z.literal(1),
  group: z.object({ id: z.string(), epoch: z.string().regex(/^\d{1,20}$/), groupInfo: z.string() }).nullable(),
  members: z.array(z.tuple([z.string(), z.string()])),
  keyPackages: z.array(z.tuple([z.string(), z.string(), z.string()])),
});

/** The Delivery Service's public state as JSON, or null when it holds nothing (nothing to store). */
export function mlsSnapshot(ds: DsState): string | null {
  if (!ds.group && ds.members.size === 0 && ds.keyPackages.size === 0) return null;
  return JSON.stringify({
    v: 1,
    group: ds.group ? { id: b64(ds.group.id), epoch: String(ds.group.epoch), groupInfo: b64(ds.group.groupInfo) } : null,
    members: [...ds.members],
    keyPackages: [...ds.keyPackages].map(([s, kp]) => [s, kp.identity, b64(kp.bytes)]),
  });
}

/**
 * The Delivery Service of a woken room: the saved snapshot (checked: storage written by an earlier version is
 * external input; unreadable means no group, and the members start a new one) and the occupants of the rebuilt room.
 * The open commit request is not saved: the next step asks again.
 */
export function mlsThaw(room: RoomState, saved: string | null): DsState {
  const ds = newDs();
  let snap;
  try {
    snap = saved === null ? undefined : Snapshot.parse(JSON.parse(saved));
  } catch {
    snap = undefined;
  }
  if (snap) {
    if (snap.group) ds.group = { id: unb64(snap.group.id), epoch: BigInt(snap.group.epoch), groupInfo: unb64(snap.group.groupInfo) };
    for (const [s, id] of snap.members) ds.members.set(s, id);
    for (const [s, identity, bytes] of snap.keyPackages) if (room.conns.has(s)) ds.keyPackages.set(s, { identity, bytes: unb64(bytes) });
  }
  for (const c of occupants(room).sort((a, b) => a.occ!.joinedAt - b.occ!.joinedAt)) ds.occupants.set(c.id, c.occ!.joinedAt);
  return ds;
}
