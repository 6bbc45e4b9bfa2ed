/**
 * `npm run bench:call -- --people N` (call.ts hands over here): N pages in one call through the bridge, grid view as
 * the app lays it out, measured twice in the same run: with simulcast (each camera in layers, each receiver gets the
 * layer that fits its tile, bridge-host/src/room/layers.ts) and without (`localStorage["parley:simulcast"] = "off"`:
 * one 360p encoding per camera, as before simulcast). Per page: CPU of its renderer process (where Chromium decodes
 * video in software here) and of all of Chromium divided by N, downlink from the bridge (inbound-rtp bytes), and
 * decoded pixels per second (framesDecoded × frame size, the decoder's work) and the time spent decoding
 * (totalDecodeTime: the decoder's CPU, software VP8 here), encoded pixels per second and time spent encoding over the
 * layers each camera sends (framesEncoded × frame size, the encoder's work). With more than four people, three of
 * them are pages and the others synthetic participants (test/node/helpers/synthetic-participant.ts: the same room,
 * MLS group and bridge, a real encrypted VP8 camera sent from Node, in the three layers of simulcast or as one 360p
 * encoding without it): more than four Chromium pages saturate this 2-core machine, and the figures are per page.
 * Options: --people N (≥ 3), --pages K (how many of them are pages), --seconds N (window, default 10), --settle-ms N
 * (after everyone decodes everyone, default 8000), --only on|off. Linux only (/proc). Prints figures; exits 0
 * whatever they are.
 */
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import type { Browser, Page } from "playwright-core";
import { startBridge } from "../node/helpers/bridge-harness";
import { openReadyParticipant } from "../node/helpers/bridge-participants";
import { join as joinCall, launchBrowser, waitForCall, waitForRemoteVideo, type Participant } from "../node/helpers/browser";
import { encodeTestCamera } from "../node/helpers/synthetic-media";
import { SyntheticParticipant } from "../node/helpers/synthetic-participant";
import { freshRoom, startWebTarget } from "../node/helpers/web-app";
import { intFlag } from "./flags";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU ticks (user+system) of every Chromium process, by pid, with whether it is a renderer. */
function chromiumTicks(): Map<number, { renderer: boolean; ticks: number }> {
  const out = new Map<number, { renderer: boolean; ticks: number }>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (!cmd.includes("chromium")) continue;
      const fields = readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1]!.split(" ");
      out.set(Number(d), { renderer: cmd.includes("--type=renderer"), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      /* ended meanwhile */
    }
  }
  return out;
}

/** CPU ticks of the threads of Chromium's renderer processes, summed by thread name (/proc/PID/task/TID/comm). */
function rendererThreadTicks(): Map<string, number> {
  const out = new Map<string, number>();
  for (const [pid, p] of chromiumTicks()) {
    if (!p.renderer) continue;
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
        const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
        out.set(name, (out.get(name) ?? 0) + Number(fields[11]) + Number(fields[12]));
      }
    } catch {
      /* ended meanwhile */
    }
  }
  return out;
}

/** Bridge inbound video/audio bytes and decoded pixels so far on this page. */
async function rx(page: Page): Promise<{ bytes: number; pixels: number; encoded: number; decodeSecs: number; encodeSecs: number }> {
  return page.evaluate(`(async () => {
    let bytes = 0, pixels = 0, encoded = 0, decodeSecs = 0, encodeSecs = 0;
    for (const pc of window.__pcs) {
      if (pc.connectionState === "closed" || !pc.remoteDescription || !pc.remoteDescription.sdp.includes("a=ice-lite")) continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "video") {
          encoded += (s.framesEncoded || 0) * (s.frameWidth || 0) * (s.frameHeight || 0);
          encodeSecs += s.totalEncodeTime || 0;
        }
        if (s.type !== "inbound-rtp") return;
        bytes += s.bytesReceived || 0;
        if (s.kind !== "video") return;
        pixels += (s.framesDecoded || 0) * (s.frameWidth || 0) * (s.frameHeight || 0);
        decodeSecs += s.totalDecodeTime || 0;
      });
    }
    return { bytes, pixels, encoded, decodeSecs, encodeSecs };
  })()`);
}

