/**
 * Start the bridge with a validated config (main.ts validates it and locates the worker binary first, because
 * mediasoup must not be imported before MEDIASOUP_WORKER_BIN is set), and wire SIGTERM/SIGINT to the graceful
 * shutdown.
 */
import type { BridgeConfig } from "./config";
import { createLogger } from "./log";
import { BridgeServer } from "./server";

export async function run(config: BridgeConfig): Promise<BridgeServer> {
  const log = createLogger(config.logLevel);
  let server: BridgeServer;
  try {
    server = await BridgeServer.start(config, log);
  } catch (err) {
    console.error(`parley-bridge: cannot start: ${(err as Error).message}`);
    process.exit(1);
  }
  // One machine-readable line for scripts and tests (no secrets, no client data).
  console.log(
    JSON.stringify({ event: "listening", controlUrl: server.controlUrl, wsBaseUrl: server.wsBaseUrl, port: server.port, controlPort: server.controlPort }),
  );
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
