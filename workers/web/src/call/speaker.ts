/** Active-speaker detection: the loudest participant above a threshold, with a short hold to avoid flicker. */
import { LevelMeter } from "../local-media";

export class ActiveSpeaker {
  readonly #meters = new Map<string, { stream: MediaStream; meter: LevelMeter }>();
  readonly #onChange: (nick: string | undefined) => void;
  #current: string | undefined;
  #since = 0;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(onChange: (nick: string | undefined) => void) {
    this.#onChange = onChange;
    this.#timer = setInterval(() => this.#tick(), 250);
  }

  set(nick: string, stream: MediaStream | null): void {
    const cur = this.#meters.get(nick);
    const audio = stream?.getAudioTracks()[0];
    if (cur && stream && cur.stream === stream && cur.stream.getAudioTracks()[0] === audio) return;
    cur?.meter.close();
    this.#meters.delete(nick);
    if (stream && audio) this.#meters.set(nick, { stream, meter: new LevelMeter(stream) });
  }

  #tick(): void {
    let best: string | undefined;
    let bestLevel = 0.08;
    for (const [nick, { meter }] of this.#meters) {
      const l = meter.read();
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
    for (const { meter } of this.#meters.values()) meter.close();
    this.#meters.clear();
  }
}
