/**
 * Entry point of the bridge host. Tiny on purpose: it points mediasoup at its worker binary (which must happen
 * before mediasoup is first imported) and then loads the server.
 * `--dev` (used by `npm run bridge`) fills in local development defaults for anything not set in the environment:
 * loopback addresses, HTTP port 4443, RTC port 40000, and the edge's development BRIDGE_SECRET.
 */
import { loadBridgeConfig } from "./config";
import { ensureWorkerBin, WORKER_MISSING_HELP } from "./worker-bin";

export const DEV_DEFAULTS = {
  BRIDGE_ENV: "development",
  HTTP_HOST: "127.0.0.1",
  HTTP_PORT: "4443",
  LISTEN_IP: "127.0.0.1",
  RTC_PORT: "40000",
  EDGE_URL: "http://127.0.0.1:8787",
} as const;

if (process.argv.includes("--dev")) {
  for (const [k, v] of Object.entries(DEV_DEFAULTS)) if (!process.env[k]) process.env[k] = v;
}

let config;
try {
  config = loadBridgeConfig(process.env);
} catch (err) {
  console.error(`parley-bridge: ${(err as Error).message}`);
  process.exit(2);
}
const bin = ensureWorkerBin();
if (bin.source === "missing") {
  console.error(`parley-bridge: ${WORKER_MISSING_HELP}`);
  process.exit(1);
}
const { run } = await import("./run");
await run(config);
