/**
 * Parley's own XMPP extensions, as StanzaJS (JXT) definitions:
 *
 * 1. Media mode, namespace `urn:parley:media:0` (shared contract with the room server, durable/):
 *    `<message type='headline' from='ROOM@conference.DOMAIN'><media xmlns='urn:parley:media:0' mode='bridge'
 *    url='WS_URL' grant='GRANT'/></message>`, or `mode='p2p'`; and `<iq type='get' to='ROOM'><media/></iq>` for a
 *    fresh grant, answered with the same `<media/>`; `<iq type='set' to='ROOM'><media unreachable='WS_URL'/></iq>`:
 *    the room's bridge does not answer us (the room checks it and moves the call).
 * 2. Audio/video state in MUC presence, namespace `urn:parley:av:0`:
 *    `<av xmlns='urn:parley:av:0' audio='on|off' video='on|off' screen='on|off'/>` (XEP-0045 §7.7: the room
 *    broadcasts an occupant's presence with its extensions to every occupant).
 */
import type { Agent } from "stanza";
import { attribute, type DefinitionOptions } from "stanza/jxt";
import { NS_AV, NS_MEDIA, type ParleyAv, type ParleyMedia } from "../../../../contract/media";

export * from "../../../../contract/media";

declare module "stanza/protocol" {
  export interface Message {
    parleyMedia?: ParleyMedia;
  }
  export interface Presence {
    parleyAv?: ParleyAv;
  }
  export interface IQPayload {
    parleyMedia?: ParleyMedia;
  }
}

const definitions: DefinitionOptions[] = [
  {
    element: "media",
    namespace: NS_MEDIA,
    path: "message.parleyMedia",
    aliases: ["iq.parleyMedia"],
    fields: { mode: attribute("mode"), url: attribute("url"), grant: attribute("grant"), unreachable: attribute("unreachable") },
  },
  {
    element: "av",
    namespace: NS_AV,
    path: "presence.parleyAv",
    fields: { audio: attribute("audio"), video: attribute("video"), screen: attribute("screen") },
  },
];

export function registerParleyExtensions(client: Agent): void {
  client.stanzas.define(definitions);
}

