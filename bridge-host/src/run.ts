/**
 * Start the bridge from environment variables (loaded by main.ts after the worker binary is located).
 * `npm run bridge` sets BRIDGE_ENV=development, which supplies the edge's development BRIDGE_SECRET.
 */
import { BridgeConfigError, loadBridgeConfig } from "./config";
import { createLogger } from "./log";
import { BridgeServer } from "./server";

export async function runFromEnv(env: NodeJS.ProcessEnv): Promise<BridgeServer> {
  let config;
  try {
    config = loadBridgeConfig(env);
  } catch (err) {
    if (err instanceof BridgeConfigError) {
      console.error(`parley-bridge: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let server: BridgeServer;
  try {
    server = await BridgeServer.start(config, log);
  } catch (err) {
    console.error(`parley-bridge: cannot start: ${(err as Error).message}`);
    process.exit(1);
  }
  // One machine-readable line for scripts and tests (no secrets, no client data).
  console.log(JSON.stringify({ event: "listening", controlUrl: server.controlUrl, wsBaseUrl: server.wsBaseUrl, port: server.port }));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("bridge.signal", { [signal]: true });
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    server.shutdown().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  return server;
}
