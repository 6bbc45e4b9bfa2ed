// `npm run dev` / `npm start`: run the whole thing locally with embedded development defaults.
// Edge (wrangler dev) on http://127.0.0.1:$PORT (default 8787).
import { spawn } from "node:child_process";

const port = process.env.PORT ?? "8787";
const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  WRANGLER_SEND_ERROR_REPORTS: "false",
};
const children = [];
function run(cmd, args) {
  const c = spawn(cmd, args, { stdio: "inherit", env });
  children.push(c);
  c.on("exit", (code) => {
    console.log(`${cmd} ${args[0] ?? ""} exited (${code}); stopping`);
    shutdown(code ?? 1);
  });
  return c;
}
let stopping = false;
function shutdown(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 500);
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));

await new Promise((res, rej) =>
  spawn("node", ["workers/scripts/build-web.mjs"], { stdio: "inherit" }).on("exit", (c) => (c === 0 ? res() : rej(new Error("web build failed")))),
);
run("npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", port, "--var", "ENVIRONMENT:development"]);
