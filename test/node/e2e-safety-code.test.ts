/**
 * End-to-end: the MLS group behind the safety code, on the README's local stack (`workers/scripts/dev.mjs`: edge on
 * wrangler dev, bridge host, coturn) with real Chromium pages, no test hooks: the product's keys. Two people (direct),
 * then three (bridge), then back to two (direct): after every join and leave, `[data-safety-code]` shows the same code
 * on every page in the call, and a different one from the epoch before; the panel flags nobody (no member outside the
 * room, no occupant outside the group); every page decodes the others' video (their frames decrypt), and
 * `[data-e2ee]` is `on` on every page from its first keys on, never `off` again.
 * A page whose copy of a commit arrives damaged joins the room again as a new member and is added back: the same code
 * on every page again, nobody flagged.
 * Also measures the join cost: second Join clicked -> the new epoch's keys ready on both pages (the same new safety
 * code shown on both), reported on stdout as `mls-join-ms`.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, join, openParticipant, waitForCall, waitForRemoteVideo, type Participant } from "./helpers/browser";
import { startLocalStack, type LocalStack } from "./helpers/local-stack";
import { freshRoom } from "./helpers/web-app";

const TIMEOUT_MS = 60_000;

async function code(page: Page): Promise<string> {
  return page.evaluate(`document.querySelector("[data-safety-code]")?.textContent?.trim() ?? ""`);
}

/** When (wall clock, ms) this page reached each MLS epoch and other call milestones (performance marks). */
async function marks(page: Page): Promise<Record<string, number>> {
  return page.evaluate(`(() => {
    const out = {};
    for (const m of performance.getEntriesByType("mark")) {
      if (!m.name.startsWith("parley:")) continue;
      const key = m.name === "parley:mls-epoch" ? "epoch-" + m.detail.epoch : m.name.slice(7);
      out[key] ??= performance.timeOrigin + m.startTime;
    }
    return out;
  })()`);
}

/** Milestones of `page` relative to `t0`, for the log. */
async function breakdown(page: Page, t0: number): Promise<string> {
  const m = await marks(page);
  return Object.entries(m)
    .filter(([, t]) => t >= t0)
    .sort((a, b) => a[1] - b[1])
    .map(([k, t]) => `${k}+${Math.round(t - t0)}`)
    .join(" ");
}

