/**
 * `npm run bench:room-core`: the room server's pure core in Node, without sockets: how fast the strict XML parser
 * parses typical stanzas, and how many groupchat deliveries per second `handleFrame` (parse -> route -> fan-out
 * template -> per-recipient render) produces for a room of N occupants. This is the CPU the Durable Object spends
 * per message on top of the runtime's WebSocket work; `npm run bench:signaling` measures the whole path.
 *   flags: --occupants N (10), --messages M (50000)
 */
import { renderFor, type Effect } from "../../durable/core/effects";
import { addConn, fullJidAttr, newRoom, type ConnState } from "../../durable/core/state";
import { handleFrame, newRuntime } from "../../durable/core/step";
import { parseFrame, serialize } from "../../durable/xmpp/xml";

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

const OCCUPANTS = flag("occupants", 10);
const MESSAGES = flag("messages", 50_000);
const DOMAIN = "bench.example";
const ROOM = "bench";

const SAMPLES = {
  groupchat: `<message xmlns="jabber:client" to="${ROOM}@conference.${DOMAIN}" type="groupchat" id="a1b2c3d4-e5f6-4789-abcd-ef0123456789"><body>hello there, this is a typical chat line &amp; some text</body><origin-id xmlns="urn:xmpp:sid:0" id="a1b2c3d4-e5f6-4789-abcd-ef0123456789"/></message>`,
  jingle: `<iq xmlns="jabber:client" to="${ROOM}@conference.${DOMAIN}/bob" type="set" id="j1"><jingle xmlns="urn:xmpp:jingle:1" action="transport-info" sid="s1"><content creator="initiator" name="0"><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="abcd" pwd="0123456789abcdef0123456789"><candidate component="1" foundation="1" generation="0" id="c1" ip="192.0.2.1" network="0" port="50000" priority="2130706431" protocol="udp" type="host"/></transport></content></jingle></iq>`,
  presence: `<presence xmlns="jabber:client" to="${ROOM}@conference.${DOMAIN}/alice"><x xmlns="http://jabber.org/protocol/muc"/><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="https://parley" ver="abcdefghijklmnopqrstuvwxyz0="/><av xmlns="urn:parley:av:0" audio="on" video="on" screen="off"/></presence>`,
};

function benchParse(): void {
  for (const [name, xml] of Object.entries(SAMPLES)) {
    const n = 100_000;
    let sink = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) sink += parseFrame(xml).length;
    const dt = performance.now() - t0;
    const el = parseFrame(xml)[0]!;
    const t1 = performance.now();
    for (let i = 0; i < n; i++) sink += serialize(el).length;
    const ds = performance.now() - t1;
    console.log(
      `xml ${name.padEnd(9)} (${xml.length} B): parse ${((n / dt) * 1000).toFixed(0)}/s (${((xml.length * n) / dt / 1000).toFixed(1)} MB/s), serialize ${((n / ds) * 1000).toFixed(0)}/s${sink < 0 ? "!" : ""}`,
    );
  }
}

async function benchFanout(): Promise<void> {
  let ids = 0;
  const room = newRoom(ROOM);
  const rt = newRuntime(
    room,
    {
      cfg: { maxOccupants: OCCUPANTS, turnHost: undefined, turnPort: 3478, turnTtlSeconds: 3600, turnSecret: "t".repeat(32), bridgeSecret: "b".repeat(32) },
      now: () => Date.now(),
      randomId: () => `r${++ids}`,
    },
    { maxStanzaBytes: 65536, ratePerSecond: 1e9, burst: 1e9 },
  );
  for (let i = 0; i < OCCUPANTS; i++) {
    const c: ConnState = { v: 1, id: `c${i}`, domain: DOMAIN, ipKey: "k", phase: "ready", local: `0123456789abcdef${i}`, resource: "fedcba9876543210" };
    addConn(room, c);
    await handleFrame(rt, c.id, `<presence xmlns="jabber:client" to="${ROOM}@conference.${DOMAIN}/user${i}"><x xmlns="http://jabber.org/protocol/muc"/></presence>`);
  }
  if (room.nicks.size !== OCCUPANTS) throw new Error(`only ${room.nicks.size} occupants joined`);
  const deliver = (effects: Effect[]): number => {
    let n = 0;
    for (const e of effects) {
      if (e.kind !== "fanout") continue;
      const cache = new Map<string, [string, string | null]>();
      for (const id of e.conns) {
        const c = room.conns.get(id)!;
        if (renderFor(e.tpl, fullJidAttr(c), c.domain, cache).length > 0) n++;
      }
    }
    return n;
  };
  let delivered = 0;
  for (let i = 0; i < 2000; i++) delivered += deliver(await handleFrame(rt, `c${i % OCCUPANTS}`, SAMPLES.groupchat)); // warm-up
  delivered = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < MESSAGES; i++) delivered += deliver(await handleFrame(rt, `c${i % OCCUPANTS}`, SAMPLES.groupchat));
  const dt = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (delivered !== MESSAGES * OCCUPANTS) throw new Error(`delivered ${delivered}, expected ${MESSAGES * OCCUPANTS}`);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `core fan-out: ${OCCUPANTS} occupants, ${MESSAGES} groupchats -> ${delivered} deliveries in ${dt.toFixed(0)} ms = ${((delivered / dt) * 1000).toFixed(0)} deliveries/s; ` +
      `${((cpuMs * 1000) / MESSAGES).toFixed(1)} us CPU per inbound stanza`,
  );
}

benchParse();
await benchFanout();
console.log(`machine: Node ${process.version}; load average ${(await import("node:os")).loadavg().map((l) => l.toFixed(2)).join(" ")}`);
