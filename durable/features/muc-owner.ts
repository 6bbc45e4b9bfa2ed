/**
 * Ownership hand-over when the owner leaves. Occupants are anonymous (random JIDs), so nobody could ever regain
 * ownership of a room whose owner left: it could no longer be locked, unlocked or have anyone kicked. The rule:
 * when the last occupant with affiliation `owner` leaves (any path: §7.14 exit, stream close, dropped socket) and
 * occupants remain, the one who has been in the room longest becomes owner (XEP-0045 §10.6 "Granting Owner Status")
 * and moderator (§5.1.2: an owner is a moderator by default). Ties on the join time go to whoever joined first in
 * this object's occupant order. An empty room keeps no owner: its next first occupant creates it (§10.1.1).
 *
 * The announcement is the occupant's presence with the new `<item affiliation='owner' role='moderator'/>` to every
 * occupant (§10.6, §9.6: "the service MUST ... send updated presence from this individual to all occupants"), with
 * status 110 to the promoted occupant itself (§7.2.2); muc-occupant.ts `removeOccupant` sends it.
 */
import { occupants, type ConnState, type RoomState } from "../core/state";

/**
 * The occupant to promote after someone left, or undefined when no hand-over is due: the room is empty or still
 * has an owner. Pure: call it after the leaver was removed from `room`.
 */
export function ownerSuccessor(room: RoomState): ConnState | undefined {
  let best: ConnState | undefined;
  for (const o of occupants(room)) {
    if (o.occ!.affiliation === "owner") return undefined;
    if (!best || o.occ!.joinedAt < best.occ!.joinedAt) best = o;
  }
  return best;
}

/** Make `c` owner + moderator (XEP-0045 §10.6, §5.1.2). */
export function promoteToOwner(c: ConnState): void {
  c.occ!.affiliation = "owner";
  c.occ!.role = "moderator";
}
