/**
 * Hair check `/<room>`: live preview, microphone level, device selectors, display name, camera/mic toggles,
 * clear messages when a device is refused or missing, a password field when the room turns out to be locked,
 * and a connectivity check (edge WebSocket, STUN, TURN over UDP and TCP, media bridge) loaded lazily after first paint.
 */
import { clear, h, setPressed } from "./dom";
import { callEncryption, provideGroupKeys } from "./e2ee/call-encryption";
import { pageKeys } from "./e2ee/key-relay";
import { testGroupKeySource, testPlaintext } from "./e2ee/test-key-hook";
import { e2eeSupport } from "./e2ee/transform";
import { acquireLocalMedia, canChooseSpeaker, LevelMeter, listDevices, stopStream, type LocalMedia } from "./local-media";
import { cleanDisplayName, loadPrefs, savePrefs, type Prefs } from "./prefs";

/** Level meter cadence (≈15 redraws a second) and resolution (steps from silent to full). */
const METER_INTERVAL_MS = 66;
const METER_STEPS = 40;

export function renderHairCheck(root: HTMLElement, room: string): void {
  clear(root);
  const prefs: Prefs = loadPrefs();
  let media: LocalMedia = { stream: new MediaStream(), problems: [] };
  let meter: LevelMeter | undefined;
  let camOn = true;
  let micOn = true;
  let joining = false;
  let handedOver = false;
  /** The camera and microphone being started (a real camera takes a moment), until they are. */
  let acquired: Promise<MediaStream> | undefined;
  let devicesSettled = false;

  const video = h("video", { "data-local": "", autoplay: true, playsinline: true, muted: true, "aria-label": "Your camera preview" });
  video.muted = true;
  const videoOff = h("div", { class: "video-off", hidden: true }, "Camera off");
  const level = h("meter", { min: 0, max: 1, low: 0.05, high: 0.7, optimum: 0.4, value: 0, "aria-label": "Microphone level" });
  const camBtn = h("button", { type: "button", class: "toggle", "aria-pressed": "true" }, "Camera");
  const micBtn = h("button", { type: "button", class: "toggle", "aria-pressed": "true" }, "Microphone");
  const camSel = h("select", { id: "camera-select" });
  const micSel = h("select", { id: "mic-select" });
  const spkSel = h("select", { id: "speaker-select" });
  const nameInput = h("input", { id: "display-name", name: "name", autocomplete: "nickname", maxlength: 48, required: true, value: prefs.name });
  const pwInput = h("input", { id: "room-password", type: "password", autocomplete: "off" });
  const pwRow = h("div", { class: "field", hidden: true }, h("label", { for: "room-password" }, "Room password"), pwInput);
  const problems = h("div", { class: "problems", role: "alert" });
  const status = h("p", { class: "status", role: "status" });
  const joinBtn = h("button", { type: "submit", class: "primary big" }, "Join");
  // Fail closed: every call is end-to-end encrypted, so a browser that cannot encrypt media frames cannot join.
  const e2ee = ((): { ok: true } | { ok: false; reason: string } => {
    const support = e2eeSupport();
    if (!support.ok) return support;
    try {
      // The group keys must be there before the call prepares any connection (warm.ts, below).
      // The call's MLS member feeds pageKeys (call/call-e2ee.ts); an end-to-end test may put its own source on the
      // page, or (the benchmarks' baseline only) ask for no frame encryption (test-key-hook.ts).
      if (!callEncryption() && !testPlaintext()) provideGroupKeys(testGroupKeySource() ?? pageKeys);
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: e instanceof Error ? e.message : String(e) };
    }
  })();
  const e2eeProblem = h("p", { class: "problems", role: "alert", "data-e2ee-unsupported": "", hidden: e2ee.ok });
  if (!e2ee.ok) {
    e2eeProblem.textContent = `This browser cannot encrypt calls end to end (${e2ee.reason}), and Parley only makes encrypted calls. Please use a current version of Chrome, Edge, Firefox or Safari.`;
    joinBtn.disabled = true;
  }
  const checks = h("ul", { class: "checks", "aria-label": "Connection check results" });

  function showProblems(list: string[]): void {
    clear(problems);
    for (const p of list) problems.append(h("p", {}, p));
  }

  function applyToggles(): void {
    for (const t of media.stream.getVideoTracks()) t.enabled = camOn;
    for (const t of media.stream.getAudioTracks()) t.enabled = micOn;
    setPressed(camBtn, camOn && media.stream.getVideoTracks().length > 0);
    setPressed(micBtn, micOn && media.stream.getAudioTracks().length > 0);
    camBtn.disabled = media.stream.getVideoTracks().length === 0;
    micBtn.disabled = media.stream.getAudioTracks().length === 0;
    videoOff.hidden = camOn && media.stream.getVideoTracks().length > 0;
  }

  async function fillSelectors(): Promise<void> {
    const devs = await listDevices();
    const fill = (sel: HTMLSelectElement, list: MediaDeviceInfo[], current: string | undefined, label: string) => {
      clear(sel);
      if (list.length === 0) sel.append(h("option", { value: "" }, `No ${label} found`));
      list.forEach((d, i) => sel.append(h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${label} ${i + 1}`)));
      sel.disabled = list.length === 0;
    };
    const track = (k: "video" | "audio") => media.stream.getTracks().find((t) => t.kind === k)?.getSettings().deviceId;
    fill(camSel, devs.cameras, track("video"), "camera");
    fill(micSel, devs.mics, track("audio"), "microphone");
    if (canChooseSpeaker()) fill(spkSel, devs.speakers, prefs.speakerId, "speaker");
    else {
      clear(spkSel);
      spkSel.append(h("option", { value: "" }, "System default"));
      spkSel.disabled = true;
    }
  }

  async function startMedia(): Promise<void> {
    meter?.close();
    stopStream(media.stream);
    devicesSettled = false;
    const acquiring = acquireLocalMedia({ cameraId: prefs.cameraId, micId: prefs.micId });
    acquired = acquiring.then((m) => m.stream);
    media = await acquiring;
    devicesSettled = true;
    video.srcObject = media.stream;
    meter = new LevelMeter(media.stream);
    // A peer connection with these tracks, ready to answer the first direct-call offer once we join (call/prepared.ts).
    const stream = media.stream;
    void import("./call/warm").then((w) => w.spareFor(room, stream)).catch(() => undefined);
    showProblems(media.problems);
    applyToggles();
    await fillSelectors();
  }

  // The level meter redraws about 15 times a second, and only when the level moved: redrawing it on every
  // animation frame costs much more CPU per page (`npm run bench:cpu`, docs/benchmarks.md), CPU that joining a
  // call then has to share.
  const tick = () => {
    if (!level.isConnected) return meter?.close();
    const v = micOn ? Math.round((meter?.read() ?? 0) * METER_STEPS) / METER_STEPS : 0;
    if (v !== level.value) level.value = v;
    setTimeout(() => requestAnimationFrame(tick), METER_INTERVAL_MS);
  };

  camBtn.addEventListener("click", () => {
    camOn = !camOn;
    applyToggles();
  });
  micBtn.addEventListener("click", () => {
    micOn = !micOn;
    applyToggles();
  });
  camSel.addEventListener("change", () => {
    prefs.cameraId = camSel.value || undefined;
    savePrefs(prefs);
    void startMedia();
  });
  micSel.addEventListener("change", () => {
    prefs.micId = micSel.value || undefined;
    savePrefs(prefs);
    void startMedia();
  });
  spkSel.addEventListener("change", () => {
    prefs.speakerId = spkSel.value || undefined;
    savePrefs(prefs);
  });

  const form = h(
    "form",
    {
      class: "join-form",
      onsubmit: (ev) => {
        ev.preventDefault();
        void join();
      },
    },
    h("div", { class: "field" }, h("label", { for: "display-name" }, "Name"), nameInput),
    pwRow,
    problems,
    e2eeProblem,
    status,
    joinBtn,
  );

  let callModule: typeof import("./call/call") | undefined;

  async function join(): Promise<void> {
    if (joining || !e2ee.ok) return;
    const name = cleanDisplayName(nameInput.value);
    if (!name) {
      status.textContent = "Please enter your name.";
      nameInput.focus();
      return;
    }
    prefs.name = name;
    savePrefs(prefs);
    joining = true;
    joinBtn.disabled = true;
    performance.mark("parley:join-click");
    status.textContent = "Joining…";
    try {
      // The module fetched in the background (below), used right away: awaiting import() again would still wait
      // for a task (and any frame the browser draws first) before the join presence could go out.
      const { joinCall } = callModule ?? (await import("./call/call"));
      const outcome = await joinCall(root, {
        room,
        name,
        password: pwRow.hidden ? undefined : pwInput.value,
        stream: media.stream,
        // Joined before the devices were ready: the call starts without them and adds them when they are.
        devicesReady: devicesSettled ? undefined : acquired,
        micOn,
        camOn,
        speakerId: prefs.speakerId,
        beforeRender: () => {
          handedOver = true;
          meter?.close();
        },
      });
      switch (outcome.kind) {
        case "joined":
          return;
        case "locked":
          pwRow.hidden = false;
          status.textContent = outcome.wrongPassword
            ? "That password is not right. Try again."
            : "This room is locked. Enter its password to join.";
          pwInput.focus();
          break;
        case "failed":
          status.textContent = outcome.message;
          break;
        default:
          throw new Error(`unexpected outcome ${(outcome satisfies never) as string}`);
      }
    } catch (e) {
      status.textContent = `Could not join: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      if (!handedOver) {
        joining = false;
        joinBtn.disabled = !e2ee.ok;
      }
    }
  }

  root.append(
    h(
      "section",
      { class: "hair-check" },
      h("h1", {}, "Ready to join ", h("span", { class: "room-name" }, room), "?"),
      h(
        "div",
        { class: "hc-grid" },
        h(
          "div",
          { class: "hc-preview" },
          h("div", { class: "preview" }, video, videoOff),
          level,
          h("div", { class: "toggles" }, camBtn, micBtn),
        ),
        h(
          "div",
          { class: "hc-side" },
          form,
          h(
            "details",
            { class: "devices" },
            h("summary", {}, "Devices"),
            h("div", { class: "field" }, h("label", { for: "camera-select" }, "Camera"), camSel),
            h("div", { class: "field" }, h("label", { for: "mic-select" }, "Microphone"), micSel),
            h("div", { class: "field" }, h("label", { for: "speaker-select" }, "Speaker"), spkSel),
          ),
          h("section", { class: "connectivity", "aria-labelledby": "conn-h" }, h("h2", { id: "conn-h" }, "Connection check"), checks),
        ),
      ),
    ),
  );
  if (!prefs.name) nameInput.focus();

  void startMedia().then(() => {
    requestAnimationFrame(tick);
    // The connectivity check needs the XMPP client (for STUN/TURN credentials, XEP-0215): load it after first paint.
    void import("./connectivity").then(({ runConnectivityCheck }) => runConnectivityCheck(room, checks));
    // Fetch the call code now (not on Join): joining then costs no download or parse. The call code then fetches
    // the bridge code (mediasoup-client) itself: whoever joins a room of two or more gets the bridge announcement
    // right after joining, and importing it then would put its download and parse on the switch's critical path.
    void import("./call/call")
      .then((m) => (callModule = m))
      .catch(() => undefined);
  });
}
