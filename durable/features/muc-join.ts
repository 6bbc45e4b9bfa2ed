/**
 * XEP-0045 §7.2 entering a room, §7.7 presence updates, §7.14 exit (via muc-occupant.ts).
 *
 * Pre-join checks run as an ordered veto list (Prosody's muc-occupant-pre-join hooks): the first check that returns
 * an error wins. Order: password back-off, password (§7.2.6, before the nick as in Prosody), nick conflict (§7.2.8),
 * maximum occupants (§7.2.9). A join with the resume token of the occupant holding the nick takes its place instead
 * (muc-resume.ts).
 *
 * Join answer order (§7.2.2-§7.2.5, Prosody's order): presence of each existing occupant, then the self-presence with
 * status 110 (+201 when the join created the room; §10.1.1), then history (none kept), then the empty subject
 * (§7.2.15), which tells clients the join is complete. Rooms are never locked (the instant-room form is accepted
 * but not required, muc-config.ts).
 */
import { roomJid } from "../../contract/jid";
import { mintGrant } from "../../contract/grants";
import type { Deps } from "../core/deps";
import type { Out } from "../core/effects";
import { errorReply } from "../core/reply";
import { MAX_PRESENCE_PAYLOAD, fullJid, occupants, type ConnState, type RoomState } from "../core/state";
import { streamErrorXml, type StanzaError } from "../xmpp/errors";
import { NS } from "../xmpp/ns";
import { child, escapeAttr, text, type XmlElement } from "../xmpp/xml";
import { mediaHeadline, mediaPayload } from "./media";
import { broadcastOthers, presencePayload, presenceTpl, renderOne } from "./muc-occupant";
import { backoffCheck, checkPassword, isPasswordProtected, recordFailure } from "./muc-password";
import { hashToken, resumable, resumeToken } from "./muc-resume";
import { validateNick } from "./nick";

interface JoinCtx {
  /** the occupant this join takes over (same nick, same resume token: muc-resume.ts) */
  takeover: ConnState | undefined;
  room: RoomState;
  c: ConnState;
  el: XmlElement;
  nick: string;
  key: string;
  deps: Deps;
  out: Out;
}

type PreJoinCheck = (j: JoinCtx) => StanzaError | undefined | Promise<StanzaError | undefined>;

const PRE_JOIN: readonly PreJoinCheck[] = [
  // SECURITY.md "Abuse limits": refuse (without checking) while this client is backing off after wrong passwords
  ({ room, c, deps }) => (isPasswordProtected(room.meta) ? backoffCheck(room, c.ipKey, deps.now()) : undefined),
  // §7.2.6: "If the room requires a password and the user did not supply one (or the password provided is
  // incorrect), the service MUST deny access to the room and inform the user that they are unauthorized"
  async ({ room, c, el, deps, out }) => {
    if (!isPasswordProtected(room.meta)) return undefined;
    const given = text(child(child(el, "x", NS.MUC) ?? el, "password", NS.MUC));
    if (given !== "" && (await checkPassword(room.meta, given))) {
      if (room.pwFailures.delete(c.ipKey)) out.savePwFailure(c.ipKey);
      return undefined;
    }
    if (given !== "") {
      recordFailure(room, c.ipKey, deps.now());
      out.savePwFailure(c.ipKey);
    }
    return { type: "auth", condition: "not-authorized", text: given === "" ? "this room requires a password" : "wrong room password" };
  },
  // §7.2.8: "If the nickname is already in use by another occupant, the service MUST deny access ... <conflict/>"
  // (unless this is the occupant itself, back on a new connection: muc-resume.ts)
  ({ room, key, takeover }) =>
    room.nicks.has(key) && !takeover ? { type: "cancel", condition: "conflict", text: "that nickname is already in use in this room" } : undefined,
  // §7.2.9: maximum number of occupants reached -> <service-unavailable/>
  ({ room, deps, takeover }) =>
    !takeover && room.nicks.size >= deps.cfg.maxOccupants
      ? { type: "wait", condition: "service-unavailable", text: `the room is full (${deps.cfg.maxOccupants} occupants)` }
      : undefined,
];

/** A presence error from the room (XEP-0045 errors carry `by` = the room JID). */
export function presenceError(room: RoomState, c: ConnState, el: XmlElement, err: StanzaError): string | undefined {
  return errorReply(c, el, { ...err, by: roomJid(room.name, c.domain) });
}

