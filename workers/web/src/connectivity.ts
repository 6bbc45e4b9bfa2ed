/**
 * Hair-check connectivity check, in plain words: can we reach the Parley server (WebSocket + anonymous XMPP
 * session), does STUN work (a server-reflexive candidate is gathered), does TURN work over UDP and over TCP
 * (a relay candidate is gathered with iceTransportPolicy 'relay', one transport at a time), and does the media
 * bridge (used by calls of three or more) answer (checkBridges)?
 * Loaded lazily (it pulls in StanzaJS for the XEP-0215 credentials).
 */
import { clear, h } from "./dom";
import { warmUp } from "./call/warm";
import { stunVerdict, type Gathered } from "./connectivity-verdicts";

type Verdict = "ok" | "warn" | "fail" | "info" | "pending";

function row(list: HTMLElement, label: string): (v: Verdict, text: string) => void {
  const status = h("span", { class: "verdict" }, "Checking…");
  const li = h("li", { "data-check": label.toLowerCase().replace(/[^a-z]+/g, "-"), "data-verdict": "pending" }, h("strong", {}, `${label}: `), status);
  list.append(li);
  return (v, text) => {
    li.setAttribute("data-verdict", v);
    status.textContent = text;
  };
}

/** Gather ICE candidates with the given config. */
async function gatherCandidates(config: RTCConfiguration, timeoutMs = 6000): Promise<Gathered> {
  const pc = new RTCPeerConnection(config);
  const out: Gathered = { types: new Set(), complete: false, errors: 0 };
  try {
    pc.createDataChannel("probe");
    pc.addEventListener("icecandidateerror", () => out.errors++);
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      pc.addEventListener("icecandidate", (e) => {
        if (!e.candidate) {
          out.complete = true;
          clearTimeout(timer);
          resolve();
          return;
        }
        const t = e.candidate.type ?? /typ (\w+)/.exec(e.candidate.candidate)?.[1];
        if (t) out.types.add(t);
      });
    });
    await pc.setLocalDescription(await pc.createOffer());
    await done;
  } finally {
    pc.close();
  }
  return out;
}

/** Does anything answer HTTP at `origin`? An opaque (no-cors) response means the host answered; a rejection or the timeout means it is not reachable. */
async function answers(origin: string, timeoutMs: number): Promise<boolean> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    await fetch(`${origin}/`, { mode: "no-cors", cache: "no-store", credentials: "omit", signal: abort.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The media bridge row: the edge lists its bridges' browser-facing origins (GET /api/bridges, the same hosts the
 * page's CSP connect-src allows); each is probed once. Media ports (UDP/TCP RTC) are only tried when a call connects.
 */
async function checkBridges(report: (v: Verdict, text: string) => void, timeoutMs = 5000): Promise<void> {
  let bridges: string[];
  try {
    const r = await fetch("/api/bridges", { cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const body: unknown = await r.json();
    const list = (body as { bridges?: unknown } | null)?.bridges;
    if (!Array.isArray(list) || !list.every((b): b is string => typeof b === "string")) throw new Error("unexpected answer");
    bridges = list;
  } catch (e) {
    report("warn", `Could not ask the server for its media bridge (${e instanceof Error ? e.message : String(e)}).`);
    return;
  }
  if (bridges.length === 0) {
    report("info", "This server has no media bridge: calls of three or more people connect everyone directly.");
    return;
  }
  const results = await Promise.all(bridges.map((b) => answers(b, timeoutMs)));
  if (results.some(Boolean)) {
    report("ok", "Reachable: calls of three or more people can use the media bridge (its media ports are checked when the call connects).");
  } else {
    report("fail", "Not reachable from this network: calls of three or more people may not work from here.");
  }
}

const urlsOf = (s: RTCIceServer): string[] => (Array.isArray(s.urls) ? s.urls : [s.urls]);

export async function runConnectivityCheck(room: string, list: HTMLElement): Promise<void> {
  clear(list);
  const edge = row(list, "Parley server");
  const stun = row(list, "STUN");
  const turnUdp = row(list, "TURN over UDP");
  const turnTcp = row(list, "TURN over TCP");
  const bridge = row(list, "Media bridge");
  const bridgeCheck = checkBridges(bridge);

  // The session stays open and is reused by the call on Join (call/warm.ts).
  let servers: RTCIceServer[] = [];
  try {
    servers = (await warmUp(room)).iceServers;
    edge("ok", "Reachable (secure WebSocket connection works).");
  } catch (e) {
    edge("fail", `Not reachable: ${e instanceof Error ? e.message : String(e)}. Check your network or firewall.`);
    for (const r of [stun, turnUdp, turnTcp]) r("fail", "Not checked (server unreachable).");
    await bridgeCheck;
    return;
  }

  const stunServers = servers.filter((s) => urlsOf(s).some((u) => u.startsWith("stun:")));
  const turnWith = (transport: "udp" | "tcp") =>
    servers
      .filter((s) => urlsOf(s).some((u) => u.startsWith("turn:")))
      .map((s) => ({ ...s, urls: urlsOf(s).filter((u) => u.startsWith("turn:") && u.endsWith(`transport=${transport}`)) }))
      .filter((s) => s.urls.length > 0);

  const probes: Promise<void>[] = [bridgeCheck];
  if (stunServers.length === 0) stun("warn", "This server offers no STUN server; direct calls work only on the same network.");
  else
    probes.push(
      gatherCandidates({ iceServers: stunServers }).then((g) => {
        const v = stunVerdict(g);
        stun(v.verdict, v.text);
      }),
    );
  for (const [transport, report] of [
    ["udp", turnUdp],
    ["tcp", turnTcp],
  ] as const) {
    const s = turnWith(transport);
    if (s.length === 0) {
      report("warn", `This server offers no TURN relay over ${transport.toUpperCase()}.`);
      continue;
    }
    probes.push(
      gatherCandidates({ iceServers: s, iceTransportPolicy: "relay" }).then((g) =>
        g.types.has("relay")
          ? report("ok", `Works: media can be relayed over ${transport.toUpperCase()} if a direct path fails.`)
          : report("fail", `Failed: no relay over ${transport.toUpperCase()} (blocked by a firewall?).`),
      ),
    );
  }
  await Promise.all(probes);
}
