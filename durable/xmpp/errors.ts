/**
 * XMPP error vocabularies as data (RFC 6120 §4.9.3 stream errors, §8.3 stanza errors) and their serialization.
 * Stream errors are framed for WebSocket (RFC 7395 §3.6): each frame declares the `stream` prefix itself.
 */
import { NS } from "./ns";
import { escapeAttr, escapeText } from "./xml";

/** RFC 6120 §4.9.3 (the subset this server emits). */
type StreamErrorCondition =
  | "bad-format"
  | "bad-namespace-prefix"
  | "conflict"
  | "connection-timeout"
  | "host-unknown"
  | "invalid-namespace"
  | "invalid-xml"
  | "not-authorized"
  | "not-well-formed"
  | "policy-violation"
  | "reset"
  | "resource-constraint"
  | "restricted-xml"
  | "system-shutdown"
  | "unsupported-encoding"
  | "unsupported-stanza-type"
  | "unsupported-version";

export interface StreamError {
  condition: StreamErrorCondition;
  text?: string;
}

/** RFC 6120 §8.3.2 error types. */
type StanzaErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

/** RFC 6120 §8.3.3 (the subset this server emits). */
type StanzaErrorCondition =
  | "bad-request"
  | "conflict"
  | "feature-not-implemented"
  | "forbidden"
  | "item-not-found"
  | "jid-malformed"
  | "not-acceptable"
  | "not-allowed"
  | "not-authorized"
  | "policy-violation"
  | "recipient-unavailable"
  | "resource-constraint"
  | "service-unavailable"
  | "internal-server-error";

export interface StanzaError {
  type: StanzaErrorType;
  condition: StanzaErrorCondition;
  text?: string;
  /** RFC 6120 §8.3.2 `by`: the entity that generated the error (XEP-0045 errors carry the room JID) */
  by?: string;
}

/** `<stream:error>` framed for WebSocket (declares the prefix in the frame, RFC 7395 §3.3.3). */
export function streamErrorXml(e: StreamError): string {
  return (
    `<stream:error xmlns:stream="${NS.STREAM}"><${e.condition} xmlns="${NS.STREAMS}"/>` +
    (e.text ? `<text xmlns="${NS.STREAMS}" xml:lang="en">${escapeText(e.text)}</text>` : "") +
    `</stream:error>`
  );
}

/** The `<error/>` child of an error stanza (RFC 6120 §8.3.2). */
export function stanzaErrorXml(e: StanzaError): string {
  return (
    `<error type="${e.type}"${e.by ? ` by="${escapeAttr(e.by)}"` : ""}><${e.condition} xmlns="${NS.STANZAS}"/>` +
    (e.text ? `<text xmlns="${NS.STANZAS}" xml:lang="en">${escapeText(e.text)}</text>` : "") +
    `</error>`
  );
}

/** Thrown by code that must stop processing the whole stream; mapped once to a stream error + close. */
export class StreamErrorException extends Error {
  override name = "StreamErrorException";
  constructor(readonly error: StreamError) {
    super(`${error.condition}${error.text ? ": " + error.text : ""}`);
  }
}

export function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
