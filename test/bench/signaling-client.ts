/**
 * The signaling bench's client: raw XMPP over WebSocket (RFC 7395), no XML library on the hot path (received frames
 * are only scanned for the bench's markers), so the client itself is not the bottleneck.
 *
 * `deflate`: offer permessage-deflate (RFC 7692) the way Chromium does (`permessage-deflate; client_max_window_bits`,
 * every message compressed when the server accepts, whatever its size).
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import WebSocket from "ws";

const FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";

/** Marker kinds in message bodies / stanza attributes: burst, fixed-rate, stanza-size probe. */
export const MARK = { burst: "BNCH|B|", fixed: "BNCH|F|", size: "BNCH|S|" } as const;

/** Burst bookkeeping shared by the clients of one round (one process): deliveries and when the last one landed. */
export class BurstTally {
  received = 0;
  expected = Infinity;
  endAt = 0;
  done: (() => void) | undefined;
}

export const JOIN_PHASES = ["upgrade", "features", "sasl", "restart", "bind", "join"] as const;
export type JoinPhase = (typeof JOIN_PHASES)[number];

export class BenchClient {
  ws!: WebSocket;
  /** text frames waiting for `waitFor` during setup */
  private pending: string[] = [];
  private waiter: (() => void) | undefined;
  closed = false;
  hot = false;
  // hot-path counters
  ownInFlight = 0;
  onOwnEcho: (() => void) | undefined;
  fixedLatencies: number[] = [];
  fixedReceived = 0;
  sizeReceived = 0;
  /** join phases: ms each step of connect/login/join took (upgrade, features, sasl, restart, bind, join) */
  readonly phases: Record<JoinPhase, number> = { upgrade: NaN, features: NaN, sasl: NaN, restart: NaN, bind: NaN, join: NaN };
  #last = 0;
  #phase(name: JoinPhase): void {
    const now = performance.now();
    this.phases[name] = now - this.#last;
    this.#last = now;
  }

  constructor(
    readonly index: number,
    readonly url: string,
    readonly domain: string,
    readonly deflate: boolean,
    readonly tally: BurstTally,
  ) {}

  async connect(): Promise<void> {
    this.#last = performance.now();
    this.ws = new WebSocket(this.url, ["xmpp"], { perMessageDeflate: this.deflate ? { threshold: 0 } : false });
    this.ws.on("message", (data: Buffer) => this.onFrame(data));
    this.ws.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    await new Promise<void>((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode} instead of 101`)));
    });
    if (this.ws.protocol !== "xmpp") throw new Error("server did not accept subprotocol xmpp");
    this.#phase("upgrade");
  }

  /** The negotiated extensions ("permessage-deflate" or ""). */
  get extensions(): string {
    return this.ws.extensions;
  }

  /** Bytes read from / written to the TCP socket so far (WebSocket framing and compression included). */
  wireBytes(): { read: number; written: number } {
    const s = (this.ws as unknown as { _socket: Socket | null })._socket;
    return { read: s?.bytesRead ?? 0, written: s?.bytesWritten ?? 0 };
  }

  private onFrame(data: Buffer): void {
    const now = performance.now();
    if (!this.hot) {
      this.pending.push(data.toString());
      this.waiter?.();
      return;
    }
    // Hot path: count markers; several stanzas per frame are allowed, so count every occurrence.
    const s = data.toString("latin1");
    let i = s.indexOf("BNCH|");
    while (i !== -1) {
      const kind = s.charCodeAt(i + 5);
      if (kind === 66 /* B */) {
        const t = this.tally;
        if (++t.received === t.expected) {
          t.endAt = now;
          t.done?.();
        }
        // body: BNCH|B|<sender>|<seq>
        const senderEnd = s.indexOf("|", i + 7);
        if (Number(s.slice(i + 7, senderEnd)) === this.index) {
          this.ownInFlight--;
          this.onOwnEcho?.();
        }
      } else if (kind === 70 /* F */) {
        // body: BNCH|F|<sentAtMs>|<seq>
        const tEnd = s.indexOf("|", i + 7);
        this.fixedReceived++;
        this.fixedLatencies.push(now - Number(s.slice(i + 7, tEnd)));
      } else if (kind === 83 /* S */) {
        this.sizeReceived++;
      }
      i = s.indexOf("BNCH|", i + 5);
    }
  }

  /** Setup only: wait for a frame containing `needle`; frames before it are dropped. */
  async waitFor(needle: string, ms = 30_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const idx = this.pending.findIndex((f) => f.includes(needle));
      if (idx !== -1) {
        const f = this.pending[idx]!;
        this.pending.splice(0, idx + 1);
        return f;
      }
      if (this.closed) throw new Error(`client ${this.index}: socket closed waiting for ${needle}`);
      if (Date.now() > deadline) throw new Error(`client ${this.index}: timeout waiting for ${needle}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = undefined;
    }
  }

  send(s: string): void {
    this.ws.send(s);
  }

  async login(): Promise<void> {
    const open = `<open xmlns='${FRAMING}' to='${this.domain}' version='1.0'/>`;
    this.send(open);
    await this.waitFor("mechanisms");
    this.#phase("features");
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>`);
    await this.waitFor("success");
    this.#phase("sasl");
    this.send(open);
    await this.waitFor("urn:ietf:params:xml:ns:xmpp-bind");
    this.#phase("restart");
    this.send(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    await this.waitFor("<jid>");
    this.#phase("bind");
  }

  async join(roomJid: string, nick: string): Promise<void> {
    this.send(
      `<presence xmlns='jabber:client' to='${roomJid}/${nick}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`,
    );
    // The join ends with the room's subject message (XEP-0045 §7.2.15).
    await this.waitFor("subject");
    this.#phase("join");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((r) => this.ws.once("close", () => r()));
    try {
      this.send(`<close xmlns='${FRAMING}'/>`);
    } catch {
      /* closing */
    }
    await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
    if (!this.closed) this.ws.terminate();
  }
}

