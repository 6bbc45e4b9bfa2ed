/**
 * Client signaling wire format (JSON text frames over WebSocket; see bridge-host/PROTOCOL.md).
 *   client -> bridge  request:      { id, method, data? }
 *   bridge -> client  response:     { response: true, id, ok: true, data } | { response: true, id, ok: false, error }
 *   bridge -> client  notification: { notification: true, method, data }
 * Requests are validated with zod here (the boundary); handlers trust the parsed types.
 */
import { z } from "zod";
import type { ErrorCode } from "../errors";

export const RequestEnvelope = z.object({
  id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  method: z.string().min(1).max(64),
  data: z.unknown().optional(),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

const id = z.string().min(1).max(64);
const num = z.number().int().nonnegative();

/** RFC 8122 fingerprints as mediasoup expects them. */
const DtlsParameters = z.object({
  role: z.enum(["auto", "client", "server"]).optional(),
  fingerprints: z
    .array(
      z.object({
        algorithm: z.enum(["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"]),
        value: z.string().regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/),
      }),
    )
    .min(1)
    .max(8),
});

const CodecParams = z.record(z.string(), z.union([z.string(), z.number()]));
const RtcpFeedback = z.object({ type: z.string().max(64), parameter: z.string().max(64).optional() });

/** Structure checked here; mediasoup's ORTC layer then checks semantics (codec support, payload types...). */
const RtpParameters = z.object({
  mid: z.string().max(32).optional(),
  codecs: z
    .array(
      z.object({
        mimeType: z.string().max(64),
        payloadType: z.number().int().min(0).max(127),
        clockRate: num,
        channels: num.optional(),
        parameters: CodecParams.optional(),
        rtcpFeedback: z.array(RtcpFeedback).max(32).optional(),
      }),
    )
    .min(1)
    .max(16),
  headerExtensions: z
    .array(
      z.object({
        uri: z.string().max(256),
        id: z.number().int().min(1).max(255),
        encrypt: z.boolean().optional(),
        parameters: CodecParams.optional(),
      }),
    )
    .max(32)
    .optional(),
  encodings: z
    .array(
      z.object({
        ssrc: num.optional(),
        rid: z.string().max(32).optional(),
        codecPayloadType: z.number().int().optional(),
        rtx: z.object({ ssrc: num }).optional(),
        dtx: z.boolean().optional(),
        scalabilityMode: z.string().max(16).optional(),
        scaleResolutionDownBy: z.number().positive().optional(),
        maxBitrate: num.optional(),
        maxFramerate: z.number().positive().optional(),
        adaptivePtime: z.boolean().optional(),
        priority: z.string().max(16).optional(),
        networkPriority: z.string().max(16).optional(),
        active: z.boolean().optional(),
      }),
    )
    .max(8)
    .optional(),
  rtcp: z
    .object({ cname: z.string().max(256).optional(), reducedSize: z.boolean().optional(), mux: z.boolean().optional() })
    .optional(),
});

const RtpCapabilities = z.object({
  codecs: z
    .array(
      z.object({
        kind: z.enum(["audio", "video"]),
        mimeType: z.string().max(64),
        preferredPayloadType: z.number().int().min(0).max(127).optional(),
        clockRate: num,
        channels: num.optional(),
        parameters: CodecParams.optional(),
        rtcpFeedback: z.array(RtcpFeedback).max(32).optional(),
      }),
    )
    .max(64)
    .optional(),
  headerExtensions: z
    .array(
      z.object({
        kind: z.enum(["audio", "video"]),
        uri: z.string().max(256),
        preferredId: z.number().int().min(1).max(255),
        preferredEncrypt: z.boolean().optional(),
        direction: z.enum(["sendrecv", "sendonly", "recvonly", "inactive"]).optional(),
      }),
    )
    .max(64)
    .optional(),
});

export const Schemas = {
  getRouterRtpCapabilities: z.object({}).optional(),
  /** liveness (PROTOCOL.md): answered at once with `{}`; a client takes a late answer as a stalled bridge */
  ping: z.object({}).optional(),
  createWebRtcTransport: z.object({ direction: z.enum(["send", "recv"]) }),
  connectWebRtcTransport: z.object({ transportId: id, dtlsParameters: DtlsParameters }),
  produce: z.object({
    transportId: id,
    kind: z.enum(["audio", "video"]),
    rtpParameters: RtpParameters,
    /** opaque to the bridge, echoed in newProducer (e.g. { source: "screen" }) */
    appData: z.record(z.string().max(32), z.union([z.string().max(64), z.number(), z.boolean()])).optional(),
  }),
  consume: z.object({ transportId: id, producerId: id, rtpCapabilities: RtpCapabilities }),
  resumeConsumer: z.object({ consumerId: id }),
  pauseConsumer: z.object({ consumerId: id }),
  /** how large the viewer renders a video consumer, device pixels; 0: not on screen (PROTOCOL.md) */
  setConsumerSize: z.object({ consumerId: id, width: z.number().int().min(0).max(16384), height: z.number().int().min(0).max(16384) }),
  pauseProducer: z.object({ producerId: id }),
  resumeProducer: z.object({ producerId: id }),
  closeProducer: z.object({ producerId: id }),
  restartIce: z.object({ transportId: id }),
  /** a lobby connection becomes the occupant its grant names (PROTOCOL.md "Lobby") */
  admit: z.object({ grant: z.string().min(1).max(2048) }),
  getStats: z.union([
    z.object({ transportId: id }).strict(),
    z.object({ producerId: id }).strict(),
    z.object({ consumerId: id }).strict(),
  ]),
} as const;

export type MethodName = keyof typeof Schemas;
export type RequestData<M extends MethodName> = z.output<(typeof Schemas)[M]>;

export type ProducerInfo = { producerId: string; nick: string; kind: "audio" | "video"; paused: boolean; appData: Record<string, unknown> };

/** Bridge -> client notifications (discriminated by `method`). */
export type Notification =
  | { method: "peerJoined"; data: { nick: string } }
  | { method: "peerLeft"; data: { nick: string } }
  | { method: "newProducer"; data: ProducerInfo }
  /** across the lobby (PROTOCOL.md "Lobby"): a producer to consume ahead, whose owner is not named (yet) */
  | { method: "lobbyProducer"; data: { producerId: string; kind: "audio" | "video" } }
  | { method: "producerClosed"; data: { producerId: string; consumerId?: string } }
  | { method: "activeSpeaker"; data: { nick: string | null; producerId: string | null } }
  /** to a simulcast/SVC producer's owner: the highest spatial layer its viewers want now (layers above it unsent) */
  | { method: "layerDemand"; data: { producerId: string; spatialLayer: number } }
  | { method: "roomClosing"; data: { reason: "deleted" | "shutdown" | "worker-died" } };

export type ResponseMessage =
  | { response: true; id: number; ok: true; data: unknown }
  | { response: true; id: number; ok: false; error: { code: ErrorCode; message: string } };

/** WebSocket close codes (4000-4999 are application-defined, RFC 6455 §7.4.2). Reasons must be <= 123 bytes. */
export const CloseCode = {
  BadRequest: 4400,
  Unauthorized: 4401,
  Kicked: 4403,
  RoomNotFound: 4404,
  Replaced: 4409,
  RoomClosed: 4410,
  /** The room's media worker died; the room is already being recreated: connect again (PROTOCOL.md). */
  MediaRestarted: 4503,
  RoomFull: 4413,
  RateLimited: 4429,
  ServerShutdown: 1001,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
