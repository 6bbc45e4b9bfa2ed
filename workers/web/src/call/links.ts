/**
 * The call shell's bridge links (bridge.ts), by the ids the call machine hands out (machine/types.ts): connecting a
 * move's link (taken from standby, admitted from the hair check's lobby, or fresh), connecting a standby link, closing
 * them, and reporting their progress back to the machine as events.
 */
import type { BridgeEvents, BridgeLink } from "./bridge";
import type { CallEvent, LinkId } from "./machine/types";
import { withTimeout } from "./room-admin";
import type { Lobby } from "./warm";

let bridgeModule: typeof import("./bridge") | undefined;
/** The bridge code (mediasoup-client), kept once loaded; fetched as soon as the call module is (during the hair check). */
export function loadBridge(): Promise<typeof import("./bridge")> {
  return import("./bridge").then((m) => (bridgeModule = m));
}
export function bridgeLoaded(): boolean {
  return bridgeModule !== undefined;
}
/**
 * The module as fetched in the background, used right away: awaiting import() again still costs a task or two, which
 * is noticeable while three pages share the CPU at the start of a move. Bounded: a chunk request that is never answered
 * (seen against `wrangler dev`) must not leave the call stuck moving to the bridge.
 */
function bridgeCode(): Promise<typeof import("./bridge")> {
  return bridgeModule ? Promise.resolve(bridgeModule) : withTimeout(loadBridge(), 15_000, "the bridge code did not load");
}

/** What the links need from the call. */
export interface LinkHost {
  dispatch(ev: CallEvent): void;
  nick(): string;
  sendStream(): MediaStream;
  /** What a link reports about streams and peers (bridge.ts BridgeEvents, without `failed` and `stalled`). */
  streams: Omit<BridgeEvents, "failed" | "stalled">;
  /** Is this link the bridge the machine now moves to or is on? */
  isCurrent(link: LinkId): boolean;
  /** Is this link the standby link the machine wants? */
  isStandby(link: LinkId): boolean;
  /** Has every participant we see directly got their stream through the bridge, on screen? */
  everyoneOnBridge(): boolean;
}

/** How long a move keeps the direct sessions after its link is ready, waiting for everyone's bridge stream. */
const SHOWN_MAX_MS = 4000;

export class Links {
  readonly #links = new Map<LinkId, BridgeLink>();
  #lobby: Lobby | undefined;

  constructor(
    readonly host: LinkHost,
    lobby: Lobby | undefined,
  ) {
    this.#lobby = lobby;
  }

  all(): BridgeLink[] {
    return [...this.#links.values()];
  }

  get(link: LinkId): BridgeLink | undefined {
    return this.#links.get(link);
  }

  close(link: LinkId): void {
    this.#links.get(link)?.close();
    this.#links.delete(link);
  }

  closeLobby(): void {
    this.#lobby?.close();
    this.#lobby = undefined;
  }

  #events(link: LinkId): BridgeEvents {
    const { dispatch } = this.host;
    return {
      ...this.host.streams,
      failed: (reason, restarted) => dispatch({ type: "link-failed", link, reason, restarted }),
      stalled: () => dispatch({ type: "link-stalled", link }),
    };
  }

  /** Make-before-break (direct -> bridge): get the move's link, send and receive there, report when it carries. */
  async connect(attempt: number, id: LinkId, url: string, grant: string, via: "standby" | "lobby" | "fresh"): Promise<void> {
    const { dispatch } = this.host;
    performance.mark("parley:bridge:announced");
    try {
      // Standby: the connection made while someone waited on the hair check only needs its senders turned on.
      let link = via === "standby" ? this.#links.get(id) : via === "lobby" ? await this.#admitLobby(url, grant, id) : undefined;
      if (link) {
        performance.mark("parley:bridge:from-standby");
        await link.activate();
      } else {
        const { connectBridge } = await bridgeCode();
        link = await connectBridge(url, grant, this.host.nick(), this.host.sendStream(), this.#events(id));
      }
      this.#links.set(id, link);
      dispatch({ type: "bridge-linked", attempt, link: id });
      if (!this.host.isCurrent(id)) return;
      await link.ready;
      // Make-before-break: keep the direct sessions (or the previous bridge) until everyone we see directly is shown
      // through this bridge (bridge.ts offers a stream once its video carries media), at most a few seconds.
      for (const until = Date.now() + SHOWN_MAX_MS; Date.now() < until; await new Promise((r) => setTimeout(r, 40))) {
        if (!this.host.isCurrent(id) || this.host.everyoneOnBridge()) break;
      }
      dispatch({ type: "bridge-carrying", attempt, link: id });
    } catch (e) {
      dispatch({ type: "bridge-failed", attempt, reason: e instanceof Error ? e.message : String(e) });
    }
  }

  /** A standby link: set up with senders inactive; the media stays direct until a move to this bridge room. */
  async connectStandby(id: LinkId, url: string, grant: string): Promise<void> {
    try {
      const { connectBridge } = await bridgeCode();
      if (!this.host.isStandby(id)) return;
      const link = await connectBridge(url, grant, this.host.nick(), this.host.sendStream(), this.#events(id), { standby: true });
      this.#links.set(id, link);
      this.host.dispatch({ type: "standby-linked", link: id });
      await link.ready;
    } catch (e) {
      // Nothing depends on it: the call stays direct, and a move to the bridge connects afresh.
      this.host.dispatch({ type: "link-failed", link: id, reason: e instanceof Error ? e.message : String(e) });
      console.warn("bridge standby failed", e);
    }
  }

  /**
   * The hair check's lobby connection to this bridge room, admitted as us with our occupant grant, if there is one
   * (any other is closed). It then is a standby link (bridge.ts) with our call's tracks.
   */
  async #admitLobby(url: string, grant: string, id: LinkId): Promise<BridgeLink | undefined> {
    const lobby = this.#lobby;
    this.#lobby = undefined;
    const link = lobby?.url === url ? lobby.link : undefined;
    if (!link) {
      lobby?.close();
      return undefined;
    }
    try {
      await link.admit(grant, this.host.nick(), this.#events(id));
      performance.mark("parley:bridge:from-lobby");
      const send = this.host.sendStream();
      for (const kind of ["audio", "video"] as const) {
        const track = (kind === "audio" ? send.getAudioTracks() : send.getVideoTracks())[0] ?? null;
        await link.replaceTrack(kind, track);
      }
      return link;
    } catch (e) {
      console.warn("bridge lobby not admitted", e);
      link.close();
      return undefined;
    }
  }
}
