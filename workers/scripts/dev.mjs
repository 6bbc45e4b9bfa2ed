// `npm start` / `npm run dev`: the whole thing locally, with embedded development defaults (no secrets to set):
//   edge    wrangler dev          http://127.0.0.1:$PORT            (default 8787)
//   bridge  mediasoup bridge host ws://127.0.0.1:$BRIDGE_PORT       (default 4443; RTC on UDP/TCP $RTC_PORT, 40000;
//                                 control API on http://127.0.0.1:$BRIDGE_CONTROL_PORT, default 4444)
//   turn    coturn                127.0.0.1:$TURN_PORT              (default 3478; skipped if coturn is not installed)
// Missing prerequisites (Debian packages, the mediasoup worker binary) are installed/built first (cached).
// PARLEY_NO_BRIDGE=1 / PARLEY_NO_TURN=1 skip those parts.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const port = process.env.PORT ?? "8787";
const bridgePort = process.env.BRIDGE_PORT ?? "4443";
const bridgeControlPort = process.env.BRIDGE_CONTROL_PORT ?? "4444";
const rtcPort = process.env.RTC_PORT ?? "40000";
const turnPort = process.env.TURN_PORT ?? "3478";
const withBridge = process.env.PARLEY_NO_BRIDGE !== "1";
const withTurn = process.env.PARLEY_NO_TURN !== "1" && existsSync("/usr/bin/turnserver");
const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  WRANGLER_SEND_ERROR_REPORTS: "false",
};

function must(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: "inherit", env });
  if (r.status !== 0) {
    console.error(`parley: '${cmd} ${args.join(" ")}' failed`);
    process.exit(1);
  }
}

// Prerequisites: web app build; the mediasoup worker (built once from Debian packages, cached by version).
must("node", ["workers/scripts/build-web.mjs"]);
if (withBridge) must("bash", ["bridge-host/scripts/build-mediasoup-worker.sh"]);

const children = [];
let stopping = false;
function run(name, cmd, args, extraEnv = {}) {
  const c = spawn(cmd, args, { stdio: "inherit", env: { ...env, ...extraEnv }, detached: true });
  children.push(c);
  c.on("exit", (code) => {
    if (stopping) return;
    console.error(`parley: ${name} exited (${code}); stopping everything`);
    shutdown(code ?? 1);
  });
}
function shutdown(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) {
    try {
      process.kill(-c.pid, "SIGTERM");
    } catch {}
  }
  setTimeout(() => process.exit(code), 1500);
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));

const vars = ["ENVIRONMENT:development"];
if (withBridge) {
  run("bridge", "npx", ["tsx", "bridge-host/src/main.ts", "--dev"], {
    HTTP_PORT: bridgePort,
    CONTROL_PORT: bridgeControlPort,
    RTC_PORT: rtcPort,
    EDGE_URL: `http://127.0.0.1:${port}`,
  });
  // BRIDGES: the control API (the edge's side); BRIDGE_PUBLIC_ORIGINS: what browsers connect to.
  vars.push(`BRIDGES:http://127.0.0.1:${bridgeControlPort}`, `BRIDGE_PUBLIC_ORIGINS:ws://127.0.0.1:${bridgePort}`);
}
if (withTurn) {
  run("turn", "npx", ["tsx", "bridge-host/coturn/main.ts"], {
    TURN_ENV: "development",
    TURN_PORT: turnPort,
    TURN_LISTEN_IPS: "127.0.0.1",
  });
  vars.push("TURN_HOST:127.0.0.1", `TURN_PORT:${turnPort}`);
}
// --log-level warn: wrangler dev otherwise prints a line per request, with its path, i.e. every room name anyone
// opens, to this terminal (PRIVACY.md: nothing but the access log's four fields is recorded). Errors still show.
const args = ["wrangler", "dev", "--ip", "127.0.0.1", "--port", port, "--log-level", "warn"];
for (const v of vars) args.push("--var", v);
run("edge", "npx", args);
console.log(`parley: open http://127.0.0.1:${port}/ (Ctrl-C stops everything)`);
