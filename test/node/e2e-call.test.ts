/**
 * End-to-end: the web app in real headless Chromium against the real edge (`wrangler dev`, the room Durable
 * Object as XMPP server). Two participants: a direct (Jingle) call with video decoded both ways, chat, a locked
 * room, screen sharing. Screenshots of the hair check and a call go to workers/web/screenshots/ (README).
 */
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  centrePixel,
  dropXmppConnection,
  eventually,
  framesDecoded,
  join,
  launchBrowser,
  MAGENTA_SCREEN,
  mediaMode,
  openParticipant,
  selectedPairs,
  waitForCall,
  waitForRemoteVideo,
  type Participant,
} from "./helpers/browser";
import { freshRoom, screenshotPath, startWebTarget, type WebTarget } from "./helpers/web-app";

describe("web app: 1:1 calls in headless Chromium", () => {
  let target: WebTarget;
  let browser: Browser;
  const open: Participant[] = [];

  beforeAll(async () => {
    [target, browser] = await Promise.all([startWebTarget(), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await target?.stop();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const p of open) console.error(`page ${p.page.url()} logs:\n${p.logs.join("\n")}`);
      if (target.edge) console.error(`wrangler output (tail):\n${target.edge.output().slice(-3000)}`);
    }
    const pages = open.splice(0);
    await Promise.all(pages.map((p) => p.close()));
    if (ctx.task.result?.state !== "fail") {
      // Everything self-hosted, and nothing the CSP (script-src 'self', connect-src self + bridges) refuses.
      const logs = pages.flatMap((p) => p.logs);
      expect(logs.filter((l) => l.startsWith("[third-party request]"))).toEqual([]);
      expect(logs.filter((l) => /Content Security Policy/i.test(l))).toEqual([]);
    }
  });

  async function participant(room: string, initScripts?: string[]): Promise<Participant> {
    const p = await openParticipant(browser, `${target.httpUrl}/${room}`, { initScripts });
    open.push(p);
    return p;
  }

  /** Two participants in `room`: the first joins (and is on the call screen), then the second. */
  async function twoInACall(room: string, nicks: [string, string], initScripts: [string[]?, string[]?] = []): Promise<[Participant, Participant]> {
    const a = await participant(room, initScripts[0]);
    const b = await participant(room, initScripts[1]);
    await join(a, nicks[0]);
    await waitForCall(a);
    await join(b, nicks[1]);
    await waitForCall(b);
    return [a, b];
  }

  it("shows the hair check with a live local preview, a level meter and the Join button", async () => {
    const a = await participant(freshRoom("hair-check"));
    const preview = a.page.locator("video[data-local]");
    await eventually(() => preview.evaluate((v) => (v as HTMLVideoElement).videoWidth > 0), "local preview playing");
    await expect(a.page.getByRole("button", { name: "Join", exact: true }).isEnabled()).resolves.toBe(true);
    await expect(a.page.getByLabel("Name", { exact: true }).isVisible()).resolves.toBe(true);
    const meter = a.page.getByRole("meter", { name: "Microphone level" });
    await expect(meter.count()).resolves.toBe(1);
    // The meter follows the (fake, beeping) microphone, redrawing a few times a second.
    const levels = new Set<number>();
    await eventually(async () => {
      levels.add(await meter.evaluate((m) => (m as HTMLMeterElement).value));
      return levels.size >= 3 && [...levels].some((v) => v > 0);
    }, "the level meter moving", 15_000);
    // The connectivity check reaches the edge over WebSocket (XMPP session) in plain words.
    await a.page.locator('[data-check="parley-server"][data-verdict="ok"]').waitFor({ timeout: 30_000 });
    // Every check ends with a verdict in plain words (STUN/TURN: whatever this server offers via XEP-0215).
    await eventually(async () => (await a.page.locator('[data-verdict="pending"]').count()) === 0, "connectivity verdicts", 30_000);
    for (const text of await a.page.locator(".checks li .verdict").allTextContents()) expect(text.length).toBeGreaterThan(10);
  });

  it("says so in plain words when camera and microphone are refused, and still lets people join", async () => {
    const denying = await launchBrowser({ denyMedia: true });
    try {
      const p = await openParticipant(denying, `${target.httpUrl}/${freshRoom("denied")}`, { grantMedia: false });
      await p.page.getByText("Permission to use your microphone was denied").waitFor({ timeout: 20_000 });
      await p.page.getByText("Permission to use your camera was denied").waitFor({ timeout: 20_000 });
      expect(await p.page.getByRole("button", { name: "Camera" }).isDisabled()).toBe(true);
      await join(p, "listener");
      await waitForCall(p);
    } finally {
      await denying.close();
    }
  });

  it("two participants connect directly and each decodes the other's video", async () => {
    const [a, b] = await twoInACall("calm-heron-17", ["alice", "bob"]); // fixed for the screenshot; unique within this edge instance

    const [ta, tb] = await Promise.all([waitForRemoteVideo(a.page, ["bob"]), waitForRemoteVideo(b.page, ["alice"])]);
    expect(ta).toBeGreaterThanOrEqual(0);
    expect(tb).toBeGreaterThanOrEqual(0);
    expect(await mediaMode(a)).toBe("p2p");
    expect(await mediaMode(b)).toBe("p2p");

    // The media path is direct: the selected ICE pair uses host/srflx/relay candidates (no bridge in this setup).
    for (const p of [a, b]) {
      const pairs = await eventually(async () => {
        const list = await selectedPairs(p.page);
        return list.length > 0 ? list : undefined;
      }, "a selected candidate pair");
      for (const pair of pairs) {
        expect(["host", "srflx", "relay", "prflx"]).toContain(pair.local);
        expect(["host", "srflx", "relay", "prflx"]).toContain(pair.remote);
      }
    }
    // Frames keep being decoded (not a single frame that froze).
    const before = await framesDecoded(a.page);
    await eventually(async () => (await framesDecoded(a.page)) > before + 10, "framesDecoded to keep increasing");
    await a.page.waitForTimeout(500); // let the active-speaker highlight settle for the screenshot
    await a.page.getByLabel("Message", { exact: true }).fill("Hi Bob! Can you see my screen later?");
    await a.page.getByLabel("Message", { exact: true }).press("Enter");
    await b.page.getByRole("log").getByText("Can you see my screen").waitFor({ timeout: 20_000 });
    await a.page.screenshot({ path: screenshotPath("call.png") });
  });

  it("a newcomer who waited on the hair check sends its prepared offer, candidates inside, answered by a spare; cameras start small", async () => {
    // Record what each page sends over its XMPP WebSocket.
    const capture = `(() => { window.__sent = []; const send = WebSocket.prototype.send;
      WebSocket.prototype.send = function (d) { window.__sent.push(String(d)); return send.call(this, d); };
      const setParameters = RTCRtpSender.prototype.setParameters;
      RTCRtpSender.prototype.setParameters = function (p, ...rest) {
        if (this.track && this.track.kind === "video") (this.__scales ??= []).push((p.encodings[0] || {}).scaleResolutionDownBy ?? 1);
        return setParameters.call(this, p, ...rest);
      }; })();`;
    const room = freshRoom("prepared");
    const a = await participant(room, [capture]);
    const b = await participant(room, [capture]);
    await join(a, "alice");
    await waitForCall(a);
    // Bob stays on the hair check until its connection check is done and his offer is prepared (its gathering may
    // take longer than the check on a busy machine).
    await eventually(async () => (await b.page.locator('[data-verdict="pending"]').count()) === 0, "bob's connectivity verdicts", 30_000);
    await eventually(
      async () => (await b.page.evaluate(`performance.getEntriesByName("parley:offer-prepared").length`)) === 1,
      "bob's prepared offer",
      30_000,
    );
    await join(b, "bob");
    await waitForCall(b);
    await Promise.all([waitForRemoteVideo(a.page, ["bob"]), waitForRemoteVideo(b.page, ["alice"])]);

    const marks = (p: Participant): Promise<string[]> =>
      p.page.evaluate(`performance.getEntriesByType("mark").map((m) => m.name)`);
    // The later joiner initiates, with the offer prepared on the hair check (not one built after joining).
    expect(await marks(b)).toContain("parley:jingle-initiate-prepared");
    // ...and sends it on alice's presence, before its own (the room had one occupant: that presence is the roster).
    const order = await marks(b);
    expect(order.indexOf("parley:early-initiate")).toBeGreaterThanOrEqual(0);
    expect(order.indexOf("parley:early-initiate")).toBeLessThan(order.indexOf("parley:joined"));
    // Bob's tile got alice's (receiver) tracks while the offer was out, not only when her answer arrived.
    expect(order.indexOf("parley:receivers-shown")).toBeGreaterThanOrEqual(0);
    expect(order.indexOf("parley:receivers-shown")).toBeLessThan(order.indexOf("parley:jingle-rx:session-accept"));
    expect((await marks(a)).some((m) => m.startsWith("parley:jingle-initiate"))).toBe(false);
    const sentByBob: string[] = await b.page.evaluate("window.__sent");
    const initiate = sentByBob.find((f) => f.includes("session-initiate"));
    expect(initiate).toBeDefined();
    // XEP-0176: candidates travel in the session-initiate itself; only our codecs are offered.
    expect(initiate).toMatch(/<candidate [^>]*type=["']host["']/);
    expect(initiate).toMatch(/name=["']VP8["']/);
    expect(initiate).toMatch(/name=["']opus["']/);
    expect(initiate).not.toMatch(/name=["'](H264|AV1|PCMU|G722)["']/);
    // Alice answered with her spare (the one peer connection made with a candidate pool), and on both sides the video
    // sender starts at the higher bitrate (x-google-start-bitrate on the remote description).
    const connected = (p: Participant): Promise<Array<{ pool: number; startBitrate: boolean }>> =>
      p.page.evaluate(`window.__pcs.filter((pc) => pc.connectionState === "connected").map((pc) => ({
        pool: pc.getConfiguration().iceCandidatePoolSize ?? 0,
        startBitrate: /x-google-start-bitrate=\\d+/.test(pc.remoteDescription ? pc.remoteDescription.sdp : ""),
      }))`);
    const [pa, pb] = await Promise.all([connected(a), connected(b)]);
    expect(pa).toEqual([{ pool: 1, startBitrate: true }]);
    expect(pb).toEqual([{ pool: 0, startBitrate: true }]);
    // Both cameras (the fake one is 720p) start at 360p, set before the session is up, and go to full size once it is.
    // Only the call's own sender counts: a new spare answerer, made a moment after the call took the old one, starts
    // small in its turn.
    const callSenders = `window.__pcs.filter((pc) => pc.connectionState === "connected")
      .flatMap((pc) => pc.getSenders()).filter((s) => s.track && s.track.kind === "video")`;
    for (const p of [a, b]) {
      const scales = (): Promise<number[][]> => p.page.evaluate(`${callSenders}.map((s) => s.__scales ?? [])`);
      expect((await scales()).map((s) => s[0])).toEqual([2]);
      await eventually(async () => (await scales())[0]?.at(-1) === 1, "camera at full size");
      const live = await p.page.evaluate(`${callSenders}.map((s) => s.getParameters().encodings[0].scaleResolutionDownBy ?? 1)`);
      expect(live).toEqual([1]);
    }
  });

  it("delivers chat messages; remembers the name; closing the tab leaves the room", async () => {
    const [a, b] = await twoInACall(freshRoom("chat"), ["alice", "bob"]);
    await a.page.getByLabel("Message", { exact: true }).fill("hello from alice <b>not bold</b>");
    await a.page.getByLabel("Message", { exact: true }).press("Enter");
    await b.page.getByRole("log").getByText("hello from alice <b>not bold</b>").waitFor({ timeout: 20_000 });
    await b.page.getByLabel("Message", { exact: true }).fill("hi alice");
    await b.page.getByRole("button", { name: "Send" }).click();
    await a.page.getByRole("log").getByText("hi alice").waitFor({ timeout: 20_000 });
    // The sender sees its own message once (the room reflects it), and markup stays text.
    expect(await a.page.getByRole("log").getByText("hello from alice <b>not bold</b>").count()).toBe(1);
    expect(await b.page.getByRole("log").locator("b").count()).toBe(0);

    // The display name is remembered in this browser (localStorage) for the next hair check.
    const again = await a.context.newPage();
    await again.goto(`${target.httpUrl}/${freshRoom("again")}`);
    await eventually(async () => (await again.getByLabel("Name", { exact: true }).inputValue()) === "alice", "remembered name");

    // Closing the tab leaves the room: the others see it at once.
    await b.page.close({ runBeforeUnload: true });
    await a.page.locator('video[data-participant="bob"]').waitFor({ state: "detached", timeout: 20_000 });
    await a.page.getByRole("log").getByText("bob left.").waitFor({ timeout: 20_000 });
  });

  it("a locked room refuses a wrong password and admits the right one", async () => {
    const room = freshRoom("lock");
    const a = await participant(room);
    const b = await participant(room);
    await join(a, "owner");
    await waitForCall(a);
    await a.page.getByRole("button", { name: "Lock room" }).click();
    await a.page.getByLabel("New room password").fill("correct horse");
    await a.page.getByRole("button", { name: "Set password" }).click();
    await a.page.getByRole("log").getByText("You locked the room").waitFor({ timeout: 20_000 });

    await join(b, "guest");
    await b.page.getByLabel("Room password").waitFor({ timeout: 20_000 });
    expect(await b.page.locator("[data-media-mode]").count()).toBe(0);
    await join(b, "guest", "wrong password");
    await b.page.getByText("That password is not right").waitFor({ timeout: 20_000 });
    expect(await b.page.locator("[data-media-mode]").count()).toBe(0);
    await join(b, "guest", "correct horse");
    await waitForCall(b);
    await a.page.getByRole("list", { name: "Participants" }).getByText("guest").waitFor({ timeout: 20_000 });
    await waitForRemoteVideo(b.page, ["owner"]);
  });

  it("shows 'reconnecting' after a network drop, then rejoins and the call resumes", async () => {
    const [a, b] = await twoInACall(freshRoom("drop"), ["alice", "bob"]);
    await Promise.all([waitForRemoteVideo(a.page, ["bob"]), waitForRemoteVideo(b.page, ["alice"])]);

    expect(await dropXmppConnection(b.page)).toBe(1);
    await b.page.getByText("Reconnecting…").waitFor({ timeout: 20_000 });
    // The room saw bob's socket go: alice's tile for bob disappears, then comes back when bob rejoins.
    await a.page.locator('video[data-participant="bob"]').waitFor({ state: "detached", timeout: 30_000 });
    await b.page.getByText("Reconnecting…").waitFor({ state: "hidden", timeout: 45_000 });
    await a.page.locator('video[data-participant="bob"]').waitFor({ timeout: 30_000 });
    await Promise.all([waitForRemoteVideo(a.page, ["bob"]), waitForRemoteVideo(b.page, ["alice"])]);
    expect(await mediaMode(b)).toBe("p2p");
  });

  it("without a bridge configured, three people connect directly to each other", async () => {
    const room = freshRoom("mesh");
    const [a, b, c] = [await participant(room), await participant(room), await participant(room)];
    await join(a, "alice");
    await waitForCall(a);
    await join(b, "bob");
    await waitForCall(b);
    await join(c, "carol");
    await waitForCall(c);
    await Promise.all([
      waitForRemoteVideo(a.page, ["bob", "carol"]),
      waitForRemoteVideo(b.page, ["alice", "carol"]),
      waitForRemoteVideo(c.page, ["alice", "bob"]),
    ]);
    for (const p of [a, b, c]) expect(await mediaMode(p)).toBe("p2p");
  });

  it("shows everyone who is muted or has the camera off", async () => {
    const [a, b] = await twoInACall(freshRoom("mute"), ["alice", "bob"]);
    const aliceTile = b.page.locator("figure", { has: b.page.locator('video[data-participant="alice"]') });
    await aliceTile.waitFor({ timeout: 20_000 });
    expect(await aliceTile.getByText("muted").count()).toBe(0);
    await a.page.getByRole("button", { name: "Microphone" }).click();
    expect(await a.page.getByRole("button", { name: "Microphone" }).getAttribute("aria-pressed")).toBe("false");
    await aliceTile.getByText("muted").waitFor({ timeout: 20_000 });
    // With alice muted, bob's (fake, beeping) microphone is the only one she hears: his tile is the active speaker.
    // The fake microphone beeps ≈ 30 ms every 500 ms: this fails if the meter samples instead of measuring everything.
    await a.page.locator('figure.tile.speaking video[data-participant="bob"]').waitFor({ timeout: 10_000 });
    await a.page.getByRole("button", { name: "Camera" }).click();
    await aliceTile.getByText("muted, camera off").waitFor({ timeout: 20_000 });
    await a.page.getByRole("button", { name: "Microphone" }).click();
    await a.page.getByRole("button", { name: "Camera" }).click();
    await eventually(async () => (await aliceTile.locator(".tile-state").textContent()) === "", "alice's tile back to normal");
  });

  it("lets the owner remove a participant", async () => {
    const [a, b] = await twoInACall(freshRoom("kick"), ["host", "visitor"]);
    await a.page.getByRole("button", { name: "Remove visitor" }).click();
    await b.page.getByText("You were removed from the call by a moderator.").waitFor({ timeout: 20_000 });
    await a.page.locator('video[data-participant="visitor"]').waitFor({ state: "detached", timeout: 20_000 });
    await a.page.getByRole("log").getByText("visitor was removed.").waitFor({ timeout: 20_000 });
  });

  it("when the owner leaves, the person who stays can lock the room", async () => {
    const [a, b] = await twoInACall(freshRoom("handover"), ["host", "guest"]);
    await a.page.getByRole("button", { name: "Lock room" }).waitFor({ timeout: 20_000 });
    expect(await b.page.getByRole("button", { name: "Lock room" }).count()).toBe(0);
    await a.page.getByRole("button", { name: "Leave" }).click();
    // XEP-0045 §10.6: the room hands ownership to the remaining occupant, whose call screen now offers the lock.
    await b.page.getByRole("button", { name: "Lock room" }).waitFor({ timeout: 20_000 });
  });

  it("screen share reaches the other participant", async () => {
    const [a, b] = await twoInACall(freshRoom("screen"), ["presenter", "viewer"], [[MAGENTA_SCREEN]]);
    await waitForRemoteVideo(b.page, ["presenter"]);
    const isMagenta = ([r, g, bl]: [number, number, number]) => r > 180 && g < 90 && bl > 180;
    expect(isMagenta(await centrePixel(b.page, "presenter"))).toBe(false); // the fake camera first

    await a.page.getByRole("button", { name: "Share screen" }).click();
    await a.page.getByRole("button", { name: "Stop sharing" }).waitFor({ timeout: 20_000 });
    await eventually(async () => isMagenta(await centrePixel(b.page, "presenter")), "the shared screen's pixels at the viewer");
    await b.page.getByText("sharing screen").waitFor({ timeout: 20_000 });

    await a.page.getByRole("button", { name: "Stop sharing" }).click();
    await eventually(async () => !isMagenta(await centrePixel(b.page, "presenter")), "the camera again after sharing stops");
  });
});