/** Wait until every page shows the same non-empty code, different from `not`; returns it and when each page got it. */
async function sameNewCode(pages: Page[], not: string[], timeoutMs = TIMEOUT_MS): Promise<{ code: string; at: number[] }> {
  const at: number[] = [];
  const seen: string[] = [];
  await Promise.all(
    pages.map(async (page, i) => {
      // a function, not a string: the app's CSP (script-src 'self') forbids eval in the page
      const handle = await page.waitForFunction(
        (old: string[]) => {
          const doc = (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document;
          const t = doc.querySelector("[data-safety-code]")?.textContent?.trim() ?? "";
          return t !== "" && !old.includes(t) ? t : false;
        },
        not,
        { polling: 10, timeout: timeoutMs },
      );
      at[i] = Date.now();
      seen[i] = (await handle.jsonValue()) as string;
    }),
  );
  // a page may have passed through an intermediate epoch: wait until all agree
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await Promise.all(pages.map(code));
    if (now.every((c) => c !== "" && c === now[0] && !not.includes(c))) return { code: now[0]!, at };
    if (Date.now() > deadline) throw new Error(`safety codes differ: ${JSON.stringify(now)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Init script: every value `[data-e2ee]` takes on this page, in order (`window.__e2eeSeen`), watched from before the
 * call screen exists, so that "on throughout" is checked between the test's own looks too.
 */
const WATCH_E2EE = `(() => {
  const seen = (window.__e2eeSeen = []);
  const note = () => {
    const v = document.querySelector("[data-e2ee]")?.getAttribute("data-e2ee");
    if (v && seen[seen.length - 1] !== v) seen.push(v);
  };
  new MutationObserver(note).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-e2ee"] });
})();`;

/**
 * Init script: once the test sets `window.__damageNextCommit`, the next MLS commit the room relays to this page
 * arrives with a byte of its ciphertext changed (its framing intact), as if damaged on the way or sent by someone
 * who wants to break the group; `window.__damagedCommits` counts them. The XMPP stream is a WebSocket (RFC 7395):
 * the page's own WebSocket class is wrapped before the app starts.
 */
const DAMAGE_COMMIT = `(() => {
  const Native = window.WebSocket;
  let proto = Native.prototype;
  while (proto && !Object.getOwnPropertyDescriptor(proto, "onmessage")) proto = Object.getPrototypeOf(proto);
  const onmessage = Object.getOwnPropertyDescriptor(proto, "onmessage");
  const damage = (ev) => {
    if (!window.__damageNextCommit || typeof ev.data !== "string") return ev;
    const m = /(<commit xmlns="urn:parley:mls:0"[^>]*>)([A-Za-z0-9+/]+)/.exec(ev.data);
    if (!m) return ev;
    window.__damageNextCommit = false;
    window.__damagedCommits = (window.__damagedCommits || 0) + 1;
    const b = m[2];
    const i = b.length - 4;
    const body = b.slice(0, i) + (b[i] === "A" ? "B" : "A") + b.slice(i + 1);
    return new MessageEvent("message", { data: ev.data.replace(m[0], m[1] + body) });
  };
  class Damaging extends Native {
    addEventListener(type, fn, opts) {
      if (type === "message" && typeof fn === "function") {
        const inner = fn;
        fn = (ev) => inner.call(this, damage(ev));
      }
      return super.addEventListener(type, fn, opts);
    }
  }
  Object.defineProperty(Damaging.prototype, "onmessage", {
    get() { return onmessage.get.call(this); },
    set(fn) { onmessage.set.call(this, typeof fn === "function" ? (ev) => fn.call(this, damage(ev)) : fn); },
  });
  window.WebSocket = Damaging;
})();`;

/** `[data-e2ee]` is `on` now and was never `off` since it was first `on`. */
async function encryptedThroughout(p: Participant): Promise<void> {
  const seen = (await p.page.evaluate("window.__e2eeSeen")) as string[];
  const since = seen.slice(seen.indexOf("on"));
  expect(since, `[data-e2ee] values on ${p.page.url()}: ${seen.join(" -> ")}`).toEqual(["on"]);
}

/** Every page is on the `mode` path, decodes every other's video, and is end-to-end encrypted throughout. */
async function callState(pages: Array<[Participant, string]>, mode: "p2p" | "bridge"): Promise<void> {
  for (const [p] of pages) await p.page.locator(`[data-media-mode="${mode}"]`).waitFor({ timeout: 150_000 });
  await Promise.all(pages.map(([p, me]) => waitForRemoteVideo(p.page, pages.map(([, n]) => n).filter((n) => n !== me), 150_000)));
  for (const [p] of pages) await encryptedThroughout(p);
}

async function flagged(page: Page): Promise<number> {
  return page.locator("[data-ghost], [data-not-in-group]").count();
}

describe("e2e: MLS group and safety code, 2 -> 3 -> 2", () => {
  let stack: LocalStack;
  let browser: Browser;
  const open: Participant[] = [];

  beforeAll(async () => {
    stack = await startLocalStack();
    browser = await launchBrowser();
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const p of open) console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}`);
      console.error(`stack output (tail):\n${stack.output().slice(-3000)}`);
    }
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  async function person(room: string, initScripts: string[] = []): Promise<Participant> {
    const p = await openParticipant(browser, `${stack.httpUrl}/${room}`, { initScripts: [WATCH_E2EE, ...initScripts] });
    open.push(p);
    p.page.setDefaultTimeout(120_000); // a loaded shared machine: clicks can wait long for the page

    // on the hair check: wait for the Join button (the warm session and its KeyPackage are under way)
    await p.page.getByRole("button", { name: "Join", exact: true }).waitFor({ timeout: TIMEOUT_MS });
    return p;
  }

  /** Alice alone in a call in a new room, with her group's first safety code. */
  async function aliceInCall(room: string): Promise<{ alice: Participant; code: string }> {
    const alice = await person(room);
    await join(alice, "alice");
    await waitForCall(alice);
    return { alice, code: (await sameNewCode([alice.page], [])).code };
  }

  /** Every panel comes to list `n` members, and flags nobody. */
  async function panelsList(ps: Participant[], n: number): Promise<void> {
    for (const p of ps) {
      await expect.poll(() => p.page.locator("[data-member]").count(), { timeout: TIMEOUT_MS }).toBe(n);
      expect(await flagged(p.page)).toBe(0);
    }
  }

  it("same code on every page, a new one after each join and leave, nobody flagged; direct, bridge, direct: encrypted throughout", { timeout: 600_000 }, async () => {
    const room = freshRoom("safety");
    const { alice, code: c0 } = await aliceInCall(room);

    const bob = await person(room);
    // the hair check has handed in bob's KeyPackage by now; time the Join
    await bob.page.waitForTimeout(1500);
    const t0 = Date.now();
    await join(bob, "bob");
    const c1 = await sameNewCode([alice.page, bob.page], [c0]);
    console.log(`mls-join bob: ${await breakdown(bob.page, t0)}; alice: ${await breakdown(alice.page, t0)}`);
    await callState([[alice, "alice"], [bob, "bob"]], "p2p");

    const carol = await person(room);
    await carol.page.waitForTimeout(1500);
    const t1 = Date.now();
    await join(carol, "carol");
    const c2 = await sameNewCode([alice.page, bob.page, carol.page], [c0, c1.code]);
    console.log(`mls-join carol: ${await breakdown(carol.page, t1)}; alice: ${await breakdown(alice.page, t1)}`);
    await callState([[alice, "alice"], [bob, "bob"], [carol, "carol"]], "bridge");

    // everyone's panel lists the three members by name and flags nobody (after the grace period too)
    for (const p of [alice, bob, carol]) {
      expect(await p.page.locator("[data-member]").count()).toBe(3);
      expect(await flagged(p.page)).toBe(0);
    }

    await carol.page.getByRole("button", { name: "Leave", exact: true }).click();
    const c3 = await sameNewCode([alice.page, bob.page], [c0, c1.code, c2.code]);
    expect(c3.code).not.toBe(c2.code);
    await callState([[alice, "alice"], [bob, "bob"]], "p2p");
    await panelsList([alice, bob], 2);
  });

  it("a page that cannot process a commit joins again as a new member: the same code everywhere again, nobody flagged, encrypted throughout", { timeout: 600_000 }, async () => {
    const room = freshRoom("lost");
    const { alice, code: c0 } = await aliceInCall(room);
    const bob = await person(room, [DAMAGE_COMMIT]);
    await join(bob, "bob");
    const c1 = await sameNewCode([alice.page, bob.page], [c0]);
    await callState([[alice, "alice"], [bob, "bob"]], "p2p");
    // carol joins: alice commits the Add, and bob's copy of that commit arrives damaged
    await bob.page.evaluate("window.__damageNextCommit = true");
    const carol = await person(room);
    await join(carol, "carol");
    // bob cannot follow: his call joins the room again as a new member, and alice adds him back
    const c2 = await sameNewCode([alice.page, bob.page, carol.page], [c0, c1.code]);
    expect(await bob.page.evaluate("window.__damagedCommits")).toBe(1);
    expect(Object.keys(await marks(bob.page))).toContain("keys-lost");
    expect(Object.keys(await marks(alice.page))).not.toContain("keys-lost");
    await callState([[alice, "alice"], [bob, "bob"], [carol, "carol"]], "bridge");
    await panelsList([alice, bob, carol], 3);
    expect(await code(bob.page)).toBe(c2.code);
  });

  it("join cost: second Join -> epoch keys ready on both pages", { timeout: 300_000 }, async () => {
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      const room = freshRoom("mls-cost");
      const { alice: a, code: first } = await aliceInCall(room);
      const b = await person(room);
      await b.page.waitForTimeout(1500);
      const t0 = Date.now();
      await join(b, "bob");
      await sameNewCode([a.page, b.page], [first]);
      // from bob's join presence leaving to epoch 1's keys installed on both pages (performance marks, one clock);
      // the test's own click is left out: on a loaded machine the automation alone takes seconds
      const [ma, mb] = await Promise.all([marks(a.page), marks(b.page)]);
      samples.push(Math.round(Math.max(ma["epoch-1"]!, mb["epoch-1"]!) - mb["join-sent"]!));
      console.log(`mls-join-ms sample bob: ${await breakdown(b.page, t0)}; alice: ${await breakdown(a.page, t0)}`);
      await Promise.all(open.splice(0).map((p) => p.close()));
    }
    samples.sort((x, y) => x - y);
    console.log(`mls-join-ms samples=${samples.join(",")} median=${samples[Math.floor(samples.length / 2)]}`);
    expect(samples.length).toBe(3);
  });
});
