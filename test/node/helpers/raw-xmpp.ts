/**
 * Minimal RFC 7395 (XMPP over WebSocket) client over `ws` for tests that need the raw frames: a chosen client
 * address (wrangler dev passes CF-Connecting-IP through), every frame kept with its arrival time, predicate waits.
 */
import WebSocket from "ws";

export const NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";

export class RawXmppClient {
  readonly frames: { text: string; at: number }[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (d: WebSocket.RawData) => {
      this.frames.push({ text: d.toString(), at: performance.now() });
      for (const w of [...this.waiters]) w();
    });
    ws.on("close", (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of [...this.waiters]) w();
    });
    ws.on("error", () => undefined);
  }

  static connect(url: string, ip: string, ms = 30_000): Promise<RawXmppClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ["xmpp"], { headers: { "cf-connecting-ip": ip } });
      const c = new RawXmppClient(ws);
      const t = setTimeout(() => reject(new Error(`connect ${url} timed out`)), ms);
      ws.once("open", () => {
        clearTimeout(t);
        resolve(c);
      });
      ws.once("unexpected-response", (_q, res) => {
        clearTimeout(t);
        reject(new Error(`HTTP ${res.statusCode}`));
      });
    });
  }

  send(s: string): void {
    this.ws.send(s);
  }

  /**
   * Resolves with the first value `scan` returns other than undefined; `scan` runs now and on every frame. Rejects if
   * the socket closes first or after `ms`.
   */
  private until<T>(scan: () => T | undefined, what: string, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const last = () => this.frames.slice(-3).map((f) => f.text).join("\n");
      const check = () => {
        const v = scan();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (this.closed) {
          done();
          reject(new Error(`closed (${this.closed.code}) while waiting for ${what}; last: ${last()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; last: ${last()}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Index of the first frame at or after `from` containing `needle` (waits up to `ms`). */
  waitFor(needle: string, from = 0, ms = 30_000): Promise<number> {
    let scanned = from;
    return this.until(
      () => {
        for (; scanned < this.frames.length; scanned++) if (this.frames[scanned]!.text.includes(needle)) return scanned;
        return undefined;
      },
      needle,
      ms,
    );
  }

  /** Wait for the first frame containing every needle and remove it from `frames` (so later indexes shift). */
  take(needles: string[], ms = 30_000): Promise<string> {
    return this.until(
      () => {
        const i = this.frames.findIndex((f) => needles.every((n) => f.text.includes(n)));
        return i >= 0 ? this.frames.splice(i, 1)[0]!.text : undefined;
      },
      needles.join(" & "),
      ms,
    );
  }

  /** RFC 7395 open, RFC 4505 SASL ANONYMOUS, stream restart, RFC 6120 §7 resource binding. */
  async login(domain: string): Promise<void> {
    const open = `<open xmlns="${NS_FRAMING}" to="${domain}" version="1.0"/>`;
    this.send(open);
    await this.waitFor("ANONYMOUS");
    this.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS"/>`);
    await this.waitFor("<success");
    const mark = this.frames.length;
    this.send(open);
    await this.waitFor("urn:ietf:params:xml:ns:xmpp-bind", mark);
    this.send(`<iq xmlns="jabber:client" type="set" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>`);
    await this.waitFor("<jid>");
  }

  close(): void {
    try {
      this.ws.close(1000);
    } catch {
      /* gone */
    }
  }
}
