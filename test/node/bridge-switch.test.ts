/**
 * Switching between P2P and the media bridge, end to end with real processes: `wrangler dev` (room Durable
 * Object) + two real bridge hosts (mediasoup). The room switches to the bridge on the third join and back to P2P on
 * the second leave; a dead bridge is replaced by the other one; a draining bridge (graceful shutdown) hands its rooms
 * over.
 * Every grant the room hands out is used for real: the client opens the bridge's WebSocket with it and asks for the
 * router's RTP capabilities.
 */
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridge, strongSecret, waitFor, type BridgeHandle } from "./helpers/bridge-harness";
import { startEdge, type EdgeHandle } from "./helpers/wrangler-dev";
import { RawXmpp, type XMLElement } from "./helpers/xmpp-clients";

const MEDIA_NS = "urn:parley:media:0";
const DOMAIN = "127.0.0.1";

interface Media {
  mode: string;
  url?: string;
  grant?: string;
}

function mediaOf(el: XMLElement): Media | undefined {
  const m = el.name === "message" ? el.getChild("media", MEDIA_NS) : undefined;
  if (!m) return undefined;
  return { mode: m.getAttribute("mode") ?? "", url: m.getAttribute("url"), grant: m.getAttribute("grant") };
}

/** Next media announcement for this client (optionally: with a given mode / on a given bridge). */
async function nextMedia(c: RawXmpp, pred: (m: Media) => boolean, ms = 30_000): Promise<Media> {
  const el = await c.nextEl((e) => {
    const m = mediaOf(e);
    return !!m && pred(m);
  }, ms, "media announcement");
  return mediaOf(el)!;
}

/** Use a grant for real: connect to the bridge and get the router's RTP capabilities. */
async function useGrant(m: Media): Promise<{ codecs: unknown[] }> {
  const ws = new WebSocket(`${m.url}?grant=${encodeURIComponent(m.grant!)}`);
  try {
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("bridge did not answer")), 15_000);
      ws.once("close", (code, reason) => reject(new Error(`bridge closed ${code} ${reason.toString()}`)));
      ws.once("error", reject);
      ws.on("message", (d) => {
        const msg = JSON.parse(d.toString()) as { response?: boolean; id?: number; ok?: boolean; data?: { codecs: unknown[] } };
        if (msg.response && msg.id === 1) {
          clearTimeout(t);
          if (msg.ok && msg.data) resolve(msg.data);
          else reject(new Error(`request failed: ${d.toString()}`));
        }
      });
      ws.once("open", () => ws.send(JSON.stringify({ id: 1, method: "getRouterRtpCapabilities" })));
    });
  } finally {
    ws.close();
  }
}

async function health(b: BridgeHandle): Promise<{ rooms: number }> {
  const r = await b.call("GET", "/health");
  return (await r.json()) as { rooms: number };
}

