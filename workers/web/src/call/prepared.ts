/**
 * Peer-connection work done ahead of time, so a direct call needs one signaling round trip and no trickle:
 *
 * - **Prepared offer** (initiator): during the hair check, a peer connection with one audio and one video
 *   transceiver (sendrecv, no tracks yet) and its offer set as the local description, gathering ICE candidates
 *   while the person checks their camera. The newcomer to a room of one sends it as its Jingle session-initiate
 *   (XEP-0166 §6.2) the moment it sees the other occupant, with every candidate gathered so far inside (XEP-0176
 *   §2.3); any later candidate trickles as transport-info. Camera/microphone tracks go on the senders with
 *   `replaceTrack` (no renegotiation).
 * - **Spare answerer** (responder): a peer connection with our tracks added (`addTrack` transceivers are reused by
 *   the remote offer's m-lines, JSEP §5.10) and `iceCandidatePoolSize: 1`, so its candidates (incl. the TURN
 *   allocation) are gathered before the offer arrives.
 *
 * Both are handed to StanzaJS through `SessionManager.createPeerConnection`, so sessions are otherwise ordinary
 * StanzaJS MediaSessions (Jingle <-> SDP, ICE restart, termination).
 */
import type { Agent } from "stanza";
import type { MediaSession } from "stanza/jingle";
import { exportToSDP, importFromSDP } from "stanza/jingle";
import { convertIntermediateToRequest, convertRequestToIntermediate } from "stanza/jingle/sdp/Protocol";
import { parse } from "stanza/jxt";
import { NS_JINGLE_ICE_UDP_1 } from "stanza/Namespaces";
import type { IQ, Jingle, JingleContent, JingleRtpDescription } from "stanza/protocol";
import { callPeerConnection } from "../e2ee/call-encryption";
import { preferredCodecs, START_HEIGHT, tuneRemoteSdp } from "./sdp-tuning";
import { limitSendHeight } from "./send-size";

/** A prepared offer older than this is not used: its TURN allocations and credentials may have gone stale. */
const PREPARED_MAX_AGE_MS = 5 * 60_000;
/**
 * How long preparing waits for ICE gathering to complete before settling with the candidates it has (a STUN/TURN
 * server that doesn't answer would otherwise hold things up for many seconds); gathering goes on.
 */
const GATHER_WAIT_MS = 1500;

export interface PreparedOffer {
  pc: RTCPeerConnection;
  createdAt: number;
}

/** The RTCConfiguration StanzaJS would use for a session with these ICE servers. */
export function sessionConfig(client: Agent, iceServers: RTCIceServer[]): RTCConfiguration {
  return { ...(client.jingle.config.peerConnectionConfig as RTCConfiguration), iceServers };
}

function gatheringDone(pc: RTCPeerConnection, timeoutMs: number): Promise<boolean> {
  if (pc.iceGatheringState === "complete") return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      pc.removeEventListener("icegatheringstatechange", check);
      resolve(false);
    }, timeoutMs);
    const check = (): void => {
      if (pc.iceGatheringState !== "complete") return;
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve(true);
    };
    pc.addEventListener("icegatheringstatechange", check);
  });
}

const candidateCount = (pc: RTCPeerConnection): number => (pc.localDescription?.sdp.match(/^a=candidate:/gm) ?? []).length;

/**
 * Every peer connection of a direct session: video senders start at START_BITRATE_KBPS and Opus uses DTX (the remote
 * description carries `x-google-start-bitrate` and `usedtx`, see sdp-tuning.ts).
 */
export function tunePeerConnection(pc: RTCPeerConnection): RTCPeerConnection {
  const setRemote = pc.setRemoteDescription.bind(pc);
  pc.setRemoteDescription = (desc: RTCSessionDescriptionInit) =>
    setRemote(desc.sdp ? { type: desc.type, sdp: tuneRemoteSdp(desc.sdp) } : desc);
  return pc;
}

/** Offer only the codecs of sdp-tuning.ts (where the browser supports choosing). */
export function preferCodecs(pc: RTCPeerConnection): void {
  for (const tr of pc.getTransceivers()) {
    const kind = tr.receiver.track.kind as "audio" | "video";
    const caps = typeof RTCRtpReceiver.getCapabilities === "function" ? RTCRtpReceiver.getCapabilities(kind) : null;
    if (!caps || typeof tr.setCodecPreferences !== "function") continue;
    try {
      tr.setCodecPreferences(preferredCodecs(kind, caps.codecs));
    } catch {
      /* keep the browser's default list */
    }
  }
}

