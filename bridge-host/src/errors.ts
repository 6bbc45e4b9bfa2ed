/**
 * Errors raised inside the bridge. Signaling turns them into `{ ok: false, error: { code, message } }` responses;
 * anything else becomes "internal" with no detail leaked to the client.
 */
export const ErrorCode = {
  BadRequest: "bad-request",
  NotFound: "not-found",
  InvalidState: "invalid-state",
  /** a lobby connection asking for what only a peer in the room may do, or an `admit` refused */
  Forbidden: "forbidden",
  LimitExceeded: "limit-exceeded",
  Unsupported: "unsupported",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class BridgeError extends Error {
  override name = "BridgeError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new BridgeError(ErrorCode.NotFound, `${what} not found`);
export const invalidState = (msg: string) => new BridgeError(ErrorCode.InvalidState, msg);
export const limitExceeded = (msg: string) => new BridgeError(ErrorCode.LimitExceeded, msg);

function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
