/**
 * The call screen's icons: small inline SVGs (24×24, drawn with strokes in the current text colour), built with DOM
 * calls (no markup strings, no image requests). Always aria-hidden: the button or element carries the name.
 */
const PATHS = {
  mic: ["M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z", "M5 11a7 7 0 0 0 14 0", "M12 18v3"],
  camera: ["M3 7h12v10H3z", "M15 10.5l6-3.5v10l-6-3.5"],
  screen: ["M3 4h18v12H3z", "M8 20h8", "M12 16v4"],
  grid: ["M4 4h7v7H4z", "M13 4h7v7h-7z", "M4 13h7v7H4z", "M13 13h7v7h-7z"],
  speaker: ["M3 3h18v12H3z", "M3 18h5v3H3z", "M10 18h4v3h-4z", "M16 18h5v3h-5z"],
  pin: ["M9 3h6l-1 6 4 4H6l4-4z", "M12 13v8"],
  fullscreen: ["M4 9V4h5", "M15 4h5v5", "M20 15v5h-5", "M9 20H4v-5"],
  volume: ["M4 9h4l5-4v14l-5-4H4z", "M16.5 9a4 4 0 0 1 0 6"],
  eye: ["M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z", "M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z"],
  link: ["M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1", "M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"],
  lock: ["M5 11h14v10H5z", "M8 11V7a4 4 0 0 1 8 0v4"],
  chat: ["M4 5h16v11H9l-5 4z"],
  devices: ["M4 6h16", "M4 12h16", "M4 18h16", "M15 4v4", "M8 10v4", "M17 16v4"],
  keyboard: ["M2 6h20v12H2z", "M6 10h.01", "M10 10h.01", "M14 10h.01", "M18 10h.01", "M7 14h10"],
  leave: ["M3 15c5-5 13-5 18 0l-2 3-4-1v-3c-2-.7-4-.7-6 0v3l-4 1z"],
} as const;

export type IconName = keyof typeof PATHS;

const SVG = "http://www.w3.org/2000/svg";

/** `crossed`: the same icon struck through (microphone off, camera off, muted for me, video hidden). */
export function icon(name: IconName, crossed = false): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  for (const [k, v] of Object.entries({
    viewBox: "0 0 24 24",
    width: "24",
    height: "24",
    fill: "none",
    stroke: "currentColor",
    "stroke-width": "2",
    "stroke-linecap": "round",
    "stroke-linejoin": "round",
    "aria-hidden": "true",
    focusable: "false",
    class: "icon",
  })) {
    svg.setAttribute(k, v);
  }
  for (const d of [...PATHS[name], ...(crossed ? ["M3 3l18 18"] : [])]) {
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", d);
    svg.append(p);
  }
  return svg;
}

/** Replace a button's icon (its accessible name stays on the button). */
export function setIcon(el: Element, name: IconName, crossed = false): void {
  el.querySelector("svg.icon")?.replaceWith(icon(name, crossed));
}
