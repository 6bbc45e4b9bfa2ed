/**
 * XEP-0215 External Service Discovery (v1.0): STUN and TURN (udp, tcp) on the configured TURN host/port
 * (default: the connection's XMPP domain), plus TURN over TLS (`turns`, RFC 7065 §3.1 / RFC 8656 §3.1: TLS over
 * TCP, so transport='tcp') on TURN_TLS_PORT when that is configured, all with coturn `use-auth-secret` credentials
 * (contract/turn-credentials.ts): username = "<expiry unix time>:<session part>" (one per connection, so
 * coturn's per-user quota applies per session), password = base64(HMAC-SHA1(secret, username)).
 *   §3.2 `<services [type]/>`: all services (optionally of one type); TURN entries carry username/password,
 *        `expires` (XEP-0082 DateTime) and `restricted='1'` (short-lived credentials);
 *   §3.3 `<credentials><service type host [port] [transport]/></credentials>`: the matching entries with credentials,
 *        `<item-not-found/>` when nothing matches.
 */
import { mintTurnCredentials, turnSessionPart } from "../../contract/turn-credentials";
import type { Deps } from "../core/deps";
import type { ConnState } from "../core/state";
import type { StanzaError } from "../xmpp/errors";
import { NS } from "../xmpp/ns";
import { childElements, escapeAttr, type XmlElement } from "../xmpp/xml";

interface ExtService {
  type: "stun" | "turn" | "turns";
  host: string;
  port: number;
  transport: "udp" | "tcp";
  username?: string;
  password?: string;
  expires?: string;
  restricted?: boolean;
}

/** XEP-0082 DateTime without fractional seconds. */
const dateTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

async function listServices(c: ConnState, deps: Deps): Promise<ExtService[]> {
  const host = deps.cfg.turnHost ?? c.domain;
  const port = deps.cfg.turnPort;
  const cred = await mintTurnCredentials(deps.cfg.turnSecret, deps.cfg.turnTtlSeconds, deps.now(), await turnSessionPart(c.id));
  const turn = { username: cred.username, password: cred.password, expires: dateTime(cred.expires), restricted: true };
  return [
    { type: "stun", host, port, transport: "udp" },
    { type: "turn", host, port, transport: "udp", ...turn },
    { type: "turn", host, port, transport: "tcp", ...turn },
    // For clients behind firewalls that only let TLS (e.g. to 443) out; same credentials as the turn entries.
    ...(deps.cfg.turnTlsPort !== undefined
      ? [{ type: "turns", host, port: deps.cfg.turnTlsPort, transport: "tcp", ...turn } satisfies ExtService]
      : []),
  ];
}

function serviceXml(s: ExtService): string {
  return (
    `<service type="${s.type}" host="${escapeAttr(s.host)}" port="${s.port}" transport="${s.transport}"` +
    (s.username !== undefined ? ` username="${escapeAttr(s.username)}"` : "") +
    (s.password !== undefined ? ` password="${escapeAttr(s.password)}"` : "") +
    (s.expires !== undefined ? ` expires="${s.expires}"` : "") +
    (s.restricted ? ` restricted="1"` : "") +
    "/>"
  );
}

/** Answer a services or credentials query; returns the result payload or a stanza error. */
export async function handleExtdisco(query: XmlElement, c: ConnState, deps: Deps): Promise<{ payload: string } | { error: StanzaError }> {
  const all = await listServices(c, deps);
  if (query.local === "services") {
    const type = query.attrs["type"];
    const list = type ? all.filter((s) => s.type === type) : all;
    return { payload: `<services xmlns="${NS.EXTDISCO}"${type ? ` type="${escapeAttr(type)}"` : ""}>${list.map(serviceXml).join("")}</services>` };
  }
  if (query.local === "credentials") {
    const wanted = childElements(query).filter((e) => e.local === "service");
    if (wanted.length === 0) return { error: { type: "modify", condition: "bad-request", text: "name the service to get credentials for" } };
    const found = all.filter(
      (s) =>
        s.username !== undefined &&
        wanted.some(
          (w) =>
            (w.attrs["type"] === undefined || w.attrs["type"] === s.type) &&
            (w.attrs["host"] === undefined || w.attrs["host"].toLowerCase() === s.host.toLowerCase()) &&
            (w.attrs["port"] === undefined || Number(w.attrs["port"]) === s.port) &&
            (w.attrs["transport"] === undefined || w.attrs["transport"] === s.transport),
        ),
    );
    if (found.length === 0) return { error: { type: "cancel", condition: "item-not-found", text: "no such service" } };
    return { payload: `<credentials xmlns="${NS.EXTDISCO}">${found.map(serviceXml).join("")}</credentials>` };
  }
  return { error: { type: "cancel", condition: "service-unavailable" } };
}
