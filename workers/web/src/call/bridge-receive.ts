/**
 * Receiving on a bridge link (bridge.ts): consuming every producer the bridge announces (`newProducer`, and across
 * the lobby `lobbyProducer`), in batches; each peer's tracks joined into one stream handed to the page; producers
 * and peers that go (`producerClosed`, `peerLeft`); and how large we show each video (`setConsumerSize`,
 * bridge-host/PROTOCOL.md). Nothing reaches the page while the link is on standby.
 */
import type { Device, types } from "mediasoup-client";
import type { CallEncryption } from "../e2ee/call-encryption";
import type { BridgeEvents } from "./bridge";
import { str, type Json, type Signaling } from "./bridge-signaling";
import { addWanted, type Wanted } from "./consume-batch";
import { tileSizes, type TileSize } from "./tile-sizes";

/** What the two halves of a link (this one and bridge-send.ts) share with it; bridge.ts changes it. */
export interface LinkState {
  closed: boolean;
  /** senders inactive and no stream handed to the page, until `activate()` */
  standby: boolean;
  /** our nick on the bridge (a lobby link gets it on admission) */
  me: string;
  events: BridgeEvents;
}

/** What a link receives with: its signaling, the loaded device, the receive transport, and the frame decryption. */
export interface ReceiveDeps {
  sig: Signaling;
  device: Device;
  recv: types.Transport;
  e2ee: CallEncryption | undefined;
  mark(what: string): void;
}

interface ConsumeAnswer {
  id: string;
  producerId: string;
  kind: "audio" | "video";
  rtpParameters: types.RtpParameters;
}

export class BridgeReceiver {
  /** by producerId; `nick` undefined: consumed across the lobby, not named yet; `resumed`: the bridge answered our resume */
  readonly #consumers = new Map<string, { consumer: types.Consumer; nick: string | undefined; resumed: boolean }>();
  /** by nick */
  readonly #streams = new Map<string, MediaStream>();
  /** producerId -> consume in flight or done */
  readonly #requested = new Map<string, { nick: string | undefined; kind: string | undefined }>();
  /** newProducer notifications that arrive together (everyone already producing, on connect) are consumed together */
  #batch: Wanted[] | undefined;
  readonly #pending: Promise<void>[] = [];
  readonly #unsubscribeSizes: () => void;

