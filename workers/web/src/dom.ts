/** A tiny DOM builder: no framework, no innerHTML (so no markup injection from nicks or chat text). */
type Child = Node | string | false | null | undefined;
type Attrs = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, ...children);
  return el;
}

function append(el: Element, ...children: Child[]): void {
  for (const c of children) if (c !== false && c !== null && c !== undefined) el.append(c);
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

export function appRoot(): HTMLElement {
  const el = document.getElementById("app");
  if (!el) throw new Error("missing #app");
  return el;
}

/** Toggle buttons use aria-pressed, so their state is visible to assistive technology and to tests. */
export function setPressed(btn: HTMLButtonElement, pressed: boolean): void {
  btn.setAttribute("aria-pressed", String(pressed));
}
