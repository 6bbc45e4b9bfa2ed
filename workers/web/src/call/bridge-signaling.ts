/**
 * The bridge's JSON signaling over WebSocket (bridge-host/PROTOCOL.md): requests `{id, method, data}` answered by
 * `{response, id, ok, data|error}`, and notifications `{notification, method, data}`. Used by bridge.ts.
 */
export type Json = Record<string, unknown>;
interface Pending {
  resolve(d: unknown): void;
  reject(e: Error): void;
}

/** Minimal runtime checks on what the bridge sends (the boundary); malformed frames are dropped. */
function asObject(v: unknown): Json | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}
export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * Liveness (bridge-host/PROTOCOL.md `ping`): a bridge host that froze or dropped off the network keeps our socket
 * open and answers nothing, and the browser notices no close for minutes. A ping goes out every PING_EVERY_MS; one
 * not answered within PING_LATE_MS means the bridge stalls. An answer takes a few milliseconds on a live bridge, so
 * 750 ms is far beyond a busy one's delay while keeping the detection (and the call's move) quick.
 */
const PING_EVERY_MS = 200;
const PING_LATE_MS = 750;
/**
 * A ping whose timeout itself ran this much late says the page was too busy to read an answer in time (its main
 * thread blocked, the answer perhaps waiting in the socket): it tells nothing about the bridge, and the next ping
 * decides. Several pages busy at once must not look like a stalled bridge, since most of a room reporting moves the
 * call (durable/bridge/media-coordinator.ts). More than a second: a call in a background tab has its timers run once
 * a second (Chromium's throttling), so its timeout runs up to a second late as a matter of course, and such a page
 * must notice a stalled bridge as quickly as the others.
 */
const PAGE_BUSY_MS = 1250;

/** Does a ping sent at `sentAt` whose deadline ran at `now` (performance.now()) say the bridge stalls? */
export function tellsStall(sentAt: number, now: number): boolean {
  return now - sentAt <= PING_LATE_MS + PAGE_BUSY_MS;
}

export class Signaling {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  onNotification: (method: string, data: Json) => void = () => undefined;
  onClose: (code: number, reason: string) => void = () => undefined;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (ev) => {
      let msg: Json | undefined;
      try {
        msg = asObject(JSON.parse(String(ev.data)));
      } catch {
        return;
      }
      if (!msg) return;
      if (msg.response === true && typeof msg.id === "number") {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.ok === true) p?.resolve(msg.data);
        else p?.reject(new Error(str(asObject(msg.error)?.message) ?? "bridge request failed"));
      } else if (msg.notification === true && typeof msg.method === "string") {
        this.onNotification(msg.method, asObject(msg.data) ?? {});
      }
    });
    ws.addEventListener("close", (ev) => {
      for (const p of this.#pending.values()) p.reject(new Error(`bridge connection closed (${ev.code} ${ev.reason})`));
      this.#pending.clear();
      this.onClose(ev.code, ev.reason);
    });
  }

  static open(url: string, timeoutMs = 10_000): Promise<Signaling> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const s = new Signaling(ws);
      const t = setTimeout(() => {
        ws.close();
        reject(new Error("the bridge did not answer"));
      }, timeoutMs);
      ws.addEventListener("open", () => (clearTimeout(t), resolve(s)), { once: true });
      ws.addEventListener("close", (ev) => (clearTimeout(t), reject(new Error(`the bridge refused the connection (${ev.code} ${ev.reason})`))), { once: true });
    });
  }

  /** Ping the bridge until the socket closes or `stop()`; `onStall` once a ping is late (again once one is answered). */
  watch(onStall: () => void): { stop(): void } {
    let stalled = false;
    const timer = setInterval(() => {
      if (this.ws.readyState !== WebSocket.OPEN) return clearInterval(timer);
      const sent = performance.now();
      this.request("ping", {}, PING_LATE_MS).then(
        () => (stalled = false),
        () => {
          if (stalled || this.ws.readyState !== WebSocket.OPEN) return;
          if (!tellsStall(sent, performance.now())) return;
          stalled = true;
          onStall();
        },
      );
    }, PING_EVERY_MS);
    return { stop: () => clearInterval(timer) };
  }

  /** A request; with `timeoutMs`, one not answered in time fails (and its late answer is dropped). */
  request<T>(method: string, data: unknown = {}, timeoutMs?: number): Promise<T> {
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("bridge connection closed"));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (d: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, data }));
      if (timeoutMs !== undefined) {
        setTimeout(() => {
          if (this.#pending.delete(id)) reject(new Error(`the bridge did not answer ${method}`));
        }, timeoutMs);
      }
    });
  }
}
