/**
 * Parley's XMPP extensions as the web app reads and writes them (contract/media.ts):
 * urn:parley:media:0 announcements and urn:parley:av:0 presence state.
 */
import { describe, expect, it } from "vitest";
import { avFromWire, avToWire, mediaXml, parseMediaAnnouncement, type MediaAnnouncement } from "../../contract/media";
import { parseFrame } from "../../durable/xmpp/xml";

describe("urn:parley:media:0 announcements", () => {
  it("accepts p2p and complete bridge announcements", () => {
    expect(parseMediaAnnouncement({ mode: "p2p" })).toEqual({ mode: "p2p" });
    expect(parseMediaAnnouncement({ mode: "bridge", url: "wss://b.example/ws/r", grant: "g.s" })).toEqual({
      mode: "bridge",
      url: "wss://b.example/ws/r",
      grant: "g.s",
    });
    // standby: direct media, a bridge room to be ready on
    expect(parseMediaAnnouncement({ mode: "p2p", url: "wss://b.example/ws/r", grant: "g.s" })).toEqual({
      mode: "p2p",
      standby: { url: "wss://b.example/ws/r", grant: "g.s" },
    });
    expect(parseMediaAnnouncement({ mode: "lobby", url: "wss://b.example/ws/r", grant: "l.s" })).toEqual({ mode: "lobby", url: "wss://b.example/ws/r", grant: "l.s" });
    expect(parseMediaAnnouncement({ mode: "lobby", url: "wss://b.example/ws/r" })).toBeUndefined();
    // a malformed standby is plain p2p (the media path itself is still known)
    expect(parseMediaAnnouncement({ mode: "p2p", url: "javascript:alert(1)", grant: "g" })).toEqual({ mode: "p2p" });
    expect(parseMediaAnnouncement({ mode: "p2p", url: "wss://b", grant: "" })).toEqual({ mode: "p2p" });
  });

  it("ignores malformed ones", () => {
    expect(parseMediaAnnouncement(undefined)).toBeUndefined();
    expect(parseMediaAnnouncement({})).toBeUndefined();
    expect(parseMediaAnnouncement({ mode: "mesh" })).toBeUndefined();
    expect(parseMediaAnnouncement({ mode: "bridge", url: "wss://b" })).toBeUndefined();
    expect(parseMediaAnnouncement({ mode: "bridge", url: "javascript:alert(1)", grant: "g" })).toBeUndefined();
    expect(parseMediaAnnouncement({ mode: "bridge", url: "https://b", grant: "g" })).toBeUndefined();
    expect(parseMediaAnnouncement({ mode: "bridge", url: "wss://b", grant: "" })).toBeUndefined();
  });
});

describe("urn:parley:media:0: the room's builder and the web app's parser agree", () => {
  const cases: MediaAnnouncement[] = [
    { mode: "p2p" },
    { mode: "p2p", standby: { url: "wss://b.example/v1/rooms/r/ws", grant: "g.s" } },
    { mode: "bridge", url: "wss://b.example/v1/rooms/r/ws?x=1&y=\"2\"", grant: "a<b>&c" },
    { mode: "lobby", url: "ws://127.0.0.1:4443/v1/rooms/r/ws", grant: "l.s" },
  ];
  for (const a of cases) {
    it(`round-trips ${JSON.stringify(a)}`, () => {
      const [el] = parseFrame(mediaXml(a));
      expect(el!.name).toBe("media");
      expect(el!.attrs["xmlns"]).toBe("urn:parley:media:0");
      expect(parseMediaAnnouncement(el!.attrs)).toEqual(a);
    });
  }
});

describe("urn:parley:av:0 presence state", () => {
  it("round-trips", () => {
    for (const s of [
      { audio: true, video: true, screen: false },
      { audio: false, video: false, screen: true },
      { audio: false, video: true, screen: false },
    ]) {
      expect(avFromWire(avToWire(s))).toEqual(s);
    }
  });
  it("defaults to on (no element: a client that does not announce state)", () => {
    expect(avFromWire(undefined)).toBeUndefined();
    expect(avFromWire({})).toEqual({ audio: true, video: true, screen: false });
  });
});
