/**
 * The strace helper the bridge privacy test relies on (test/node/helpers/bridge-strace.ts): its line classifier, and
 * a canary process that writes a file, which the watcher must see.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWrite, processTree, straceAvailable, traceFileWrites } from "./bridge-strace";

describe("strace classifier", () => {
  it("flags write-opens of files and namespace changes, not reads or devices", () => {
    expect(isWrite('123 openat(AT_FDCWD, "/tmp/x.log", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 21')).toBe(true);
    expect(isWrite('123 openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 21')).toBe(false);
    expect(isWrite('123 openat(AT_FDCWD, "/dev/null", O_RDWR|O_CLOEXEC) = 21')).toBe(false);
    expect(isWrite('123 unlink("/tmp/a") = 0')).toBe(true);
    expect(isWrite('123 renameat2(AT_FDCWD, "/tmp/a", AT_FDCWD, "/tmp/b", 0) = 0')).toBe(true);
    expect(isWrite('123 sendmsg(5, {msg_name=...}, 0) = 1200')).toBe(false);
  });
});

describe("strace watcher (canary)", () => {
  it.skipIf(!straceAvailable())("detects a process that writes a file", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-canary-"));
    const child = spawn(process.execPath, ["-e", `setInterval(() => require("fs").writeFileSync(${JSON.stringify(join(dir, "f"))}, "x"), 100)`], {
      stdio: "ignore",
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const trace = await traceFileWrites(processTree(child.pid!));
      await new Promise((r) => setTimeout(r, 1000));
      const { writes } = await trace.stop();
      expect(writes.some((w) => w.includes(join(dir, "f")))).toBe(true);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
