/**
 * The local media we send (part of the call shell, call.ts): the stream the direct sessions and bridge links send
 * (the microphone track plus the camera or screen track), the devices behind it (the hair check's, or another one
 * chosen during the call) and the screen share. What is on and which paths carry it is the call machine's decision
 * (machine/step.ts `devices`, `toggle`, `screen`); this module only holds the tracks and reports what it has.
 */
import type { AvState } from "../../../../contract/media";
import { openDevice, stopStream } from "../local-media";
import { loadPrefs, savePrefs } from "../prefs";
import type { BridgeLink } from "./bridge";
import type { CallEvent, LinkId } from "./machine/types";

/** What the local media needs from the call. */
export interface LocalSendHost {
  /** what we send now (the machine's state) */
  av(): AvState;
  left(): boolean;
  dispatch(ev: CallEvent): void;
  /** Put a track on every direct session (p2p.ts replaceTrack); undefined before the sessions exist. */
  replaceDirect(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void> | undefined;
  link(id: LinkId): BridgeLink | undefined;
  notify(text: string): void;
  /** Show what we send as our own picture (`mirrored` for a camera, not for a screen). */
  showLocal(stream: MediaStream, mirrored: boolean): void;
  /** Our picture's tracks changed (the same stream): show them. */
  refreshLocal(mirrored: boolean): void;
}

export class LocalSend {
  /** What we send: the microphone track plus the camera or screen track. */
  readonly stream = new MediaStream();
  #camera: MediaStream;
  #screen: MediaStream | undefined;

  constructor(
    camera: MediaStream,
    readonly host: LocalSendHost,
  ) {
    this.#camera = camera;
  }

  /** The devices' tracks are on or off as we send them (an off track still holds its place on every path). */
  applyTrackEnabled(): void {
    const av = this.host.av();
    for (const t of this.#camera.getAudioTracks()) t.enabled = av.audio;
    for (const t of this.#camera.getVideoTracks()) t.enabled = av.video;
  }

  /**
   * Put the current microphone and camera (or screen) tracks into what we send: on the direct sessions where they
   * changed (their m-lines always send, p2p.ts, so this is a replaceTrack), and on these bridge links (a new producer,
   * or a replaced track; the same track again changes nothing).
   */
  async sync(links: LinkId[] = []): Promise<void> {
    const send = this.stream;
    const want = { audio: this.#camera.getAudioTracks()[0], video: this.#screen?.getVideoTracks()[0] ?? this.#camera.getVideoTracks()[0] };
    this.applyTrackEnabled();
    const changes: Array<Promise<unknown> | undefined> = [];
    for (const kind of ["audio", "video"] as const) {
      const track = want[kind] ?? null;
      const current = kind === "audio" ? send.getAudioTracks() : send.getVideoTracks();
      if (current.length !== (track ? 1 : 0) || (track && current[0] !== track)) {
        for (const t of current) send.removeTrack(t);
        if (track) send.addTrack(track);
        changes.push(this.host.replaceDirect(kind, track));
      }
      for (const id of links) changes.push(this.host.link(id)?.replaceTrack(kind, track).catch((e: unknown) => console.warn("bridge track", e)));
    }
    await Promise.all(changes);
  }

  /** The hair check's devices became ready (after Join: a camera takes a moment to start), or changed. */
  useDevices(stream: MediaStream): void {
    if (this.host.left()) return stopStream(stream);
    if (stream === this.#camera) return;
    this.#camera = stream;
    performance.mark("parley:devices-ready");
    this.host.dispatch({ type: "devices", audio: stream.getAudioTracks().length > 0, video: stream.getVideoTracks().length > 0 });
    this.host.refreshLocal(!this.#screen);
  }

  /** Another camera or microphone chosen during the call: it replaces the old one in what we send (useDevices). */
  async switchDevice(kind: "audioinput" | "videoinput", deviceId: string): Promise<void> {
    const audio = kind === "audioinput";
    let track: MediaStreamTrack | undefined;
    try {
      track = await openDevice(kind, deviceId);
    } catch {
      /* reported below */
    }
    if (!track) return this.host.notify(`That ${audio ? "microphone" : "camera"} could not be started.`);
    const keep = audio ? this.#camera.getVideoTracks() : this.#camera.getAudioTracks();
    for (const t of audio ? this.#camera.getAudioTracks() : this.#camera.getVideoTracks()) t.stop();
    this.useDevices(new MediaStream([track, ...keep]));
    savePrefs({ ...loadPrefs(), [audio ? "micId" : "cameraId"]: deviceId });
  }

  async toggleScreen(): Promise<void> {
    if (this.#screen) return this.#stopScreen();
    let screen: MediaStream;
    try {
      screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      this.host.notify("Screen sharing was cancelled or is not allowed.");
      return;
    }
    if (!screen.getVideoTracks()[0]) return;
    this.#screen = screen;
    screen.getVideoTracks()[0]!.addEventListener("ended", () => void this.#stopScreen());
    this.host.dispatch({ type: "screen", on: true });
    this.host.showLocal(this.stream, false);
  }

  #stopScreen(): void {
    if (!this.#screen) return;
    stopStream(this.#screen);
    this.#screen = undefined;
    this.host.dispatch({ type: "screen", on: false });
    this.host.showLocal(this.stream, true);
  }

  /** Leaving: the camera, microphone and screen stop. */
  stop(): void {
    stopStream(this.#camera);
    stopStream(this.#screen);
  }
}
