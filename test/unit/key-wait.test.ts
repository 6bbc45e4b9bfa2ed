/** Frames waiting a moment for their keys (workers/web/src/e2ee/key-wait.ts). */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HoldWindow, KeyWait, withKeys } from "../../workers/web/src/e2ee/key-wait";

class NoKey extends Error {}

describe("frames waiting for their keys", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => void vi.useRealTimers());

  /** A stream's attempt: fails with NoKey until `keys.ready`, then returns the frame's number. */
  const stream = (keys: { ready: boolean }, wait: KeyWait, hold: HoldWindow) => (n: number) =>
    withKeys(
      async () => {
        if (!keys.ready) throw new NoKey();
        return n;
      },
      (e) => e instanceof NoKey,
      hold,
      wait,
      () => Date.now(),
    );

  it("a frame waits until the keys come, then goes through at once", async () => {
    const wait = new KeyWait();
    const keys = { ready: false };
    const frame = stream(keys, wait, new HoldWindow(1500));
    const p = frame(1);
    await vi.advanceTimersByTimeAsync(400);
    keys.ready = true;
    wait.keysChanged();
    await expect(p).resolves.toBe(1);
    expect(Date.now()).toBe(400);
  });

  it("a stream whose keys do not come holds for its window once, then fails at once until a frame gets through", async () => {
    const wait = new KeyWait();
    const keys = { ready: false };
    const frame = stream(keys, wait, new HoldWindow(1500));
    const first = expect(frame(1)).rejects.toBeInstanceOf(NoKey);
    await vi.advanceTimersByTimeAsync(1500);
    await first;
    // the window is spent: no more waiting
    await expect(frame(2)).rejects.toBeInstanceOf(NoKey);
    expect(Date.now()).toBe(1500);
    // an unrelated change of keys wakes a waiting frame, which waits on for the rest of its window
    keys.ready = true;
    await expect(frame(3)).resolves.toBe(3);
    keys.ready = false;
    const again = frame(4);
    await vi.advanceTimersByTimeAsync(100);
    wait.keysChanged();
    await vi.advanceTimersByTimeAsync(100);
    keys.ready = true;
    wait.keysChanged();
    await expect(again).resolves.toBe(4);
    expect(Date.now()).toBe(1700);
  });

  it("an error not about keys is not waited on", async () => {
    const wait = new KeyWait();
    const p = withKeys(() => Promise.reject(new Error("auth")), (e) => e instanceof NoKey, new HoldWindow(1500), wait);
    await expect(p).rejects.toThrow("auth");
    expect(Date.now()).toBe(0);
  });
});
