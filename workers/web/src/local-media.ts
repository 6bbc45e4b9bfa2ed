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
 */
export class LevelMeter {
  #analyser: AnalyserNode | undefined;
  #buf: Float32Array<ArrayBuffer> | undefined;
  #source: MediaStreamAudioSourceNode | undefined;

  constructor(stream: MediaStream) {
    const track = stream.getAudioTracks()[0];
    const ctx = track ? audioContext() : undefined;
    if (!track || !ctx) return;
    try {
      this.#source = ctx.createMediaStreamSource(new MediaStream([track]));
      this.#analyser = ctx.createAnalyser();
      // ≈ 85 ms of audio per read (at 48 kHz): readers sample a few times a second, and a 10 ms window (512)
      // mostly fell between syllables (or the fake microphone's short beeps), so the active speaker was missed.
      this.#analyser.fftSize = 4096;
      this.#buf = new Float32Array(this.#analyser.fftSize);
      this.#source.connect(this.#analyser);
    } catch {
      this.close();
    }
  }

  /** RMS level scaled so normal speech lands around 0.3..0.8. */
  read(): number {
    if (!this.#analyser || !this.#buf) return 0;
    this.#analyser.getFloatTimeDomainData(this.#buf);
    let sum = 0;
    for (const x of this.#buf) sum += x * x;
    const rms = Math.sqrt(sum / this.#buf.length);
    return Math.min(1, rms * 4);
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