  constructor(
    readonly link: LinkState,
    readonly deps: ReceiveDeps,
  ) {
    this.#unsubscribeSizes = tileSizes.subscribe((nick, size) => {
      for (const e of this.#consumers.values()) {
        if (e.nick === nick && e.consumer.kind === "video" && !e.consumer.closed) this.#sendSize(e.consumer, size);
      }
    });
  }

  /** Every consume started so far, done. */
  async settled(): Promise<void> {
    await Promise.all(this.#pending);
  }

  /**
   * Do we receive this peer's video: consumed and resumed? Resumed matters: the bridge answers a connection's requests
   * in order, so a request of ours sent before the resume (our own audio producer, bridge-send.ts) would hold it up.
   */
  videoConsumed(nick: string): boolean {
    return [...this.#consumers.values()].some((c) => c.nick === nick && c.consumer.kind === "video" && c.resumed);
  }

  /** The bridge's notifications about producers and peers (bridge-host/PROTOCOL.md). */
  onNotification(method: string, d: Json): void {
    switch (method) {
      case "newProducer": {
        const producerId = str(d.producerId);
        const nick = str(d.nick);
        if (producerId && nick) {
          this.deps.mark(`offered:${nick}:${str(d.kind) ?? "?"}`);
          if (this.#requested.has(producerId)) this.#name(producerId, nick);
          else this.#consumeSoon(producerId, nick, str(d.kind));
        }
        return;
      }
      case "lobbyProducer": {
        const producerId = str(d.producerId);
        if (producerId) this.#consumeSoon(producerId, undefined, str(d.kind));
        return;
      }
      case "producerClosed": {
        const producerId = str(d.producerId);
        if (producerId) this.#requested.delete(producerId);
        const entry = producerId ? this.#consumers.get(producerId) : undefined;
        if (!entry || !producerId) return;
        this.#consumers.delete(producerId);
        entry.consumer.close();
        if (entry.nick !== undefined) this.#streams.get(entry.nick)?.removeTrack(entry.consumer.track);
        return;
      }
      case "peerLeft": {
        const nick = str(d.nick);
        if (!nick) return;
        for (const [pid, e] of this.#consumers) if (e.nick === nick) (e.consumer.close(), this.#consumers.delete(pid));
        for (const [pid, r] of this.#requested) if (r.nick === nick) this.#requested.delete(pid);
        this.#streams.delete(nick);
        if (!this.link.standby) this.link.events.peerGone(nick);
        return;
      }
      default:
        return; // peerJoined: the room's presence already tells us
    }
  }

  /** Leaving standby: hand the page everyone's streams, and tell the bridge the sizes we show them at. */
  activate(): void {
    for (const nick of this.#streams.keys()) this.#offer(nick);
    for (const e of this.#consumers.values()) {
      const size = e.nick !== undefined && e.consumer.kind === "video" ? tileSizes.get(e.nick) : undefined;
      if (size) this.#sendSize(e.consumer, size);
    }
  }

  close(): void {
    this.#unsubscribeSizes();
    for (const e of this.#consumers.values()) e.consumer.close();
  }

  /**
   * Hand a peer's bridge stream to the page as soon as its video consumer exists, before any media flows: the page
   * sets up its player for it meanwhile, and keeps the direct stream on screen until the bridge's first frame is
   * (view.ts, setRemoteStream: make-before-break on screen), so the first frame shows the moment it is decoded.
   */
  #offer(nick: string): void {
    const stream = this.#streams.get(nick);
    if (!stream || this.link.closed || this.link.standby) return;
    const videoComing = [...this.#requested.values()].some((r) => r.nick === nick && r.kind === "video");
    if (stream.getVideoTracks()[0] || !videoComing) this.link.events.remoteStream(nick, stream);
  }

  /** A consumer's track joins its owner's stream, which goes to the page (#offer). */
  #attach(consumer: types.Consumer, nick: string): void {
    let stream = this.#streams.get(nick);
    if (!stream) this.#streams.set(nick, (stream = new MediaStream()));
    for (const t of stream.getTracks()) if (t.kind === consumer.track.kind) stream.removeTrack(t);
    stream.addTrack(consumer.track);
    this.#offer(nick);
  }

  #consumeSoon(producerId: string, nick: string | undefined, kind: string | undefined): void {
    if (this.#batch) return void addWanted(this.#batch, { producerId, nick, kind });
    const b = (this.#batch = [{ producerId, nick, kind }]);
    this.#pending.push(
      Promise.resolve().then(() => {
        this.#batch = undefined;
        return this.#consumeAll(b);
      }),
    );
  }

  /**
   * Consume a set of producers with as few steps as possible: all `consume` requests at once (the bridge answers in
   * order), then every `recvTransport.consume()` in the same tick (mediasoup-client makes that ONE SDP renegotiation),
   * then all `resumeConsumer` requests at once. Resuming makes the bridge ask each sender for a key frame.
   */
  async #consumeAll(items: Wanted[]): Promise<void> {
    const { sig, device, recv, e2ee, mark } = this.deps;
    const fresh = items.filter((i) => i.nick !== this.link.me && !this.#requested.has(i.producerId));
    for (const i of fresh) this.#requested.set(i.producerId, { nick: i.nick, kind: i.kind });
    for (const i of fresh) mark(`consume:${i.nick ?? "lobby"}:${i.kind ?? "?"}`);
    const answers = await Promise.allSettled(
      fresh.map((i) =>
        sig.request<ConsumeAnswer>("consume", { transportId: recv.id, producerId: i.producerId, rtpCapabilities: device.rtpCapabilities }),
      ),
    );
    mark(`consume-answered:${fresh.length}`);
    const made = await Promise.allSettled(
      answers.map((a) =>
        a.status === "fulfilled"
          ? recv.consume({
              id: a.value.id,
              producerId: a.value.producerId,
              kind: a.value.kind,
              rtpParameters: a.value.rtpParameters,
              onRtpReceiver: e2ee && ((r) => e2ee.receiver(r, a.value.kind)),
            })
          : Promise.reject(a.reason as Error),
      ),
    );
    await Promise.all(
      made.map(async (m, k) => {
        if (m.status === "rejected") {
          this.#requested.delete(fresh[k]!.producerId);
          if (!this.link.closed) console.warn("bridge consume failed", m.reason);
          return;
        }
        const consumer = m.value;
        const req = this.#requested.get(consumer.producerId);
        if (this.link.closed || !req) return consumer.close(); // left or producer closed meanwhile
        const nick = req.nick; // named meanwhile, perhaps (see #name)
        mark(`made:${nick ?? "lobby"}:${consumer.kind}`);
        const entry = { consumer, nick, resumed: false };
        this.#consumers.set(consumer.producerId, entry);
        if (nick !== undefined) this.#attach(consumer, nick);
        // Its size first, if the page shows this person already (requests are handled in order): a video off screen
        // is then never started, and a large one asks for its layer from the first key frame on.
        const size = nick !== undefined && consumer.kind === "video" ? tileSizes.get(nick) : undefined;
        if (size) this.#sendSize(consumer, size);
        try {
          // Across the lobby, the bridge holds this until admission (and says so): nothing more to do then.
          await sig.request("resumeConsumer", { consumerId: consumer.id });
          entry.resumed = true;
        } catch (e) {
          if (!this.link.closed) console.warn("bridge resume failed", e);
          return;
        }
        mark(`consumed:${nick ?? "lobby"}:${consumer.kind}`);
      }),
    );
  }

  /** A producer consumed across the lobby gets its owner's name (on admission): its track goes to that stream. */
  #name(producerId: string, nick: string): void {
    const req = this.#requested.get(producerId);
    if (!req || req.nick !== undefined) return;
    req.nick = nick;
    const entry = this.#consumers.get(producerId);
    if (!entry) return; // still being made: #consumeAll attaches it
    entry.nick = nick;
    this.#attach(entry.consumer, nick);
    const size = entry.consumer.kind === "video" ? tileSizes.get(nick) : undefined;
    if (size) this.#sendSize(entry.consumer, size);
    this.deps.mark(`named:${nick}:${entry.consumer.kind}`);
  }

  /** Tell the bridge how large we show a video consumer (PROTOCOL.md `setConsumerSize`). */
  #sendSize(consumer: types.Consumer, size: TileSize): void {
    if (this.link.closed || this.link.standby) return;
    this.deps.sig.request("setConsumerSize", { consumerId: consumer.id, width: size.width, height: size.height }).catch((e: unknown) => {
      if (!this.link.closed && !consumer.closed) console.warn("bridge size", e);
    });
  }
}
