/** Preferences kept in this browser only (localStorage): display name and chosen devices. Never sent anywhere but the room. */
const KEY = "parley.prefs.v1";

export interface Prefs {
  name: string;
  cameraId?: string;
  micId?: string;
  speakerId?: string;
}

export function loadPrefs(): Prefs {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return { name: "" };
    const v: unknown = JSON.parse(raw);
    if (typeof v !== "object" || v === null) return { name: "" };
    const o = v as Record<string, unknown>;
    const str = (x: unknown) => (typeof x === "string" ? x : undefined);
    return { name: str(o.name) ?? "", cameraId: str(o.cameraId), micId: str(o.micId), speakerId: str(o.speakerId) };
  } catch {
    return { name: "" };
  }
}

export function savePrefs(p: Prefs): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(p));
  } catch {
    /* storage disabled: preferences just aren't remembered */
  }
}

/** MUC nicks: trimmed, control characters removed, at most 48 characters (XEP-0045 §7.2: nick is a resourcepart). */
export function cleanDisplayName(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f/]/g, "").trim().slice(0, 48);
}