/** Build an offer and give ICE gathering a moment; undefined if not even one candidate was found. */
export async function prepareOffer(config: RTCConfiguration): Promise<PreparedOffer | undefined> {
  const pc = callPeerConnection(config);
  try {
    const streams = [new MediaStream()];
    pc.addTransceiver("audio", { direction: "sendrecv", streams });
    pc.addTransceiver("video", { direction: "sendrecv", streams });
    preferCodecs(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringDone(pc, GATHER_WAIT_MS);
    if (candidateCount(pc) > 0) return { pc, createdAt: Date.now() };
  } catch {
    /* no prepared offer: the session builds one when needed */
  }
  pc.close();
  return undefined;
}

/** The prepared offer if it is still usable (fresh, untouched); otherwise closes it. */
export function usablePrepared(p: PreparedOffer | undefined, now = Date.now()): RTCPeerConnection | undefined {
  if (!p) return undefined;
  const ok = now - p.createdAt < PREPARED_MAX_AGE_MS && p.pc.signalingState === "have-local-offer" && candidateCount(p.pc) > 0;
  if (ok) return p.pc;
  p.pc.close();
  return undefined;
}

/** A peer connection ready to answer: our tracks added (the camera starts small, sdp-tuning.ts §3), candidates pre-gathered. */
export function createSpareAnswerer(config: RTCConfiguration, stream: MediaStream): RTCPeerConnection {
  const pc = callPeerConnection({ ...config, iceCandidatePoolSize: 1 });
  for (const t of stream.getTracks()) void limitSendHeight(pc.addTrack(t, stream), START_HEIGHT);
  return pc;
}

/** Put the current tracks on the senders (by kind); a kind we don't have sends nothing. */
export async function setSenderTracks(pc: RTCPeerConnection, stream: MediaStream): Promise<void> {
  await Promise.all(
    pc.getTransceivers().map(async (tr) => {
      if (tr.currentDirection === "stopped" || tr.direction === "stopped") return;
      const kind = tr.receiver.track.kind;
      const track = stream.getTracks().find((t) => t.kind === kind) ?? null;
      if (tr.sender.track !== track) await tr.sender.replaceTrack(track).catch(() => undefined);
    }),
  );
}

/**
 * Send the session-initiate for a brand-new session whose peer connection already has its local offer (what
 * MediaSession.start does after createOffer/setLocalDescription, minus those two steps). Synchronous, in the same
 * task that created the session: the candidates in the SDP are exactly those surfaced before now, and every later
 * one reaches StanzaJS' icecandidate handler and goes out as transport-info after this session-initiate.
 */
export function sendPreparedOffer(session: MediaSession): void {
  const sdp = session.pc.localDescription?.sdp;
  if (!sdp) throw new Error("the prepared offer is gone");
  session.state = "pending";
  session.role = "initiator";
  session.includesAudio = true;
  session.includesVideo = true;
  const jingle = jingleFromSdp(sdp, "initiator", session.transportType, session.sid, "session-initiate");
  for (const content of jingle.contents ?? []) signalStreams(content);
  session.send("session-initiate", jingle);
}

/**
 * Accept an incoming session (what MediaSession.accept does), but send the session-accept as soon as the answer is
 * created and only then apply it locally: the peer sets our answer while we set it ourselves, instead of after.
 * The answer's content (codecs, ICE credentials, DTLS fingerprint, XEP-0320) is fixed by createAnswer; candidates
 * trickle as transport-info once gathered (XEP-0176 §2.3). If applying fails, the session ends with
 * failed-application (XEP-0166 §7.2.6). `sent` is called once the session-accept is handed to StanzaJS.
 */
export async function acceptQuickly(session: MediaSession, sent?: () => void): Promise<void> {
  session.state = "active";
  session.role = "responder";
  await session.processLocal("session-accept", async () => {
    const answer = await session.pc.createAnswer();
    session.send("session-accept", jingleFromSdp(answer.sdp ?? "", "responder", session.transportType, session.sid, "session-accept"));
    sent?.();
    try {
      await session.pc.setLocalDescription(answer);
    } catch {
      session.end("failed-application");
      return;
    }
    // Candidates that arrived while the offer was being applied (ICESession keeps them until the answer is set).
    await (session as unknown as { processBufferedCandidates(): Promise<void> }).processBufferedCandidates();
  });
}

/**
 * A Jingle request from an SDP, as StanzaJS' MediaSession builds it: every content is created by the initiator
 * (XEP-0166 §7.2: our sessions never add contents later).
 */
function jingleFromSdp(
  sdp: string,
  role: "initiator" | "responder",
  transportType: MediaSession["transportType"],
  sid: string,
  action: "session-initiate" | "session-accept",
): Jingle {
  const jingle = convertIntermediateToRequest(importFromSDP(sdp), role, transportType);
  for (const content of jingle.contents ?? []) content.creator = "initiator";
  return { ...jingle, sid, action } as Jingle;
}

/** StanzaJS' applyStreamsCompatibility: also signal the stream as `a=ssrc:… msid` (older clients read only that). */
function signalStreams(content: JingleContent): void {
  const app = content.application as JingleRtpDescription | undefined;
  const msid = app?.streams?.[0];
  const first = app?.sources?.[0];
  if (!app || !msid || !first) return;
  first.parameters = { ...first.parameters, msid: `${msid.id} ${msid.track}` };
  const rtx = app.sourceGroups?.[0]?.sources[1];
  if (rtx !== undefined) app.sources!.push({ ssrc: rtx, parameters: { cname: first.parameters.cname ?? "", msid: `${msid.id} ${msid.track}` } });
}

/**
 * Run the Jingle code a call needs once, in memory, while the person is still on the hair check: SDP -> Jingle ->
 * XML -> Jingle -> SDP with the prepared offer. The browser compiles JavaScript lazily, so otherwise the first
 * session-initiate pays for compiling all of it on both sides, on the critical path of the call set-up.
 */
export function warmJingleCode(client: Agent, sdp: string): void {
  try {
    const jingle = jingleFromSdp(sdp, "initiator", NS_JINGLE_ICE_UDP_1, "warm-up", "session-initiate");
    const iq = { type: "set", id: "warm-up", to: "warm@up/x", jingle };
    const xml = client.stanzas.export("iq", iq)?.toString();
    if (!xml) return;
    const back = client.stanzas.import(parse(xml)) as IQ | undefined;
    if (back?.jingle) exportToSDP(convertRequestToIntermediate(back.jingle, "initiator"));
  } catch {
    /* only a warm-up */
  }
}
