/**
 * Watch a process tree's file-system writes with strace (Debian `strace`, installed by .ci/install-system-deps.sh):
 * every thread of the given processes is attached; afterwards, list write-opens of regular files and any
 * create/rename/unlink/mkdir/truncate calls. Used to show the bridge writes no files during a call (PRIVACY.md).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const straceAvailable = () => existsSync("/usr/bin/strace");

/** pid plus all descendants (e.g. the node bridge and its mediasoup-worker children) */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (const tid of safeList(`/proc/${pid}/task`)) {
    const kids = safeRead(`/proc/${pid}/task/${tid}/children`).trim();
    for (const k of kids ? kids.split(/\s+/) : []) out.push(...processTree(Number(k)));
  }
  return [...new Set(out)];
}

export interface StraceHandle {
  /**
   * Detach and return offending syscalls (empty = no file writes). `sends` counts traced socket sends, which
   * proves the tracer really was attached while media flowed.
   */
  stop(): Promise<{ writes: string[]; sends: number }>;
}

export async function traceFileWrites(pids: number[]): Promise<StraceHandle> {
  const dir = mkdtempSync(join(tmpdir(), "parley-strace-"));
  const log = join(dir, "trace.log");
  const tids = pids.flatMap((p) => safeList(`/proc/${p}/task`).map(Number));
  const child: ChildProcess = spawn(
    "strace",
    [
      "-f",
      "-qq",
      "-o",
      log,
      "-e",
      "trace=open,openat,openat2,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,truncate,ftruncate,link,linkat,symlink,symlinkat,sendto,sendmsg,sendmmsg",
      ...tids.flatMap((t) => ["-p", String(t)]),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  // strace prints nothing on successful attach with -qq; give it a moment and make sure it is still running.
  await new Promise((r) => setTimeout(r, 1500));
  if (child.exitCode !== null) throw new Error(`strace failed: ${err}`);
  return {
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      await exited;
      const text = existsSync(log) ? readFileSync(log, "utf8") : "";
      rmSync(dir, { recursive: true, force: true });
      const lines = text.split("\n").filter(Boolean);
      return { writes: lines.filter(isWrite), sends: lines.filter((l) => /\bsend(to|msg|mmsg)\(/.test(l)).length };
    },
  };
}

/** Does one strace line show a file-system write? */
export function isWrite(line: string): boolean {
  if (/\b(creat|rename|renameat2?|unlink|unlinkat|mkdir|mkdirat|truncate|ftruncate|link|linkat|symlink|symlinkat)\(/.test(line)) {
    return true; // even a failed attempt counts
  }
  const m = /\bopen(?:at2?)?\((?:[^,]+, )?"([^"]*)", ([A-Z_|]+)/.exec(line);
  if (!m) return false;
  const [, path = "", flags = ""] = m;
  if (!/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(flags)) return false;
  // character devices and kernel files are not files on disk
  return !/^\/(dev|proc|sys)\//.test(path);
}

function safeList(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}
function safeRead(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}
