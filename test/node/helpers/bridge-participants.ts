/**
 * Opening the participants of a three-person (bridge) call in one Chromium.
 *
 * With three pages of one Chromium opening their XMPP WebSocket to `wrangler dev` at the same moment, about one
 * round in seven had one upgrade never answered: the socket stays CONNECTING, that page's hair check says the
 * server is unreachable and its join never completes (the bench:call crash "[data-media-mode] not visible"). Never
 * seen from Node's `ws` with the same concurrency and request pattern, nor with the pages opened in turn (0 of 45
 * pages). So: open them one after another, each once its hair check has reached the server, and open a page
 * again if it still could not (as a person would reload).
 */
import type { Browser } from "playwright-core";
import { openParticipant, type Participant } from "./browser";

export async function openReadyParticipant(browser: Browser, url: string, attempts = 3, opts: { initScripts?: string[] } = {}): Promise<Participant> {
  for (let attempt = 1; ; attempt++) {
    let p: Participant | undefined;
    try {
      p = await openParticipant(browser, url, opts);
      await p.page.locator('[data-check="parley-server"]:not([data-verdict="pending"])').waitFor({ timeout: 60_000 });
      const verdict = await p.page.locator('[data-check="parley-server"]').getAttribute("data-verdict");
      if (verdict === "ok" || attempt >= attempts) return p;
      console.error(`(a page could not reach the server, attempt ${attempt}: opening it again)`);
    } catch (e) {
      // A page load can time out on a starved machine (load 20-30 while other suites run): try again, then give up.
      if (attempt >= attempts) throw e;
      console.error(`(a page did not load, attempt ${attempt}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)})`);
    }
    await p?.close();
  }
}

/** `n` participants in the same room, opened in turn (see above). */
export async function openReadyParticipants(browser: Browser, url: string, n: number, opts: { initScripts?: string[] } = {}): Promise<Participant[]> {
  const out: Participant[] = [];
  for (let i = 0; i < n; i++) out.push(await openReadyParticipant(browser, url, 3, opts));
  return out;
}
