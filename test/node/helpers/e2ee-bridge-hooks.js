// Browser side of test/node/e2ee-bridge.test.ts, added to a bridge test-client page (bridge-host/test-client/page.ts)
// before it joins: MediaEncryption attached through the page's mediasoup-client hooks (onRtpSender, onRtpReceiver,
// additionalSettings). Plain JavaScript: the node test project typechecks without DOM types.
// __E2EE_WORKER_SOURCE__ is the worker the web build bundles, run from a blob: URL (same origin as the page).
import { simulcastEncodings } from "../../../workers/web/src/call/simulcast";
import { MediaEncryption } from "../../../workers/web/src/e2ee/transform";

/* global __E2EE_WORKER_SOURCE__ */
const workerUrl = URL.createObjectURL(new Blob([__E2EE_WORKER_SOURCE__], { type: "text/javascript" }));
let enc;

window.e2eeBridge = {
  /** encrypt what this page sends and decrypt what it receives with epoch 1's base key = 16 bytes of `keyByte` */
  install(keyByte, ownIndex, leafCount) {
    enc = new MediaEncryption({ workerUrl });
    enc.setEpoch({ epoch: 1n, baseKey: new Uint8Array(16).fill(keyByte), leafCount, ownIndex });
    window.parleyHooks = {
      onRtpSender: (sender, kind) => enc.attachSenderTransform(sender, kind),
      onRtpReceiver: (receiver, kind) => enc.attachReceiverTransform(receiver, kind, "alice"),
      additionalSettings: enc.rtcConfiguration(),
    };
  },
  stats: () => enc.stats(),
  /** the web app's simulcast encodings of a camera `height` lines high, all layers on */
  simulcastEncodings: (height) => simulcastEncodings(height, null, false),
};