/** Mean received frame size per page (what layers arrived), e.g. "320x180". */
async function frameSizes(page: Page): Promise<string[]> {
  return page.evaluate(`(async () => {
    const out = [];
    for (const pc of window.__pcs) {
      if (pc.connectionState === "closed" || !pc.remoteDescription || !pc.remoteDescription.sdp.includes("a=ice-lite")) continue;
      (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video" && s.frameWidth) out.push(s.frameWidth + "x" + s.frameHeight); });
    }
    return out;
  })()`);
}

interface Figures {
  /** renderer CPU per page by thread name, % of a core, largest first */
  threads: ReadonlyArray<readonly [string, number]>;
  rendererPerPage: number;
  chromiumPerPage: number;
  downMbps: number;
  mpixPerSec: number;
  /** pixels encoded per second per page (framesEncoded × frame size over the layers sent), in millions */
  encodedMpixPerSec: number;
  /** time spent decoding video per page (inbound-rtp totalDecodeTime), % of the window: the decoder's CPU */
  decodePct: number;
  /** the same for encoding (outbound-rtp totalEncodeTime, over the layers sent) */
  encodePct: number;
  sizes: string[];
}

async function callOf(
  browser: Browser,
  base: string,
  o: { people: number; pages: number; simulcast: boolean; settleMs: number; windowMs: number },
): Promise<Figures> {
  const { people, pages, simulcast, settleMs, windowMs } = o;
  const room = freshRoom(simulcast ? "bench-simulcast" : "bench-single");
  const url = `${base}/${room}`;
  const init = simulcast ? [] : [`localStorage.setItem("parley:simulcast", "off");`];
  const ps: Participant[] = [];
  const synthetic: SyntheticParticipant[] = [];
  try {
    for (let i = 0; i < pages; i++) {
      const p = await openReadyParticipant(browser, url, 3, { initScripts: init });
      ps.push(p);
      await joinCall(p, `p${i + 1}`);
      await waitForCall(p, 120_000);
    }
    for (const p of ps) await p.page.locator('[data-media-mode="bridge"]').waitFor({ timeout: 180_000 });
    const video = encodeTestCamera(simulcast ? "simulcast" : "single");
    for (let i = pages; i < people; i++) synthetic.push(await SyntheticParticipant.join({ httpUrl: base, room, nick: `p${i + 1}`, video }));
    const nicks = Array.from({ length: people }, (_, i) => `p${i + 1}`);
    for (const [i, p] of ps.entries()) await waitForRemoteVideo(p.page, nicks.filter((_, k) => k !== i), 180_000);
    await new Promise((r) => setTimeout(r, settleMs));
    const before = chromiumTicks();
    const threadsBefore = rendererThreadTicks();
    const rx0 = await Promise.all(ps.map((p) => rx(p.page)));
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const after = chromiumTicks();
    const threadsAfter = rendererThreadTicks();
    const rx1 = await Promise.all(ps.map((p) => rx(p.page)));
    const secs = (Date.now() - t0) / 1000;
    let renderer = 0;
    let all = 0;
    for (const [pid, a] of after) {
      const b = before.get(pid);
      if (!b) continue;
      const pct = ((a.ticks - b.ticks) / TICKS_PER_SECOND / (windowMs / 1000)) * 100;
      all += pct;
      if (a.renderer) renderer += pct;
    }
    const bytes = rx1.reduce((s, r, i) => s + r.bytes - rx0[i]!.bytes, 0);
    const pixels = rx1.reduce((s, r, i) => s + r.pixels - rx0[i]!.pixels, 0);
    const encoded = rx1.reduce((s, r, i) => s + r.encoded - rx0[i]!.encoded, 0);
    const decodeSecs = rx1.reduce((s, r, i) => s + r.decodeSecs - rx0[i]!.decodeSecs, 0);
    const encodeSecs = rx1.reduce((s, r, i) => s + r.encodeSecs - rx0[i]!.encodeSecs, 0);
    const threads = [...threadsAfter]
      .map(([name, t]) => [name, ((t - (threadsBefore.get(name) ?? 0)) / TICKS_PER_SECOND / (windowMs / 1000)) * 100 / pages] as const)
      .sort((a, b) => b[1] - a[1]);
    return {
      threads,
      rendererPerPage: renderer / pages,
      chromiumPerPage: all / pages,
      downMbps: (bytes * 8) / secs / 1e6 / pages,
      mpixPerSec: pixels / secs / 1e6 / pages,
      encodedMpixPerSec: encoded / secs / 1e6 / pages,
      decodePct: (decodeSecs / secs / pages) * 100,
      encodePct: (encodeSecs / secs / pages) * 100,
      sizes: await frameSizes(ps[0]!.page),
    };
  } finally {
    await Promise.all([...ps.map((p) => p.close()), ...synthetic.map((p) => p.close())]);
  }
}

