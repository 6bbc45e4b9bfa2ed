/**
 * Parley's own XMPP extensions: names, payload types, the one builder (the room) and the one validating parser (the
 * web app; hand-written, so that zod stays out of the browser bundle). No StanzaJS here, so it is unit-tested on its
 * own; the web app's JXT definitions are in workers/web/src/call/parley-ns.ts:
 *
 * 1. Media mode, namespace `urn:parley:media:0` (shared contract with the room server, durable/):
 *    `<message type='headline' from='ROOM@conference.DOMAIN'><media xmlns='urn:parley:media:0' mode='bridge'
 *    url='WS_URL' grant='GRANT'/></message>`, or `mode='p2p'`; and `<iq type='get' to='ROOM'><media/></iq>` for a
 *    fresh grant, answered with the same `<media/>`. `mode='p2p'` with `url` and `grant` is standby: media stays
 *    direct, and we may connect to that bridge room now with our senders inactive (no media there before `bridge`).
 *    `mode='lobby'` (to a session on the hair check, not an occupant) with `url` and a lobby grant: the bridge room
 *    to prepare our connection on before joining (bridge-host/PROTOCOL.md "Lobby").
 *    `<iq type='set' to='ROOM'><media xmlns='urn:parley:media:0' unreachable='WS_URL'/></iq>` (an occupant): the
 *    room's bridge at that URL does not answer us (its socket closed, or it stalls); the room checks the bridge itself
 *    and moves the call to another one if it is down (durable/bridge/media-coordinator.ts).
 * 2. Audio/video state in MUC presence, namespace `urn:parley:av:0`:
 *    `<av xmlns='urn:parley:av:0' audio='on|off' video='on|off' screen='on|off'/>` (XEP-0045 §7.7: the room
 *    broadcasts an occupant's presence with its extensions to every occupant).
 */
import { escapeAttr } from "./xml";

export const NS_MEDIA = "urn:parley:media:0";
export const NS_AV = "urn:parley:av:0";

export type MediaMode = "p2p" | "bridge";

export interface ParleyMedia {
  mode?: string;
  url?: string;
  grant?: string;
  /** in an `<iq type='set'>` to the room: the room's bridge at this URL does not answer us */
  unreachable?: string;
}

export interface ParleyAv {
  audio?: string;
  video?: string;
  screen?: string;
}

/** A validated media-mode announcement; anything malformed is ignored (returns undefined). */
export type MediaAnnouncement =
  | { mode: "p2p"; standby?: { url: string; grant: string } }
  | { mode: "bridge"; url: string; grant: string }
  | { mode: "lobby"; url: string; grant: string };

export function parseMediaAnnouncement(m: ParleyMedia | undefined): MediaAnnouncement | undefined {
  if (!m) return undefined;
  const bridge = typeof m.url === "string" && /^wss?:\/\//.test(m.url) && typeof m.grant === "string" && m.grant.length > 0;
  if (m.mode === "p2p") return bridge ? { mode: "p2p", standby: { url: m.url!, grant: m.grant! } } : { mode: "p2p" };
  if ((m.mode === "bridge" || m.mode === "lobby") && bridge) return { mode: m.mode, url: m.url!, grant: m.grant! };
  return undefined;
}

/** The one builder of `<media xmlns='urn:parley:media:0'/>` (the room sends it; parseMediaAnnouncement reads it). */
export function mediaXml(a: MediaAnnouncement): string {
  const bridge = (url: string, grant: string) => ` url="${escapeAttr(url)}" grant="${escapeAttr(grant)}"`;
  switch (a.mode) {
    case "p2p":
      return `<media xmlns="${NS_MEDIA}" mode="p2p"${a.standby ? bridge(a.standby.url, a.standby.grant) : ""}/>`;
    case "bridge":
    case "lobby":
      return `<media xmlns="${NS_MEDIA}" mode="${a.mode}"${bridge(a.url, a.grant)}/>`;
    default: {
      const never: never = a;
      throw new Error(`unknown media announcement ${JSON.stringify(never)}`);
    }
  }
}

export interface AvState {
  audio: boolean;
  video: boolean;
  screen: boolean;
}

export function avToWire(s: AvState): ParleyAv {
  return { audio: s.audio ? "on" : "off", video: s.video ? "on" : "off", screen: s.screen ? "on" : "off" };
}

export function avFromWire(a: ParleyAv | undefined): AvState | undefined {
  if (!a) return undefined;
  return { audio: a.audio !== "off", video: a.video !== "off", screen: a.screen === "on" };
}
