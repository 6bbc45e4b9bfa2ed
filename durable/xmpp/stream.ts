/**
 * Stream negotiation over WebSocket: RFC 7395 §3.4 opening, RFC 6120 §6 SASL (RFC 4505 ANONYMOUS only),
 * RFC 6120 §6.4.6 stream restart, RFC 6120 §7 resource binding, and the legacy session establishment
 * (RFC 3921 §3, answered but never required: draft-cridland-xmpp-session-01 `<optional/>`).
 */
import type { Deps } from "../core/deps";
import type { Out } from "../core/effects";
import type { ConnState } from "../core/state";
import { validateResource } from "../features/nick";
import { StreamErrorException, stanzaErrorXml } from "./errors";
import { featuresXml, openXml, type Incoming } from "./framing";
import { NS } from "./ns";
import { child, escapeAttr, escapeText, text, type XmlElement } from "./xml";

const SASL_FEATURES = featuresXml(
  `<mechanisms xmlns="${NS.SASL}"><mechanism>ANONYMOUS</mechanism></mechanisms>`,
);
const BIND_FEATURES = featuresXml(
  `<bind xmlns="${NS.BIND}"><required/></bind><session xmlns="${NS.SESSION}"><optional/></session>`,
);

/** RFC 7395 §3.4 / RFC 6120 §4.7: answer an `<open/>`, checking the addressed domain and version. */
export function handleOpen(conn: ConnState, inc: Extract<Incoming, { kind: "open" }>, out: Out, deps: Deps): void {
  if (conn.phase !== "init" && conn.phase !== "restart") {
    throw new StreamErrorException({ condition: "policy-violation", text: "unexpected <open/> on an established stream" });
  }
  // RFC 6120 §4.9.3.6: a 'to' naming a domain this server does not serve -> host-unknown.
  if (inc.to !== undefined && inc.to.toLowerCase().replace(/\.$/, "") !== conn.domain) {
    throw new StreamErrorException({ condition: "host-unknown", text: `this server serves ${conn.domain}` });
  }
  // RFC 6120 §4.7.5: only major version 1 is supported.
  if (inc.version !== undefined && !/^1\.\d+$/.test(inc.version)) {
    throw new StreamErrorException({ condition: "unsupported-version", text: "only XMPP version 1.0 is supported" });
  }
  out.send(conn.id, openXml(conn.domain, deps.randomId()));
  if (conn.phase === "init") {
    conn.phase = "sasl";
    out.send(conn.id, SASL_FEATURES);
  } else {
    conn.phase = "bind";
    out.send(conn.id, BIND_FEATURES);
  }
  out.saveConn(conn.id);
}

const saslFailure = (condition: string, t?: string) =>
  `<failure xmlns="${NS.SASL}"><${condition}/>${t ? `<text xml:lang="en">${escapeText(t)}</text>` : ""}</failure>`;

/** RFC 6120 §6.4 with RFC 4505 ANONYMOUS; the optional trace token is accepted and ignored (never logged). */
export function handleSasl(conn: ConnState, el: XmlElement, out: Out): void {
  if (el.ns !== NS.SASL) {
    // RFC 6120 §4.9.3.12: stanzas (or other data) before authentication -> not-authorized
    throw new StreamErrorException({ condition: "not-authorized", text: "authenticate first (SASL ANONYMOUS)" });
  }
  switch (el.local) {
    case "auth": {
      const mech = el.attrs["mechanism"];
      if (mech !== "ANONYMOUS") {
        out.send(conn.id, saslFailure("invalid-mechanism", "only ANONYMOUS is offered"));
        return;
      }
      const body = text(el).trim();
      // RFC 6120 §6.4.2: "=" means an empty initial response; RFC 4505 §2: trace <= 255 UTF-8 chars.
      if (body !== "" && body !== "=" && !(/^[A-Za-z0-9+/]+={0,2}$/.test(body) && body.length % 4 === 0 && body.length <= 344)) {
        out.send(conn.id, saslFailure("incorrect-encoding"));
        return;
      }
      conn.phase = "restart";
      out.send(conn.id, `<success xmlns="${NS.SASL}"/>`);
      out.saveConn(conn.id);
      return;
    }
    case "abort":
      out.send(conn.id, saslFailure("aborted"));
      return;
    default:
      out.send(conn.id, saslFailure("malformed-request"));
  }
}

/** RFC 6120 §7: bind a resource to a random localpart (anonymous users have no account). */
export function handleBind(conn: ConnState, el: XmlElement, out: Out, deps: Deps): void {
  const bind = el.local === "iq" && el.attrs["type"] === "set" ? child(el, "bind", NS.BIND) : undefined;
  if (!bind) {
    throw new StreamErrorException({ condition: "not-authorized", text: "bind a resource first (RFC 6120 §7)" });
  }
  const id = el.attrs["id"] ?? "";
  const requested = text(child(bind, "resource", NS.BIND)).trim();
  let resource = deps.randomId();
  if (requested !== "") {
    const v = validateResource(requested);
    if (!v.ok) {
      // RFC 6120 §7.7.2.1 covers unprocessable resources; we use the stanza condition the room uses for bad names.
      out.send(
        conn.id,
        `<iq xmlns="${NS.CLIENT}" type="error" id="${escapeAttr(id)}">${stanzaErrorXml({ type: "modify", condition: "not-acceptable", text: v.reason })}</iq>`,
      );
      return;
    }
    resource = v.value;
  }
  conn.local = deps.randomId();
  conn.resource = resource;
  conn.phase = "ready";
  const jid = `${conn.local}@${conn.domain}/${resource}`;
  out.send(
    conn.id,
    `<iq xmlns="${NS.CLIENT}" type="result" id="${escapeAttr(id)}"><bind xmlns="${NS.BIND}"><jid>${escapeText(jid)}</jid></bind></iq>`,
  );
  out.saveConn(conn.id);
  out.sessionsChanged(conn.id); // someone may now wait on the room's hair check (media standby, lobby)
}
