/**
 * XEP-0045 §10.1-§10.2 owner configuration (muc#owner) with the XEP-0004 form `muc#roomconfig`:
 *   - get: the form (FORM_TYPE, muc#roomconfig_roomsecret, muc#roomconfig_passwordprotectedroom);
 *   - submit: applies `muc#roomconfig_roomsecret` (empty removes it; passwordprotectedroom=0 removes it too);
 *     an empty submit (§10.1.2 instant room) or a cancel is accepted with an empty result (rooms are never locked);
 *   - §10.2.1: after a change, occupants get a groupchat message from the room with status code 104.
 * Only the owner may configure (§10.2: otherwise `<forbidden/>`).
 */
import { roomJid } from "../../contract/jid";
import type { Out } from "../core/effects";
import { DOMAIN_MARK, TO_MARK } from "../core/effects";
import { errorReply, iqResult } from "../core/reply";
import type { ConnState, RoomState } from "../core/state";
import type { StanzaError } from "../xmpp/errors";
import { NS } from "../xmpp/ns";
import { child, childElements, text, type XmlElement } from "../xmpp/xml";
import { MAX_PASSWORD_CHARS, isPasswordProtected, setPassword } from "./muc-password";

function configForm(room: RoomState): string {
  const pw = isPasswordProtected(room.meta);
  return (
    `<query xmlns="${NS.MUC_OWNER}"><x xmlns="${NS.DATA}" type="form"><title>Room configuration</title>` +
    `<field var="FORM_TYPE" type="hidden"><value>${NS.MUC_ROOMCONFIG}</value></field>` +
    `<field var="muc#roomconfig_passwordprotectedroom" type="boolean" label="Password protected"><value>${pw ? 1 : 0}</value></field>` +
    // the secret itself is never sent back (only its hash is stored)
    `<field var="muc#roomconfig_roomsecret" type="text-private" label="Password"><value/></field>` +
    `</x></query>`
  );
}

function fieldValue(form: XmlElement, name: string): string | undefined {
  for (const f of childElements(form, NS.DATA)) {
    if (f.local === "field" && f.attrs["var"] === name) return text(child(f, "value", NS.DATA));
  }
  return undefined;
}

const fail = (c: ConnState, el: XmlElement, out: Out, err: StanzaError) => {
  const e = errorReply(c, el, err);
  if (e) out.send(c.id, e);
};

export async function handleOwner(room: RoomState, c: ConnState, el: XmlElement, query: XmlElement, out: Out): Promise<void> {
  if (c.occ?.affiliation !== "owner") {
    return fail(c, el, out, { type: "auth", condition: "forbidden", text: "only the room owner may configure the room" });
  }
  const type = el.attrs["type"];
  if (type === "get") {
    out.send(c.id, iqResult(c, el, configForm(room)));
    return;
  }
  if (child(query, "destroy", NS.MUC_OWNER)) {
    return fail(c, el, out, { type: "cancel", condition: "feature-not-implemented", text: "rooms are destroyed when the last occupant leaves" });
  }
  const form = child(query, "x", NS.DATA);
  if (!form) return fail(c, el, out, { type: "modify", condition: "bad-request", text: "expected a jabber:x:data form" });
  const ftype = form.attrs["type"];
  if (ftype === "cancel") {
    out.send(c.id, iqResult(c, el));
    return;
  }
  if (ftype !== "submit") return fail(c, el, out, { type: "modify", condition: "bad-request", text: "form type must be submit or cancel" });
  const formType = fieldValue(form, "FORM_TYPE");
  if (formType !== undefined && formType !== NS.MUC_ROOMCONFIG) {
    return fail(c, el, out, { type: "modify", condition: "bad-request", text: `FORM_TYPE must be ${NS.MUC_ROOMCONFIG}` });
  }
  let secret = fieldValue(form, "muc#roomconfig_roomsecret");
  const prot = fieldValue(form, "muc#roomconfig_passwordprotectedroom");
  if (prot === "0" || prot === "false") secret = "";
  let changed = false;
  if (secret !== undefined) {
    if ([...secret].length > MAX_PASSWORD_CHARS || /[\p{Cc}]/u.test(secret)) {
      return fail(c, el, out, {
        type: "modify",
        condition: "not-acceptable",
        text: `the password must be at most ${MAX_PASSWORD_CHARS} characters without control characters`,
      });
    }
    const before = room.meta.pwHash;
    await setPassword(room.meta, secret === "" ? null : secret);
    changed = before !== room.meta.pwHash;
    if (changed) out.saveRoom();
  }
  out.send(c.id, iqResult(c, el));
  if (changed) {
    // §10.2.1 status 104: "non-privacy-related room configuration change"
    out.fanout(
      [...room.nicks.values()],
      `<message xmlns="${NS.CLIENT}" type="groupchat" to="${TO_MARK}" from="${roomJid(room.name, DOMAIN_MARK)}"><x xmlns="${NS.MUC_USER}"><status code="104"/></x></message>`,
    );
  }
}
