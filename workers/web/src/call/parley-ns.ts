/**
 * Parley's own XMPP extensions, as StanzaJS (JXT) definitions:
 *
 * 1. Media mode, namespace `urn:parley:media:0` (shared contract with the room server, durable/):
 *    `<message type='headline' from='ROOM@conference.DOMAIN'><media xmlns='urn:parley:media:0' mode='bridge'
 *    url='WS_URL' grant='GRANT'/></message>`, or `mode='p2p'`; and `<iq type='get' to='ROOM'><media/></iq>` for a
 *    fresh grant, answered with the same `<media/>`.
 * 2. Audio/video state in MUC presence, namespace `urn:parley:av:0`:
 *    `<av xmlns='urn:parley:av:0' audio='on|off' video='on|off' screen='on|off'/>` (XEP-0045 §7.7: the room
 *    broadcasts an occupant's presence with its extensions to every occupant).
 * 3. Resume token in a join presence, namespace `urn:parley:resume:0`: `<resume xmlns='urn:parley:resume:0'
 *    token='RANDOM'/>`; a later join to the same nick with the same token takes the occupancy back after a network
 *    change (durable/features/muc-resume.ts).
 */
import type { Agent } from "stanza";
import { attribute, type DefinitionOptions } from "stanza/jxt";
import { NS_AV, NS_MEDIA, type ParleyAv, type ParleyMedia } from "../../../../contract/media";
import { NS_RESUME } from "../../../../contract/resume";

export * from "../../../../contract/media";

declare module "stanza/protocol" {
  export interface Message {
    parleyMedia?: ParleyMedia;
  }
  export interface Presence {
    parleyAv?: ParleyAv;
    parleyResume?: { token: string };
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
    fields: { mode: attribute("mode"), url: attribute("url"), grant: attribute("grant") },
  },
  {
    element: "av",
    namespace: NS_AV,
    path: "presence.parleyAv",
    fields: { audio: attribute("audio"), video: attribute("video"), screen: attribute("screen") },
  },
  { element: "resume", namespace: NS_RESUME, path: "presence.parleyResume", fields: { token: attribute("token") } },
];

export function registerParleyExtensions(client: Agent): void {
  client.stanzas.define(definitions);
}

