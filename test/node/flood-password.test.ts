/**
 * SECURITY.md "Abuse limits": guessing a room password from one address is slowed down, end to end against the
 * real edge (`wrangler dev`). The room server (durable/features/muc-password.ts) lets 3 wrong passwords through
 * with `not-authorized`, then blocks that client for 2 s, 4 s, 8 s, ... and refuses every attempt while blocked
 * (even the right password) with `policy-violation` (type wait, "retry in N s"); another address is unaffected.
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdge, type EdgeHandle } from "./helpers/wrangler-dev";

const NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
const DOMAIN = "127.0.0.1";

/** Minimal RFC 7395 client over `ws` with a chosen client address (wrangler dev passes CF-Connecting-IP through). */
class Client {
  readonly frames: string[] = [];
  private waiters = new Set<() => void>();
  private closed = false;
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (d: WebSocket.RawData) => {
      this.frames.push(d.toString());
      for (const w of [...this.waiters]) w();
    });
    ws.on("close", () => {
      this.closed = true;
      for (const w of [...this.waiters]) w();
    });
    ws.on("error", () => undefined);
  }
  static connect(url: string, ip: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ["xmpp"], { headers: { "cf-connecting-ip": ip } });
      ws.once("open", () => resolve(new Client(ws)));
      ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }
  send(s: string): void {
    this.ws.send(s);
  }
  /** Wait for (and consume) the first frame containing every needle. */
  take(needles: string[], ms = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.frames.findIndex((f) => needles.every((n) => f.includes(n)));
        if (i >= 0) {
          done();
          resolve(this.frames.splice(i, 1)[0]!);
        } else if (this.closed) {
          done();
          reject(new Error(`closed while waiting for ${needles.join(" & ")}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${needles.join(" & ")}; frames: ${this.frames.slice(-4).join("\n")}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
  async login(): Promise<void> {
    const open = `<open xmlns="${NS_FRAMING}" to="${DOMAIN}" version="1.0"/>`;
    this.send(open);
    await this.take(["ANONYMOUS"]);
    this.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS"/>`);
    await this.take(["<success"]);
    this.send(open);
    await this.take(["urn:ietf:params:xml:ns:xmpp-bind"]);
    this.send(`<iq xmlns="jabber:client" type="set" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>`);
    await this.take(["<jid>"]);
  }
  /** Try to join; resolves with "joined" or the error condition and text. */
  async tryJoin(roomJid: string, nick: string, password?: string): Promise<{ joined: true } | { joined: false; condition: string; type: string; text: string }> {
    const id = `j-${randomUUID().slice(0, 8)}`;
    const pw = password === undefined ? "" : `<password>${password}</password>`;
    this.send(`<presence xmlns="jabber:client" id="${id}" to="${roomJid}/${nick}"><x xmlns="http://jabber.org/protocol/muc">${pw}</x></presence>`);
    const f = await this.take([`from="${roomJid}/${nick}"`]);
    if (!f.includes('type="error"')) {
      expect(f).toContain('code="110"');
      return { joined: true };
    }
    const condition = /<([a-z-]+) xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/.exec(f)?.[1] ?? "?";
    const type = /<error type="(\w+)"/.exec(f)?.[1] ?? "?";
    const text = /<text[^>]*>([^<]*)<\/text>/.exec(f)?.[1] ?? "";
    return { joined: false, condition, type, text };
  }
  close(): void {
    this.ws.close(1000);
  }
}

describe("room password guessing is slowed per address (wrangler dev)", () => {
  let edge: EdgeHandle;
  const room = `pw-${randomUUID().slice(0, 8)}`;
  const roomJid = `${room}@conference.${DOMAIN}`;
  const SECRET = "correct horse battery staple";
  const clients: Client[] = [];
  let url: string;

  beforeAll(async () => {
    edge = await startEdge();
    url = `${edge.wsUrl}/xmpp-websocket/${room}`;
    // The owner creates the room and locks it (XEP-0045 §10.2 muc#roomconfig_roomsecret).
    const owner = await Client.connect(url, "10.88.0.1");
    clients.push(owner);
    await owner.login();
    expect(await owner.tryJoin(roomJid, "owner")).toEqual({ joined: true });
    owner.send(
      `<iq xmlns="jabber:client" type="set" id="cfg" to="${roomJid}"><query xmlns="http://jabber.org/protocol/muc#owner">` +
        `<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
        `<field var="muc#roomconfig_passwordprotectedroom"><value>1</value></field>` +
        `<field var="muc#roomconfig_roomsecret"><value>${SECRET}</value></field></x></query></iq>`,
    );
    expect(await owner.take([`id="cfg"`])).toContain('type="result"');
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await edge?.stop();
  });

  it("blocks one address after 3 wrong guesses, refuses even the right password while blocked, doubles the wait", async () => {
    const attacker = await Client.connect(url, "10.88.0.66");
    clients.push(attacker);
    await attacker.login();
    for (let i = 0; i < 3; i++) {
      expect(await attacker.tryJoin(roomJid, "guesser", `guess-${i}`)).toMatchObject({ joined: false, condition: "not-authorized" });
    }
    // 4th wrong guess: still not-authorized, and now the address is blocked for 2 s.
    expect(await attacker.tryJoin(roomJid, "guesser", "guess-3")).toMatchObject({ joined: false, condition: "not-authorized" });
    const blocked = await attacker.tryJoin(roomJid, "guesser", SECRET);
    expect(blocked).toMatchObject({ joined: false, condition: "policy-violation", type: "wait" });
    expect(blocked.joined === false && blocked.text).toMatch(/retry in [12] s/);

    // Another address with the right password is not affected.
    const friend = await Client.connect(url, "10.88.0.2");
    clients.push(friend);
    await friend.login();
    expect(await friend.tryJoin(roomJid, "friend", SECRET)).toEqual({ joined: true });

    // Once the block has passed, the next wrong guess blocks for twice as long (4 s).
    const deadline = Date.now() + 30_000;
    let r = await attacker.tryJoin(roomJid, "guesser", "guess-4");
    while (r.joined === false && r.condition === "policy-violation" && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 250));
      r = await attacker.tryJoin(roomJid, "guesser", "guess-4");
    }
    expect(r).toMatchObject({ joined: false, condition: "not-authorized" });
    const again = await attacker.tryJoin(roomJid, "guesser", SECRET);
    expect(again).toMatchObject({ joined: false, condition: "policy-violation" });
    expect(again.joined === false && again.text).toMatch(/retry in [34] s/);
  }, 120_000);
});
