/**
 * The XMPP connection to a room's server (StanzaJS over RFC 7395 WebSocket at `/xmpp-websocket/<room>`),
 * SASL ANONYMOUS (RFC 4505), and XEP-0215 external services (STUN/TURN) as RTCIceServers.
 */
import { createClient, type Agent } from "stanza";
import * as JID from "stanza/JID";
import { roomJid as roomJidOf } from "../../../../contract/jid";
import { registerParleyExtensions } from "./parley-ns";

interface RoomEndpoints {
  /** ws(s)://host/xmpp-websocket/<room> */
  wsUrl: string;
  /** What we ask for in <open to=…>: the page's host name (the server may answer with its configured domain). */
  domain: string;
}

function roomEndpoints(room: string, loc: Location = location): RoomEndpoints {
  const scheme = loc.protocol === "https:" ? "wss" : "ws";
  return { wsUrl: `${scheme}://${loc.host}/xmpp-websocket/${room}`, domain: loc.hostname };
}

/** The room's JID: `<room>@conference.<domain>`, with the domain the server bound us to. */
export function roomJid(room: string, client: Agent): string {
  const domain = client.jid ? JID.getDomain(client.jid) : client.config.server;
  return roomJidOf(room, domain ?? "");
}

export function createRoomClient(room: string, opts: { autoReconnect: boolean }): Agent {
  const ep = roomEndpoints(room);
  const client = createClient({
    server: ep.domain,
    transports: { websocket: ep.wsUrl, bosh: false },
    useStreamManagement: false,
    autoReconnect: opts.autoReconnect,
    maxReconnectBackoff: 8,
    // No default public STUN server (StanzaJS would use Google's): only what our server offers (XEP-0215).
    jingle: { iceServers: [], advertiseFileTransfer: false, trickleIce: true, bundlePolicy: "max-bundle" },
  });
  // SASL ANONYMOUS only: we never hold credentials.
  for (const mech of ["SCRAM-SHA-1", "DIGEST-MD5", "PLAIN", "X-OAUTH2", "EXTERNAL"]) client.sasl.disable(mech);
  registerParleyExtensions(client);
  return client;
}

/** Connect and wait for the session (resource bound), or fail after `timeoutMs` / on disconnect. */
export function connectSession(client: Agent, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off("session:started", ok);
      client.off("disconnected", failed);
      client.off("auth:failed", authFailed);
      if (err) reject(err);
      else resolve();
    };
    const ok = () => done();
    const failed = () => done(new Error("the connection to the server closed"));
    const authFailed = () => done(new Error("the server refused anonymous login"));
    const timer = setTimeout(() => {
      done(new Error("the server did not answer in time"));
    }, timeoutMs);
    client.on("session:started", ok);
    client.on("disconnected", failed);
    client.on("auth:failed", authFailed);
    client.connect();
  });
}

/**
 * STUN/TURN servers from XEP-0215 §3 (`<services xmlns='urn:xmpp:extdisco:2'/>` to the server domain), turned into
 * RTCIceServers. An error or missing support means none (host candidates still work on the same network).
 */
export async function fetchIceServers(client: Agent): Promise<RTCIceServer[]> {
  const domain = client.jid ? JID.getDomain(client.jid) : client.config.server;
  if (!domain) return [];
  try {
    const list = await client.getServices(domain, undefined, "2");
    const out: RTCIceServer[] = [];
    for (const s of list.services ?? []) {
      if (!s.host || (s.type !== "stun" && s.type !== "turn" && s.type !== "turns")) continue;
      const host = s.host.includes(":") ? `[${s.host}]` : s.host;
      const url = `${s.type}:${host}${s.port ? `:${s.port}` : ""}${s.transport && s.type !== "stun" ? `?transport=${s.transport}` : ""}`;
      if (s.type === "stun") out.push({ urls: url });
      else if (s.username && s.password) out.push({ urls: url, username: s.username, credential: s.password });
    }
    return out;
  } catch {
    return [];
  }
}
