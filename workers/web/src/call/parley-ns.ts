/**
 * Parley's own XMPP extensions as StanzaJS (JXT) definitions: urn:parley:media:0 and urn:parley:av:0 (described in
 * contract/media.ts and docs/architecture.md), and urn:parley:resume:0, a resume token in a join presence
 * (`<resume xmlns='urn:parley:resume:0' token='RANDOM'/>`): a later join to the same nick with the same token takes
 * the occupancy back after a network change (durable/features/muc-resume.ts).
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
    fields: { mode: attribute("mode"), url: attribute("url"), grant: attribute("grant"), unreachable: attribute("unreachable") },
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