/** Available presence to room/nick from a connection that is not yet an occupant. */
export async function handleJoin(room: RoomState, c: ConnState, el: XmlElement, rawNick: string, out: Out, deps: Deps): Promise<void> {
  const v = validateNick(rawNick);
  if (!v.ok) {
    // XEP-0045 §7.2.1: an occupant JID without a valid nickname (RFC 8266) -> jid-malformed
    const e = presenceError(room, c, el, { type: "modify", condition: "jid-malformed", text: v.reason });
    if (e) out.send(c.id, e);
    return;
  }
  const pres = presencePayload(el);
  if (pres.length > MAX_PRESENCE_PAYLOAD) {
    const e = presenceError(room, c, el, { type: "modify", condition: "policy-violation", text: `presence payload over ${MAX_PRESENCE_PAYLOAD} characters` });
    if (e) out.send(c.id, e);
    return;
  }
  const token = resumeToken(el);
  const tokenHash = token === undefined ? undefined : await hashToken(token);
  const j: JoinCtx = { room, c, el, nick: v.value, key: v.key, deps, out, takeover: resumable(room, v.key, tokenHash) };
  for (const check of PRE_JOIN) {
    const err = await check(j);
    if (err) {
      const e = presenceError(room, c, el, err);
      if (e) out.send(c.id, e);
      return;
    }
    // the room may have changed while a check awaited (it cannot here: the shell serializes steps, but stay safe)
    if (c.occ || !room.conns.has(c.id)) return;
  }
  if (j.takeover && j.takeover.occ && room.nicks.get(j.key) === j.takeover.id) {
    takeOver(room, j.takeover, c, pres, out);
    await joinAnswer(room, c, el, occupants(room).filter((o) => o.id !== c.id), false, out, deps);
    return;
  }
  const existing = occupants(room);
  const created = existing.length === 0;
  if (created) {
    room.meta.createdAt = deps.now();
    out.saveRoom();
  }
  c.occ = {
    nick: j.nick,
    key: j.key,
    // "the first occupant of an empty room is its owner" (§10.1.1 creating a room)
    role: created ? "moderator" : "participant",
    affiliation: created ? "owner" : "none",
    pres,
    joinedAt: deps.now(),
    ...(tokenHash !== undefined ? { resume: tokenHash } : {}),
  };
  room.nicks.set(j.key, c.id);
  out.saveConn(c.id);
  // §7.2.3: the new occupant's presence to everyone else
  broadcastOthers(room, c, out, (withJid) => presenceTpl(room, c, { withJid }));
  await joinAnswer(room, c, el, existing, created, out, deps);
}

/**
 * The occupancy of `old` (the same person, on a connection lost to a network change) moves to `c`: the others see a
 * presence update of the same occupant, the old stream ends with <conflict/> (muc-resume.ts).
 */
function takeOver(room: RoomState, old: ConnState, c: ConnState, pres: string, out: Out): void {
  c.occ = { ...old.occ!, pres };
  delete old.occ;
  room.nicks.set(c.occ.key, c.id);
  out.saveConn(old.id);
  out.saveConn(c.id);
  out.send(old.id, streamErrorXml({ condition: "conflict", text: "the occupant resumed on a new connection" }));
  out.close(old.id, 1000, "conflict");
  broadcastOthers(room, c, out, (withJid) => presenceTpl(room, c, { withJid }));
}

/** §7.2.2-§7.2.5 and the media mode: what a (re)joining occupant `c` receives, in order. */
async function joinAnswer(room: RoomState, c: ConnState, el: XmlElement, existing: ConnState[], created: boolean, out: Out, deps: Deps): Promise<void> {
  if (!c.occ) return;
  const seesJids = c.occ.role === "moderator";
  // §7.2.3: existing occupants' presence first
  for (const o of existing) out.send(c.id, renderOne(presenceTpl(room, o, { withJid: seesJids }), c));
  // §7.2.2 self-presence: 110, and 201 for a new room (§10.1.1); the join presence's id echoed
  const id = el.attrs["id"];
  out.send(
    c.id,
    renderOne(presenceTpl(room, c, { withJid: true, codes: created ? ["110", "201"] : ["110"], ...(id !== undefined ? { id } : {}) }), c),
  );
  // §7.2.15: the (empty) subject ends the join
  out.send(
    c.id,
    `<message xmlns="${NS.CLIENT}" type="groupchat" to="${escapeAttr(fullJid(c))}" from="${escapeAttr(roomJid(room.name, c.domain))}" id="${deps.randomId()}"><subject/></message>`,
  );
  // Parley media mode (docs/architecture.md): a joiner of a room in bridge mode learns it right after the subject.
  if (room.meta.mediaMode === "bridge") {
    const grant = await mintGrant(deps.cfg.bridgeSecret, room.name, c.occ.nick, undefined, deps.now());
    out.send(c.id, mediaHeadline(room, c, mediaPayload(room, grant)));
  }
  out.occupantsChanged();
}

/** §7.7: an occupant's changed availability/status, broadcast to all occupants (self with 110). */
export function handlePresenceUpdate(room: RoomState, c: ConnState, el: XmlElement, out: Out): void {
  const pres = presencePayload(el);
  if (pres.length > MAX_PRESENCE_PAYLOAD) {
    const e = presenceError(room, c, el, { type: "modify", condition: "policy-violation", text: `presence payload over ${MAX_PRESENCE_PAYLOAD} characters` });
    if (e) out.send(c.id, e);
    return;
  }
  c.occ!.pres = pres;
  out.saveConn(c.id);
  broadcastOthers(room, c, out, (withJid) => presenceTpl(room, c, { withJid }));
  const id = el.attrs["id"];
  out.send(c.id, renderOne(presenceTpl(room, c, { withJid: true, codes: ["110"], ...(id !== undefined ? { id } : {}) }), c));
}

