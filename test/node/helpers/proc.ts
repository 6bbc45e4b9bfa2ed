/** Processes seen through Linux /proc (proc(5)): a process tree, CPU time, resident memory, command name. */
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ = 100 on Linux

/** The fields of /proc/PID/stat after the parenthesised command name (which may contain spaces), or undefined. */
function statOf(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** `root` and all its descendants. */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    const pid = Number(d);
    if (!Number.isInteger(pid)) continue;
    const f = statOf(pid);
    if (f) parent.set(pid, Number(f[1])); // field 4: ppid
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
}

/** CPU time the processes used so far, in ms (user + system). */
export function cpuMsOf(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statOf(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]); // fields 14, 15: utime, stime
  }
  return ticks * TICK_MS;
}

/** The process's command name, "" if it is gone. */
export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Resident set size in bytes (VmRSS), 0 if the process is gone. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (ms, user + system) of each thread of the process so far, keyed by thread id, with the thread's name. */
export function threadCpuMs(pid: number): Map<number, { name: string; cpuMs: number }> {
  const out = new Map<number, { name: string; cpuMs: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      out.set(Number(t), { name, cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS });
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return out;
}
