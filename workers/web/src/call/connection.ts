/**
 * Keeping the call's XMPP stream up (part of the call shell, call.ts): the client's own reconnection once in the call,
 * connecting again at once when the call machine asks (`xmpp-restart`, `xmpp-connect`: after a network change),
 * the XEP-0199 ping the machine uses to tell a dead stream, and the browser's network events. It reports the stream
 * going down and coming back, the ping's answer and network changes to the machine, which decides what to do
 * (machine/step.ts).
 */
import type { Agent } from "stanza";
import { connectAction } from "./machine/connect";
import type { CallEvent } from "./machine/types";
import { withTimeout } from "./room-admin";

/** What the connection needs from the call. */
export interface ConnectionHost {
  left(): boolean;
  dispatch(ev: CallEvent): void;
}

export class Connection {
  /** We dropped the stream to connect again at once (xmpp-restart): connect when the client reports it down. */
  #connectWhenDown = false;
  /** When the current connection attempt started (xmpp-connect leaves a recent one alone). */
  #connectingSince = 0;

  constructor(
    readonly client: Agent,
    readonly host: ConnectionHost,
  ) {}

  /** In the call: the client reconnects by itself, and we follow the stream and the network. */
  start(): void {
    this.client.config.autoReconnect = true;
    this.client.on("disconnected", this.#onDisconnected);
    this.client.on("session:started", this.#onReconnected);
    this.#watchNetwork(true);
  }

  /** Leaving: no more reconnecting, nor following the network. */
  stop(): void {
    this.#watchNetwork(false);
    this.client.config.autoReconnect = false;
  }

  /** XEP-0199: ping the server; report the answer, or none within `timeoutMs`. */
  ping(timeoutMs: number): void {
    void withTimeout(this.client.ping(), timeoutMs, "timeout").then(
      () => this.host.dispatch({ type: "xmpp-ping", ok: true }),
      // An error answer (e.g. feature-not-implemented) is an answer: the stream carries (XEP-0199 §4).
      (err: unknown) => this.host.dispatch({ type: "xmpp-ping", ok: !(err instanceof Error && err.message === "timeout") }),
    );
  }

  /** Connect the stream again now, instead of after the client's back-off (machine/connect.ts decides how). */
  connectNow(drop: boolean): void {
    const client = this.client;
    if (this.host.left()) return;
    const now = Date.now();
    const action = connectAction(drop, { open: !!client.transport, inSession: !!client.sessionStarted, connectingSince: this.#connectingSince }, now);
    if (action === "none") return;
    if (action === "drop") {
      this.#connectWhenDown = true;
      client.transport?.disconnect(false);
      return;
    }
    clearTimeout((client as unknown as { reconnectTimer?: ReturnType<typeof setTimeout> }).reconnectTimer);
    performance.mark("parley:xmpp-connect");
    this.#connectingSince = now;
    client.connect();
  }

  readonly #onDisconnected = (): void => {
    // We rejoin ourselves (with password and a/v state): stop StanzaJS' own rejoin.
    this.client.joinedRooms.clear();
    this.client.joiningRooms.clear();
    if (this.#connectWhenDown) {
      this.#connectWhenDown = false;
      this.connectNow(false);
    }
    this.host.dispatch({ type: "xmpp-disconnected" });
  };

  readonly #onReconnected = (): void => {
    performance.mark("parley:xmpp-reconnected");
    this.host.dispatch({ type: "xmpp-reconnected" });
  };

  /** The browser's network events (HTML "online"/"offline", Network Information API "change"). */
  #watchNetwork(on: boolean): void {
    const conn = (navigator as Navigator & { connection?: EventTarget }).connection;
    for (const [target, ev] of [[window, "online"], [window, "offline"], [conn, "change"]] as const) {
      if (on) target?.addEventListener(ev, this.#onNetworkChange);
      else target?.removeEventListener(ev, this.#onNetworkChange);
    }
  }

  readonly #onNetworkChange = (ev: Event): void => {
    performance.mark(`parley:network-${ev.type}`);
    this.host.dispatch({ type: "network-change" });
  };
}
