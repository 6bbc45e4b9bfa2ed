/**
 * A synthetic participant: a person in a call without a browser, for calls larger than this machine can run as
 * Chromium pages. It goes the way the web app goes, with the web app's own modules where they run in Node:
 *   - XMPP over the edge's WebSocket (StanzaJS, SASL ANONYMOUS), the room joined with its a/v state and MLS identity;
 *   - an MLS member of the call's group (workers/web/src/e2ee/member.ts, over mls-xmpp.ts's Delivery Service
 *     stanzas): its KeyPackage handed in before the join, added by a commit, and committing when the room asks it;
 *   - the room's bridge and grant (`urn:parley:media:0`), the bridge's signaling (bridge-signaling.ts), and a camera
 *     sent over a real WebRTC transport, every frame SFrame-encrypted with the group's keys, in the layers the bridge
 *     asks for (`layerDemand`; synthetic-media.ts).
 * It receives nothing and sends no sound: its tile is what the real pages look at.
 */
import * as Stanza from "stanza";
import * as JID from "stanza/JID";
import type { ReceivedMessage } from "stanza/protocol";
import WebSocket from "ws";
import { Signaling } from "../../../workers/web/src/call/bridge-signaling";
import { parseMediaAnnouncement, registerParleyExtensions } from "../../../workers/web/src/call/parley-ns";
import { withTimeout } from "../../../workers/web/src/call/room-admin";
import { FrameKeys } from "../../../workers/web/src/e2ee/frame-keys";
import { MlsMember } from "../../../workers/web/src/e2ee/member";
import { onRoomPayloads, roomDeliveryService } from "../../../workers/web/src/e2ee/mls-xmpp";
import { SyntheticCamera, type EncodedVideo, type TransportInfo } from "./synthetic-media";

// The bridge's signaling (bridge-signaling.ts) uses the WHATWG WebSocket global, which Node 20 does not have.
if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === "undefined") {
  (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
}

export interface SyntheticOptions {
  /** the edge's origin, e.g. http://127.0.0.1:8787 */
  httpUrl: string;
  room: string;
  nick: string;
  /** the camera: one encoding, or simulcast layers lowest first (encodeTestCamera) */
  video: EncodedVideo[];
}

export class SyntheticParticipant {
  readonly #stops: Array<() => unknown> = [];
  camera: SyntheticCamera | undefined;

  private constructor(
    readonly nick: string,
    readonly client: Stanza.Agent,
    readonly member: MlsMember,
  ) {}

  /** Join the room, get into its MLS group, and send the camera through the room's bridge. */
  static async join(o: SyntheticOptions): Promise<SyntheticParticipant> {
    const edge = new URL(o.httpUrl);
    const client = Stanza.createClient({
      server: edge.hostname,
      transports: { websocket: `ws://${edge.host}/xmpp-websocket/${o.room}`, bosh: false },
      useStreamManagement: false,
      timeout: 15,
    });
    for (const mech of ["SCRAM-SHA-1", "DIGEST-MD5", "PLAIN", "X-OAUTH2", "EXTERNAL"]) client.sasl.disable(mech);
    registerParleyExtensions(client);
    const started = new Promise<void>((resolve, reject) => {
      client.once("session:started", () => resolve());
      client.once("auth:failed", () => reject(new Error("SASL ANONYMOUS failed")));
      client.once("disconnected", () => reject(new Error("disconnected before the session started")));
    });
    client.connect();
    await withTimeout(started, 20_000, "XMPP session: no answer in 20 s");
    const roomJid = `${o.room}@conference.${JID.getDomain(client.jid)}`;

    const member = new MlsMember(roomDeliveryService(client, roomJid), { log: () => undefined });
    const me = new SyntheticParticipant(o.nick, client, member);
    try {
      me.#stops.push(onRoomPayloads(client, roomJid, (p) => void member.receive(p)));
      // The frame keys follow the group's epochs (a first epoch, or a new group after a rejoin: keys.ts).
      const keys = new FrameKeys({ now: () => performance.now() });
      me.#stops.push(
        member.onEpoch((k) => {
          if (keys.epoch !== undefined && k.epoch <= keys.epoch) keys.clear();
          keys.setEpoch(k);
        }),
      );
      const identity = await member.publish();

      // The bridge's announcement may come with the join, or be asked for after it.
      let announced: (a: { url: string; grant: string }) => void = () => undefined;
      const bridge = new Promise<{ url: string; grant: string }>((r) => (announced = r));
      const onMessage = (msg: ReceivedMessage): void => {
        const a = JID.equalBare(msg.from, roomJid) ? parseMediaAnnouncement(msg.parleyMedia) : undefined;
        if (a?.mode === "bridge") announced(a);
      };
      client.on("message", onMessage);
      me.#stops.push(() => client.off("message", onMessage));
      await withTimeout(
        client.joinRoom(roomJid, o.nick, {
          muc: { type: "join" },
          parleyAv: { audio: "off", video: "on", screen: "off" },
          parleyMls: { identity },
        }),
        15_000,
        "the room did not answer the join",
      );
      const asked = await client.sendIQ({ to: roomJid, type: "get", parleyMedia: {} }).catch(() => undefined);
      const a = parseMediaAnnouncement(asked?.parleyMedia);
      if (a?.mode === "bridge") announced(a);
      const { url, grant } = await withTimeout(bridge, 30_000, "the room announced no bridge within 30 s");

      const sig = await Signaling.open(`${url}${url.includes("?") ? "&" : "?"}grant=${encodeURIComponent(grant)}`);
      me.#stops.push(() => sig.ws.close(1000, "leaving"));
      await sig.request("getRouterRtpCapabilities");
      const t = await sig.request<TransportInfo>("createWebRtcTransport", { direction: "send" });
      // The bridge says which layers its viewers want as soon as the producer is made, and on every change.
      const demand = new Map<string, number>();
      sig.onNotification = (method, d) => {
        if (method !== "layerDemand" || typeof d.producerId !== "string" || typeof d.spatialLayer !== "number") return;
        demand.set(d.producerId, d.spatialLayer);
        if (me.camera?.producerId === d.producerId) me.camera.setTopLayer(d.spatialLayer);
      };
      me.camera = await SyntheticCamera.start(
        t,
        {
          connect: (dtlsParameters) => sig.request("connectWebRtcTransport", { transportId: t.id, dtlsParameters }).then(() => undefined),
          produce: (rtpParameters, appData) =>
            sig
              .request<{ id: string }>("produce", { transportId: t.id, kind: "video", rtpParameters, appData: { source: "camera", ...appData } })
              .then((r) => r.id),
        },
        o.video,
        keys,
      );
      const first = demand.get(me.camera.producerId);
      if (first !== undefined) me.camera.setTopLayer(first);
      return me;
    } catch (e) {
      await me.close();
      throw e;
    }
  }

  /** Leave: the camera and the bridge first, then the room (its MLS group removes us). */
  async close(): Promise<void> {
    await this.camera?.close().catch(() => undefined);
    for (const stop of this.#stops.splice(0).reverse()) stop();
    const gone = new Promise<void>((r) => this.client.once("disconnected", () => r()));
    this.client.disconnect();
    await withTimeout(gone, 5000, "XMPP disconnect: no answer").catch(() => undefined);
  }
}
