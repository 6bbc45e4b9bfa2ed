/**
 * Group keys for end-to-end tests of the web app until the room's MLS group provides them: a key source installed on
 * the page through the test-only hook (workers/web/src/e2ee/test-key-hook.ts) before the app runs. Every page of a
 * call gets the same epoch base key (16 random bytes: the shared secret of the test) and its own sender index, so
 * each sender has its own SFrame key (RFC 9605 §5.2), exactly as an MLS epoch would give them.
 */
import { randomBytes } from "node:crypto";

/** The group's shared secret for one call: one per test. */
export function groupSecret(): number[] {
  return [...randomBytes(16)];
}

/** Init script giving the page the group's keys for epoch 1 as sender `ownIndex` of `leafCount`. */
export function groupKeysScript(secret: number[], ownIndex: number, leafCount = 8): string {
  return `(() => {
    const keys = { epoch: 1n, baseKey: new Uint8Array(${JSON.stringify(secret)}), leafCount: ${leafCount}, ownIndex: ${ownIndex} };
    window.__parleyTestGroupKeys = {
      onEpoch: () => () => undefined,
      current: () => keys,
      members: () => [],
      safetyCode: () => undefined,
    };
  })();`;
}

/** Init script of a browser without encoded transforms (neither RTCRtpScriptTransform nor createEncodedStreams). */
export const NO_ENCODED_TRANSFORMS = `(() => {
  delete window.RTCRtpScriptTransform;
  delete RTCRtpSender.prototype.createEncodedStreams;
  delete RTCRtpReceiver.prototype.createEncodedStreams;
})();`;