export async function benchPeople(args: string[]): Promise<void> {
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const people = intFlag("people", opt("people"), 3);
  const pages = intFlag("pages", opt("pages") ?? String(people > 4 ? 3 : people), 3);
  if (pages > people) throw new Error("--pages: at most --people");
  const windowMs = intFlag("seconds", opt("seconds") ?? "10", 1) * 1000;
  const settleMs = intFlag("settle-ms", opt("settle-ms") ?? "8000", 0);
  const only = opt("only");
  const bridge = await startBridge();
  const target = await startWebTarget({ BRIDGES: bridge.controlUrl, BRIDGE_PUBLIC_ORIGINS: bridge.wsBaseUrl, BRIDGE_SECRET: bridge.secret }, { snapshot: true });
  const browser = await launchBrowser();
  try {
    console.log(
      `bench:call --people ${people}: ${pages} pages and ${people - pages} synthetic participants, grid view at 1280x800, window ${windowMs / 1000} s, load average ${loadavg()[0]!.toFixed(1)}`,
    );
    const runs: Array<[string, Figures]> = [];
    for (const simulcast of [true, false]) {
      if (only === (simulcast ? "off" : "on")) continue;
      const f = await callOf(browser, target.httpUrl, { people, pages, simulcast, settleMs, windowMs });
      const label = simulcast ? "simulcast" : "one 360p encoding";
      runs.push([label, f]);
      console.log(`  renderer threads per page: ${f.threads.slice(0, 14).map(([n, pct]) => `${n} ${pct.toFixed(1)}%`).join(", ")}`);
      console.log(
        `${label.padEnd(18)} renderer ${f.rendererPerPage.toFixed(0)}% of a core per page, all Chromium ${f.chromiumPerPage.toFixed(0)}% per page, ` +
          `downlink ${f.downMbps.toFixed(2)} Mbit/s per page, decoded ${f.mpixPerSec.toFixed(2)} Mpixel/s in ${f.decodePct.toFixed(1)}% of the time, encoded ${f.encodedMpixPerSec.toFixed(2)} Mpixel/s in ${f.encodePct.toFixed(1)}% per page; first page receives ${f.sizes.join(" ")} (load average ${loadavg()[0]!.toFixed(1)})`,
      );
    }
    if (runs.length === 2) {
      const [[, s], [, o]] = runs as [[string, Figures], [string, Figures]];
      console.log(
        `simulcast / without: renderer CPU ${((s.rendererPerPage / o.rendererPerPage) * 100).toFixed(0)}%, decode time ${((s.decodePct / o.decodePct) * 100).toFixed(0)}%, decoded pixels ${((s.mpixPerSec / o.mpixPerSec) * 100).toFixed(0)}%, downlink ${((s.downMbps / o.downMbps) * 100).toFixed(0)}%`,
      );
    }
  } finally {
    await browser.close();
    await target.stop();
    await bridge.stop();
  }
}
