/**
 * How large each remote participant's video is rendered, in device pixels, 0×0 when it is not on screen (hidden,
 * scrolled or paged out of view, not in the document): what the bridge needs to pick simulcast layers and to pause
 * the videos nobody sees (bridge-host/PROTOCOL.md `setConsumerSize`; bridge.ts sends it). One per page.
 *
 * The call shell watches each participant's current `<video>` (remote-streams.ts, whenever it shows a stream); a
 * ResizeObserver gives its size and an IntersectionObserver whether it is in the viewport. Changes are reported
 * after they settle (SETTLE_MS), so a window being resized costs a message per participant, not one per frame.
 */

export interface TileSize {
  width: number;
  height: number;
}

type Listener = (nick: string, size: TileSize) => void;

/** Quiet time after the last change before a size is reported. */
const SETTLE_MS = 250;
const OFF: TileSize = { width: 0, height: 0 };

interface Watched {
  el: Element;
  box: TileSize;
  visible: boolean;
  reported?: TileSize;
  timer?: ReturnType<typeof setTimeout>;
}

class TileSizes {
  readonly #byNick = new Map<string, Watched>();
  readonly #nickOf = new WeakMap<Element, string>();
  readonly #listeners = new Set<Listener>();
  #resize: ResizeObserver | undefined;
  #intersect: IntersectionObserver | undefined;

  /** Watch `el` as `nick`'s video (instead of the element watched before, if another). */
  watch(nick: string, el: Element | undefined): void {
    const cur = this.#byNick.get(nick);
    if (cur?.el === el) return;
    if (cur) this.#unobserve(cur.el);
    if (!el) return this.forget(nick);
    if (typeof ResizeObserver === "undefined" || typeof IntersectionObserver === "undefined") return;
    this.#resize ??= new ResizeObserver((entries) => {
      for (const e of entries) this.#update(e.target, { box: deviceBox(e) });
    });
    this.#intersect ??= new IntersectionObserver((entries) => {
      for (const e of entries) this.#update(e.target, { visible: e.isIntersecting });
    });
    this.#byNick.set(nick, { el, box: OFF, visible: false, reported: cur?.reported, timer: cur?.timer });
    this.#nickOf.set(el, nick);
    this.#resize.observe(el, { box: "device-pixel-content-box" });
    this.#intersect.observe(el);
  }

  forget(nick: string): void {
    const cur = this.#byNick.get(nick);
    if (!cur) return;
    clearTimeout(cur.timer);
    this.#unobserve(cur.el);
    this.#byNick.delete(nick);
  }

  /** The last size reported for `nick` (undefined: none yet). */
  get(nick: string): TileSize | undefined {
    return this.#byNick.get(nick)?.reported;
  }

  /** Be told each reported size change; returns the unsubscribe function. */
  subscribe(fn: Listener): () => void {
    this.#listeners.add(fn);
    return () => void this.#listeners.delete(fn);
  }

  #unobserve(el: Element): void {
    this.#resize?.unobserve(el);
    this.#intersect?.unobserve(el);
    this.#nickOf.delete(el);
  }

  #update(el: Element, change: { box?: TileSize; visible?: boolean }): void {
    const nick = this.#nickOf.get(el);
    const w = nick === undefined ? undefined : this.#byNick.get(nick);
    if (!w || nick === undefined) return;
    if (change.box) w.box = change.box;
    if (change.visible !== undefined) w.visible = change.visible;
    clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      const size = w.visible && w.box.width > 0 && w.box.height > 0 ? w.box : OFF;
      if (w.reported && w.reported.width === size.width && w.reported.height === size.height) return;
      w.reported = size;
      for (const fn of this.#listeners) fn(nick, size);
    }, SETTLE_MS);
  }
}

/** An observed element's size in device pixels (computed from CSS pixels where the browser lacks the device box). */
function deviceBox(e: ResizeObserverEntry): TileSize {
  const d = e.devicePixelContentBoxSize?.[0];
  if (d) return { width: Math.round(d.inlineSize), height: Math.round(d.blockSize) };
  const dpr = globalThis.devicePixelRatio || 1;
  return { width: Math.round(e.contentRect.width * dpr), height: Math.round(e.contentRect.height * dpr) };
}

/** The page's one set of watched tiles. */
export const tileSizes = new TileSizes();