/**
 * Typical signaling stanzas for the wire-size probe (what a call's signaling is made of): a chat message, an
 * occupant's presence update (XEP-0115 caps, video muted flag as Jitsi-style clients send), and a Jingle
 * session-initiate (XEP-0166/0167/0176/0320) for audio+video as a browser's SDP maps to it. `k` goes into a marker.
 */
export function typicalStanzas(roomJid: string, toNick: string, k: number): Record<"chat" | "presence" | "jingle", string> {
  const mark = `${MARK.size}${k}`;
  // What differs between real stanzas differs here too (credentials, fingerprints, SSRCs, ids, text), so
  // compression with context takeover is not flattered by sending the same bytes again.
  const hex = (bytes: number) => randomBytes(bytes).toString("hex");
  const b64 = (bytes: number) => randomBytes(bytes).toString("base64");
  const ssrc = () => randomBytes(4).readUInt32BE(0);
  const port = () => 49152 + randomBytes(2).readUInt16BE(0) % 16384;
  const msid = randomUUID();
  const text = CHAT_LINES[k % CHAT_LINES.length]!;
  const payloads = (media: "audio" | "video") =>
    media === "audio"
      ? `<payload-type id='111' name='opus' clockrate='48000' channels='2'><parameter name='minptime' value='10'/><parameter name='useinbandfec' value='1'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/></payload-type><payload-type id='0' name='PCMU' clockrate='8000'/><rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/><rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='3' uri='http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'/><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='${ssrc()}'><parameter name='msid' value='${msid} ${randomUUID()}'/></source><rtcp-mux/>`
      : `<payload-type id='96' name='VP8' clockrate='90000'><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='goog-remb'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='ccm' subtype='fir'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/></payload-type><payload-type id='97' name='rtx' clockrate='90000'><parameter name='apt' value='96'/></payload-type><payload-type id='98' name='VP9' clockrate='90000'><parameter name='profile-id' value='0'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/></payload-type><rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='3' uri='http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'/><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='${v1}'><parameter name='msid' value='${msid} ${randomUUID()}'/></source><ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='${v1}'/><source ssrc='${ssrc()}'/></ssrc-group><rtcp-mux/>`;
  const v1 = ssrc();
  const p1 = port();
  const fingerprint = randomBytes(32).toString("hex").toUpperCase().match(/../g)!.join(":");
  const transport = `<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='${b64(3)}' pwd='${b64(18)}'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>${fingerprint}</fingerprint><candidate component='1' foundation='1' generation='0' id='c1' ip='192.0.2.10' network='1' port='${p1}' priority='2122260223' protocol='udp' type='host'/><candidate component='1' foundation='2' generation='0' id='c2' ip='198.51.100.7' network='1' port='${port()}' priority='1686052607' protocol='udp' rel-addr='192.0.2.10' rel-port='${p1}' type='srflx'/></transport>`;
  const content = (media: "audio" | "video") =>
    `<content creator='initiator' name='${media === "audio" ? "0" : "1"}' senders='both'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='${media}'>${payloads(media)}</description>${transport}</content>`;
  return {
    chat: `<message xmlns='jabber:client' to='${roomJid}' type='groupchat' id='${hex(8)}'><body>${text} ${mark}</body><origin-id xmlns='urn:xmpp:sid:0' id='${randomUUID()}'/></message>`,
    presence: `<presence xmlns='jabber:client' to='${roomJid}/u0' id='${hex(8)}'><status>${mark}</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://parley.example/caps' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/><videomuted xmlns='http://jitsi.org/jitmeet/video'>${k % 2 === 0}</videomuted></presence>`,
    jingle: `<iq xmlns='jabber:client' to='${roomJid}/${toNick}' type='set' id='${hex(8)}'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='${roomJid}/u0' sid='${mark}'><group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'><content name='0'/><content name='1'/></group>${content("audio")}${content("video")}</jingle></iq>`,
  };
}

const CHAT_LINES = [
  "Can you hear me now? The video froze for a second.",
  "I'll share my screen in a minute, just finding the right window.",
  "Sorry, the train is going through a tunnel, back soon",
  "ok",
  "Could everyone mute when not speaking? There's an echo.",
  "The link to the document is in the calendar invite.",
  "brb, someone at the door",
  "Thanks all, see you next week!",
];
