/** Active-speaker detection: the loudest participant above a threshold, with a short hold to avoid flicker. */
import { LevelMeter } from "../local-media";

/**
 * A new stream is metered from the first tick this long after it arrives: hooking WebAudio onto a stream that just
 * arrived competes with setting up the call itself (on a slow machine, the first second of a direct call).
 */
const METER_DELAY_MS = 1000;

/**
 * Where "who speaks now" comes from. The call feeds it each participant's received stream (and our own) and shows
 * what it reports (view.ts setActiveSpeaker, `data-active-speaker`). ActiveSpeaker measures the audio on this page;
 * a source that follows the bridge's announcements can take its place without the call changing.
 */
export interface SpeakerSource {
  /** the audio to judge `nick` by (null: none now) */
  set(nick: string, stream: MediaStream | null): void;
  close(): void;
}

/** The loudest participant on this page's audio (an AnalyserNode per stream, local-media.ts LevelMeter). */
export class ActiveSpeaker implements SpeakerSource {
  readonly #meters = new Map<string, { stream: MediaStream; since: number; meter?: LevelMeter; track?: MediaStreamTrack }>();
  readonly #onChange: (nick: string | undefined) => void;
  #current: string | undefined;
  #since = 0;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(onChange: (nick: string | undefined) => void) {
    this.#onChange = onChange;
    this.#timer = setInterval(() => this.#tick(), 250);
  }

  /** Meter `stream`'s audio; a stream whose audio track comes later (the bridge adds it after the video) is metered then. */
  set(nick: string, stream: MediaStream | null): void {
    const cur = this.#meters.get(nick);
    if (cur && stream && cur.stream === stream) return;
    cur?.meter?.close();
    this.#meters.delete(nick);
    if (stream) this.#meters.set(nick, { stream, since: Date.now() });
  }

  #tick(): void {
    let best: string | undefined;
    let bestLevel = 0.08;
    for (const [nick, m] of this.#meters) {
      const audio = m.stream.getAudioTracks()[0];
      if (m.meter && m.track !== audio) {
        m.meter.close(); // the stream's audio track was replaced or removed
        m.meter = undefined;
      }
      if (!m.meter && audio && Date.now() - m.since >= METER_DELAY_MS) {
        m.meter = new LevelMeter(m.stream);
        m.track = audio;
      }
      const l = m.meter?.read() ?? 0;
      if (l > bestLevel) {
        best = nick;
        bestLevel = l;
      }
    }
    const now = Date.now();
    if (best === undefined && now - this.#since < 1500) return; // keep the highlight briefly through pauses
    if (best !== this.#current) {
      this.#current = best;
      this.#onChange(best);
    }
    if (best !== undefined) this.#since = now;
  }

  close(): void {
    clearInterval(this.#timer);
    for (const { meter } of this.#meters.values()) meter?.close();
    this.#meters.clear();
  }
}
