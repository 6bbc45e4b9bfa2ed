/**
 * Hair-check connectivity check, in plain words: can we reach the Parley server (WebSocket + anonymous XMPP
 * session), does STUN work (a server-reflexive candidate is gathered), does TURN work over UDP and over TCP
 * (a relay candidate is gathered with iceTransportPolicy 'relay', one transport at a time)?
 * Loaded lazily (it pulls in StanzaJS for the XEP-0215 credentials).
 */
import { clear, h } from "./dom";
import { warmUp } from "./call/warm";

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

/** Gather ICE candidates with the given config; resolves with the candidate types seen (host/srflx/relay/prflx). */
export async function gatherCandidateTypes(config: RTCConfiguration, timeoutMs = 6000): Promise<Set<string>> {
  const pc = new RTCPeerConnection(config);
  const types = new Set<string>();
  try {
    pc.createDataChannel("probe");
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      pc.addEventListener("icecandidate", (e) => {
        if (!e.candidate) {
          clearTimeout(timer);
          resolve();
          return;
        }
        const t = e.candidate.type ?? /typ (\w+)/.exec(e.candidate.candidate)?.[1];
        if (t) types.add(t);
      });
    });
    await pc.setLocalDescription(await pc.createOffer());
    await done;
  } finally {
    pc.close();
  }
  return types;
}

const urlsOf = (s: RTCIceServer): string[] => (Array.isArray(s.urls) ? s.urls : [s.urls]);

export async function runConnectivityCheck(room: string, list: HTMLElement): Promise<void> {
  clear(list);
  const edge = row(list, "Parley server");
  const stun = row(list, "STUN");
  const turnUdp = row(list, "TURN over UDP");
  const turnTcp = row(list, "TURN over TCP");
  const bridge = row(list, "Media bridge");
  bridge("info", "Checked when a call needs the bridge (three or more people).");

  // The session stays open and is reused by the call on Join (call/warm.ts).
  let servers: RTCIceServer[] = [];
  try {
    servers = (await warmUp(room)).iceServers;
    edge("ok", "Reachable (secure WebSocket connection works).");
  } catch (e) {
    edge("fail", `Not reachable: ${e instanceof Error ? e.message : String(e)}. Check your network or firewall.`);
    for (const r of [stun, turnUdp, turnTcp]) r("fail", "Not checked (server unreachable).");
    return;
  }

  const stunServers = servers.filter((s) => urlsOf(s).some((u) => u.startsWith("stun:")));
  const turnWith = (transport: "udp" | "tcp") =>
    servers
      .filter((s) => urlsOf(s).some((u) => u.startsWith("turn:")))
      .map((s) => ({ ...s, urls: urlsOf(s).filter((u) => u.startsWith("turn:") && u.endsWith(`transport=${transport}`)) }))
      .filter((s) => s.urls.length > 0);

  const probes: Promise<void>[] = [];
  if (stunServers.length === 0) stun("warn", "This server offers no STUN server; direct calls work only on the same network.");
  else
    probes.push(
      gatherCandidateTypes({ iceServers: stunServers }).then((t) =>
        t.has("srflx")
          ? stun("ok", "Works: your public address was discovered.")
          : stun("warn", "No public address discovered (UDP may be blocked); calls can still use TURN."),
      ),
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
      gatherCandidateTypes({ iceServers: s, iceTransportPolicy: "relay" }).then((t) =>
        t.has("relay")
          ? report("ok", `Works: media can be relayed over ${transport.toUpperCase()} if a direct path fails.`)
          : report("fail", `Failed: no relay over ${transport.toUpperCase()} (blocked by a firewall?).`),
      ),
    );
  }
  await Promise.all(probes);
}
