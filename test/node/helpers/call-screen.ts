/**
 * Probes of the call screen as a person sees it (the web app's test contract: `[data-stage]`, `[data-tile]`,
 * `data-role`, `data-active-speaker`), for the end-to-end tests of layouts and of calls through the bridge.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Page } from "playwright-core";
import { eventually } from "./browser";

/** axe-core's source, evaluated in the page (the app's CSP, script-src 'self', refuses an injected script tag). */
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core"), "utf8");

/** axe-core's serious and critical violations of WCAG 2.0-2.2 A/AA on the page as it is now. */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate("typeof window.axe !== 'undefined'"))) await page.evaluate(AXE);
  const result = (await page.evaluate(`axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] })`)) as {
    violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[]; failureSummary: string }> }>;
  };
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary}`).join("; ")}`);
}

/** Share of `[data-stage]` covered by visible tiles (the picture-in-picture counts once, inside the other tile). */
export async function stageCoverage(page: Page): Promise<number> {
  return page.evaluate(`(() => {
    const stage = document.querySelector("[data-stage]").getBoundingClientRect();
    let covered = 0;
    for (const t of document.querySelectorAll("[data-stage] [data-tile]")) {
      if (t.hidden || t.getAttribute("data-role") === "pip") continue;
      const r = t.getBoundingClientRect();
      const w = Math.max(0, Math.min(r.right, stage.right) - Math.max(r.left, stage.left));
      const h = Math.max(0, Math.min(r.bottom, stage.bottom) - Math.max(r.top, stage.top));
      covered += w * h;
    }
    return covered / (stage.width * stage.height);
  })()`);
}

/** No two visible tiles overlap, except the picture-in-picture over the tile it sits on. */
export async function overlappingTiles(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const tiles = [...document.querySelectorAll("[data-stage] [data-tile]")].filter((t) => !t.hidden && t.getAttribute("data-role") !== "pip");
    const out = [];
    for (let i = 0; i < tiles.length; i++) for (let j = i + 1; j < tiles.length; j++) {
      const a = tiles[i].getBoundingClientRect(), b = tiles[j].getBoundingClientRect();
      if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) out.push(tiles[i].dataset.tile + "/" + tiles[j].dataset.tile);
    }
    return out;
  })()`);
}

/**
 * The call screen's parts that stick out of the window: the stage, each visible tile (the picture-in-picture too),
 * the Leave button.
 */
export async function outsideViewport(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const out = [];
    const parts = [["stage", document.querySelector("[data-stage]")], ["Leave", document.querySelector(".controls > .danger")],
      ...[...document.querySelectorAll("[data-stage] [data-tile]")].filter((t) => !t.hidden).map((t) => ["tile " + (t.dataset.role || "") + " " + t.dataset.tile, t])];
    for (const [name, el] of parts) {
      if (!el) { out.push(name + " missing"); continue; }
      const r = el.getBoundingClientRect();
      if (r.left < -0.5 || r.top < -0.5 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5) out.push(name + " at " + [r.left, r.top, r.right, r.bottom].map(Math.round).join(","));
    }
    return out;
  })()`);
}

/** Wait until the layout settled after a resize (it is applied at the next animation frame). */
export async function settle(page: Page): Promise<void> {
  await page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))");
}

/**
 * How long after the speaker's microphone went on (its button's state changed on the speaker's page) the listener's
 * page marks the speaker's tile as the active speaker (ms). Both pages run in one browser on one machine: their
 * clocks (Date.now) are the same. Timed from the speaker's page, not from the test's click: on a loaded machine the
 * click alone can take seconds to reach the page.
 */
export async function timeToActiveSpeaker(listener: Page, speaker: Page, nick: string): Promise<number> {
  await listener.evaluate(`(() => {
    window.__speakerAt = undefined;
    const tile = document.querySelector('[data-tile=' + JSON.stringify(${JSON.stringify(nick)}) + ']');
    const seen = () => { if (tile.hasAttribute("data-active-speaker") && window.__speakerAt === undefined) window.__speakerAt = Date.now(); };
    new MutationObserver(seen).observe(tile, { attributes: true, attributeFilter: ["data-active-speaker"] });
  })()`);
  await speaker.evaluate(`(() => {
    window.__micOnAt = undefined;
    const mic = document.querySelector('button[aria-keyshortcuts="M"]');
    new MutationObserver(() => { if (mic.getAttribute("aria-pressed") === "true" && window.__micOnAt === undefined) window.__micOnAt = Date.now(); })
      .observe(mic, { attributes: true, attributeFilter: ["aria-pressed"] });
  })()`);
  await speaker.getByRole("button", { name: "Microphone" }).click();
  const at = await eventually(() => listener.evaluate("window.__speakerAt") as Promise<number | undefined>, `${nick} marked as speaking`, 20_000);
  const start = await eventually(() => speaker.evaluate("window.__micOnAt") as Promise<number | undefined>, `${nick}'s microphone on`);
  return at - start;
}