describe("room <-> media bridge switching (real bridges, real room DO)", () => {
  const secret = strongSecret();
  let edge: EdgeHandle;
  let bridges: BridgeHandle[] = [];
  const clients: RawXmpp[] = [];

  beforeAll(async () => {
    const edgePortHolder: { url?: string } = {};
    // The edge URL is needed by the bridges (draining events) before the edge is up: pick the port first.
    const { freePort } = await import("./helpers/wrangler-dev");
    const edgePort = await freePort();
    edgePortHolder.url = `http://127.0.0.1:${edgePort}`;
    bridges = [
      await startBridge({ env: { BRIDGE_SECRET: secret, EDGE_URL: edgePortHolder.url } }),
      await startBridge({ env: { BRIDGE_SECRET: secret, EDGE_URL: edgePortHolder.url } }),
    ];
    edge = await startEdge({
      port: edgePort,
      vars: {
        BRIDGE_SECRET: secret,
        BRIDGES: bridges.map((b) => b.controlUrl).join(","),
        BRIDGE_PUBLIC_ORIGINS: bridges.map((b) => b.wsBaseUrl).join(","),
        XMPP_DOMAIN: DOMAIN,
      },
    });
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) c.drop();
    await Promise.all(bridges.map((b) => b.stop().catch(() => null)));
    await edge?.stop();
  });

  async function joiner(room: string, nick: string): Promise<RawXmpp> {
    const c = await RawXmpp.login(`${edge.wsUrl}/xmpp-websocket/${room}`, DOMAIN);
    clients.push(c);
    await c.join(`${room}@conference.${DOMAIN}`, nick);
    return c;
  }

  const bridgeOf = (m: Media) => bridges.findIndex((b) => m.url!.startsWith(b.wsBaseUrl));

  it("switches to a bridge on the third join and back to P2P on the second leave", async () => {
    const room = `switch-${Date.now().toString(36)}`;
    const a = await joiner(room, "alice");
    const b = await joiner(room, "bob");
    const c = await joiner(room, "carol");
    const ms = await Promise.all([a, b, c].map((x) => nextMedia(x, (m) => m.mode === "bridge")));
    const idx = bridgeOf(ms[0]!);
    expect(idx).toBeGreaterThanOrEqual(0);
    for (const m of ms) {
      expect(m.url).toBe(ms[0]!.url);
      expect((await useGrant(m)).codecs.length).toBeGreaterThan(0);
    }
    expect((await health(bridges[idx]!)).rooms).toBe(1);
    const info = await fetch(`${edge.httpUrl}/admin/rooms/${room}`, {
      headers: { authorization: "Bearer dev-admin-token-not-for-production-000000" },
    }).then((r) => r.json() as Promise<{ mediaMode: string }>);
    expect(info.mediaMode).toBe("bridge");

    await c.close();
    await Promise.all([a, b].map((x) => nextMedia(x, (m) => m.mode === "p2p")));
    await waitFor("bridge room closed", async () => (await health(bridges[idx]!)).rooms === 0, 20_000);
    a.drop();
    b.drop();
  });

  it("replaces a bridge that dies, and moves rooms off a draining bridge", async () => {
    const room = `failover-${Date.now().toString(36)}`;
    const people = [await joiner(room, "ann"), await joiner(room, "ben"), await joiner(room, "cat")];
    const first = await Promise.all(people.map((x) => nextMedia(x, (m) => m.mode === "bridge")));
    const dead = bridgeOf(first[0]!);
    const other = 1 - dead;
    bridges[dead]!.process.kill("SIGKILL");
    const moved = await Promise.all(people.map((x) => nextMedia(x, (m) => m.mode === "bridge" && bridgeOf(m) === other, 45_000)));
    expect((await useGrant(moved[0]!)).codecs.length).toBeGreaterThan(0);
    // Replace the dead bridge with a fresh one on the same control URL? Not possible (new port); instead, drain the
    // survivor: with no bridge left the room must fall back to P2P rather than stay on a closing bridge.
    await bridges[other]!.stop();
    await Promise.all(people.map((x) => nextMedia(x, (m) => m.mode === "p2p", 45_000)));
    // The graceful shutdown told the edge (signed POST /bridge-events), and the edge accepted it.
    expect(bridges[other]!.output()).toMatch(/bridge\.draining_sent.*202/);
  });

  it("has the bridge close a waiting session's lobby connection when the session goes, and every one when the room is locked", async () => {
    const room = `lobby-${Date.now().toString(36)}`;
    const roomJid = `${room}@conference.${DOMAIN}`;
    const alice = await joiner(room, "alice");
    await joiner(room, "bob");
    /** A session on the hair check (bound, not joined) and its lobby connection, open. */
    const waiting = async () => {
      const c = await RawXmpp.login(`${edge.wsUrl}/xmpp-websocket/${room}`, DOMAIN);
      clients.push(c);
      const m = await nextMedia(c, (x) => x.mode === "lobby");
      const ws = new WebSocket(`${m.url}?grant=${encodeURIComponent(m.grant!)}`);
      const closed = new Promise<string>((r) => ws.once("close", (code, reason) => r(`${code} ${reason.toString()}`)));
      const answered = new Promise<boolean>((r) =>
        ws.on("message", (d) => {
          const msg = JSON.parse(d.toString()) as { response?: boolean; ok?: boolean };
          if (msg.response) r(msg.ok === true);
        }),
      );
      await new Promise<void>((r, j) => (ws.once("open", () => r()), ws.once("error", j)));
      ws.send(JSON.stringify({ id: 1, method: "getRouterRtpCapabilities" }));
      expect(await answered).toBe(true);
      return { c, ws, closed };
    };
    const carol = await waiting();
    const dave = await waiting();
    // Carol's session goes (her tab closed): her lobby connection is closed; Dave's is not.
    carol.c.drop();
    expect(await carol.closed).toBe("4403 lobby closed");
    expect(dave.ws.readyState).toBe(WebSocket.OPEN);
    // The owner locks the room: no one may wait on its bridge any more.
    alice.send(
      `<iq xmlns="jabber:client" type="set" id="lock" to="${roomJid}"><query xmlns="http://jabber.org/protocol/muc#owner">` +
        `<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
        `<field var="muc#roomconfig_passwordprotectedroom"><value>1</value></field>` +
        `<field var="muc#roomconfig_roomsecret"><value>sesame-sesame</value></field></x></query></iq>`,
    );
    expect(await dave.closed).toBe("4403 lobby closed");
  });
});
