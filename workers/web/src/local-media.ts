/**
 * The local camera and microphone: acquiring them with clear, plain-words errors, listing devices, and a
 * microphone level meter. Shared by the hair check and the call (the call keeps using the same stream).
 */

export interface LocalMedia {
  stream: MediaStream;
  /** Human-readable problems (permission denied, no device...). Empty when everything worked. */
  problems: string[];
}

export interface DeviceChoice {
  cameraId?: string;
  micId?: string;
}

function describe(kind: "camera" | "microphone", err: unknown): string {
  const name = err instanceof DOMException ? err.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return `Permission to use your ${kind} was denied. Allow it in your browser's site settings and reload, or join without it.`;
    case "NotFoundError":
    case "OverconstrainedError":
      return `No ${kind} was found. You can still join without it.`;
    case "NotReadableError":
    case "AbortError":
      return `Your ${kind} is busy or not working (another app may be using it).`;
    default:
      return `Your ${kind} could not be started${err instanceof Error && err.message ? `: ${err.message}` : "."}`;
  }
}

const VIDEO: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
const AUDIO: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/**
 * Ask for camera and microphone together (one permission prompt); if that fails, try each alone so one missing
 * or refused device doesn't cost the other.
 */
export async function acquireLocalMedia(choice: DeviceChoice): Promise<LocalMedia> {
  if (!navigator.mediaDevices?.getUserMedia) {
    return {
      stream: new MediaStream(),
      problems: ["This page can't use a camera or microphone (it needs HTTPS and a current browser)."],
    };
  }
  const video: MediaTrackConstraints = { ...VIDEO, ...(choice.cameraId ? { deviceId: { exact: choice.cameraId } } : {}) };
  const audio: MediaTrackConstraints = { ...AUDIO, ...(choice.micId ? { deviceId: { exact: choice.micId } } : {}) };
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video, audio }), problems: [] };
  } catch {
    const stream = new MediaStream();
    const problems: string[] = [];
    for (const [kind, c] of [
      ["microphone", { audio }],
      ["camera", { video }],
    ] as const) {
      try {
        const s = await navigator.mediaDevices.getUserMedia(c);
        for (const t of s.getTracks()) stream.addTrack(t);
      } catch (e) {
        problems.push(describe(kind, e));
      }
    }
    return { stream, problems };
  }
}

/** One device, chosen in the call (camera or microphone switching), with the same constraints as at the start. */
export async function openDevice(kind: "audioinput" | "videoinput", deviceId: string): Promise<MediaStreamTrack | undefined> {
  const exact = { deviceId: { exact: deviceId } };
  const s = await navigator.mediaDevices.getUserMedia(kind === "audioinput" ? { audio: { ...AUDIO, ...exact } } : { video: { ...VIDEO, ...exact } });
  return s.getTracks()[0];
}

export interface Devices {
  cameras: MediaDeviceInfo[];
  mics: MediaDeviceInfo[];
  speakers: MediaDeviceInfo[];
}

export async function listDevices(): Promise<Devices> {
  const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  return {
    cameras: all.filter((d) => d.kind === "videoinput"),
    mics: all.filter((d) => d.kind === "audioinput"),
    speakers: all.filter((d) => d.kind === "audiooutput"),
  };
}

export function stopStream(stream: MediaStream | undefined): void {
  for (const t of stream?.getTracks() ?? []) t.stop();
}

/** Speaker selection needs HTMLMediaElement.setSinkId (not in every browser). */
export function canChooseSpeaker(): boolean {
  return "setSinkId" in HTMLMediaElement.prototype;
}

/** Samples an analyser keeps (a power of two): ≈ 0.34 s at 48 kHz, more than the slowest reader's interval. */
const LEVEL_BUFFER = 16_384;
/** What a first read covers (there is no previous read). */
const FIRST_READ_MS = 50;

/** One AudioContext for every meter on the page (each context has its own real-time audio thread). */
let sharedContext: AudioContext | undefined;
function audioContext(): AudioContext | undefined {
  if (typeof AudioContext === "undefined") return undefined;
  if (!sharedContext || sharedContext.state === "closed") sharedContext = new AudioContext();
  if (sharedContext.state === "suspended") void sharedContext.resume().catch(() => undefined);
  return sharedContext;
}

/**
 * Audio level (0..1) of a stream's first audio track, via WebAudio. `read()` is cheap; call it from rAF or a timer.
 *
 * Each read measures ALL the audio since the previous read (up to the analyser's buffer, ≈ 0.35 s), not a snapshot
 * of the last few milliseconds: a reader that samples a short window a few times a second misses short sounds in
 * between: Chromium's fake microphone beeps ≈ 30 ms every 500 ms, which a short window read every 250 ms with a
 * fixed phase never sees, and such a reader would miss the same share of short syllables.
 */
export class LevelMeter {
  #analyser: AnalyserNode | undefined;
  #buf: Float32Array<ArrayBuffer> | undefined;
  #source: MediaStreamAudioSourceNode | undefined;
  #sampleRate = 48_000;
  #lastRead: number | undefined;

  constructor(stream: MediaStream) {
    const track = stream.getAudioTracks()[0];
    const ctx = track ? audioContext() : undefined;
    if (!track || !ctx) return;
    try {
      this.#source = ctx.createMediaStreamSource(new MediaStream([track]));
      this.#analyser = ctx.createAnalyser();
      this.#analyser.fftSize = LEVEL_BUFFER;
      this.#sampleRate = ctx.sampleRate;
      this.#buf = new Float32Array(this.#analyser.fftSize);
      this.#source.connect(this.#analyser);
    } catch {
      this.close();
    }
  }

  /** RMS level of the audio since the previous read, scaled so normal speech lands around 0.3..0.8. */
  read(): number {
    if (!this.#analyser || !this.#buf) return 0;
    const now = performance.now();
    const sinceMs = this.#lastRead === undefined ? FIRST_READ_MS : now - this.#lastRead;
    this.#lastRead = now;
    const buf = this.#buf;
    this.#analyser.getFloatTimeDomainData(buf); // the most recent LEVEL_BUFFER samples, oldest first
    const n = Math.min(buf.length, Math.max(128, Math.round((sinceMs / 1000) * this.#sampleRate)));
    let sum = 0;
    for (let i = buf.length - n; i < buf.length; i++) sum += buf[i]! * buf[i]!;
    return Math.min(1, Math.sqrt(sum / n) * 4);
  }

  close(): void {
    try {
      this.#source?.disconnect();
      this.#analyser?.disconnect();
    } catch {
      /* already disconnected */
    }
    this.#source = undefined;
    this.#analyser = undefined;
  }
}
