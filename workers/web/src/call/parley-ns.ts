/**
 * Parley's own XMPP extensions (urn:parley:media:0 and urn:parley:av:0, described in contract/media.ts and
 * docs/architecture.md) as StanzaJS (JXT) definitions.
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

