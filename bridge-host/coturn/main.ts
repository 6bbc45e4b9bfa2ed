/**
 * `npm run turn` (add `-- --dev` for development defaults): validate the TURN_* env (config.ts), render the coturn config and run coturn in the
 * foreground until SIGINT/SIGTERM. Exits non-zero with a clear message on bad configuration.
 */
import { CoturnConfigError, loadCoturnConfig } from "./config";
import { CoturnStartError, startCoturn } from "./launcher";

async function main(): Promise<number> {
  let cfg;
  try {
    // `--dev`: development defaults (TURN_ENV=development unless set), as `npm run bridge` does for the bridge.
    const dev = process.argv.includes("--dev");
    cfg = loadCoturnConfig(dev ? { TURN_ENV: "development", ...process.env } : process.env);
  } catch (e) {
    if (e instanceof CoturnConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (cfg.environment === "development") {
    process.stderr.write("[coturn] development mode" + (cfg.allowLoopbackPeers ? " (loopback peers allowed)" : "") + "\n");
  }
  let handle;
  try {
    handle = await startCoturn(cfg);
  } catch (e) {
    if (e instanceof CoturnStartError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  process.stderr.write(`[coturn] ready on port ${cfg.port} (udp+tcp${cfg.tls ? `, tls/dtls ${cfg.tls.port}` : ""})\n`);
  const shutdown = () => void handle.stop();
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
  const code = await handle.exited;
  await handle.stop();
  return code ?? 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
