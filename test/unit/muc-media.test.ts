import { describe, expect, it } from "vitest";
import { verifyGrant } from "../../contract/grants";
import { Out } from "../../durable/core/effects";
import { setMediaMode } from "../../durable/features/media";
import { aliceAndBob, el, harness, SECRETS } from "./helpers/core-harness";

const R = "room@conference.example.org";
const ask = `<iq type="get" id="m" to="${R}"><media xmlns="urn:parley:media:0"/></iq>`;

describe("Parley media-mode announcements (urn:parley:media:0)", () => {
  it("answers the media iq with p2p for occupants and not-acceptable for others", async () => {
    const h = harness();
    h.ready("a");
    h.ready("x");
    await h.join("a", "alice");
    expect((await h.send("a", ask))[0]).toContain(`<media xmlns="urn:parley:media:0" mode="p2p"/>`);
    expect((await h.send("x", ask))[0]).toContain("<not-acceptable");
  });
  it("switching to bridge tells every occupant with its own grant; a later joiner learns it right after the subject", async () => {
    const h = await aliceAndBob();
    const out = new Out();
    await setMediaMode(h.rt.room, "bridge", "wss://bridge.example/rooms/room", out, h.rt.deps);
    expect(out.effects.some((e) => e.kind === "save-room")).toBe(true);
    const sent = out.effects.filter((e) => e.kind === "send");
    expect(sent).toHaveLength(2);
    for (const e of sent) {
      if (e.kind !== "send") continue;
      const media = el(e.xml).children[0];
      expect(el(e.xml).attrs).toMatchObject({ type: "headline", from: R });
      if (typeof media === "string" || !media) throw new Error("no media");
      expect(media.attrs).toMatchObject({ mode: "bridge", url: "wss://bridge.example/rooms/room" });
      const nick = e.conn === "a" ? "alice" : "bob";
      const check = await verifyGrant(SECRETS.bridge, media.attrs["grant"]!, "room", h.clock.now);
      expect(check).toMatchObject({ ok: true, payload: { room: "room", nick } });
    }
    h.ready("c");
    const f = await h.join("c", "carol");
    const subject = f.findIndex((s) => s.includes("<subject/>"));
    expect(f[subject + 1]).toContain(`<media xmlns="urn:parley:media:0" mode="bridge" url="wss://bridge.example/rooms/room" grant="`);
    // a fresh grant on request
    expect((await h.send("c", ask))[0]).toContain(`mode="bridge"`);
    // back to p2p
    const back = new Out();
    await setMediaMode(h.rt.room, "p2p", null, back, h.rt.deps);
    expect(back.effects.filter((e) => e.kind === "send").every((e) => e.kind === "send" && e.xml.includes(`mode="p2p"`))).toBe(true);
    expect(h.rt.room.meta.bridgeUrl).toBeNull();
  });
  it("an occupant's report that the room's bridge does not answer it is answered and handed to the shell; others are not", async () => {
    const h = await aliceAndBob();
    const url = "wss://bridge.example/rooms/room";
    await setMediaMode(h.rt.room, "bridge", url, new Out(), h.rt.deps);
    const report = (u: string, id = "r") => `<iq type="set" id="${id}" to="${R}"><media xmlns="urn:parley:media:0" unreachable="${u}"/></iq>`;
    h.effects.length = 0;
    expect((await h.send("a", report(url)))[0]).toMatch(/<iq[^>]*type="result"[^>]*id="r"|<iq[^>]*id="r"[^>]*type="result"/);
    expect(h.effects.filter((e) => e.kind === "bridge-unreachable")).toEqual([{ kind: "bridge-unreachable", conn: "a" }]);
    // a late report about a bridge the room no longer uses: answered, dropped
    h.effects.length = 0;
    expect((await h.send("a", report("wss://old.example/rooms/room", "r2")))[0]).toContain(`type="result"`);
    expect(h.effects.filter((e) => e.kind === "bridge-unreachable")).toEqual([]);
    // someone not in the room may not report; a set without a report still may not choose the mode
    h.ready("x");
    expect((await h.send("x", report(url, "r3")))[0]).toContain("<not-acceptable");
    expect((await h.send("a", `<iq type="set" id="r4" to="${R}"><media xmlns="urn:parley:media:0" mode="p2p"/></iq>`))[0]).toContain("<not-allowed");
    expect(h.effects.filter((e) => e.kind === "bridge-unreachable")).toEqual([]);
  });
  it("standby is p2p with the bridge's URL and a grant per occupant; nobody waiting or joining gets it", async () => {
    const h = harness();
    h.ready("a");
    await h.join("a", "alice");
    const waiting = new Out();
    h.ready("b"); // bound, not joined: someone on the hair check
    h.rt.room.meta.bridgeBase = "https://bridge.example";
    await setMediaMode(h.rt.room, "p2p", "wss://bridge.example/rooms/room", waiting, h.rt.deps);
    const sent = waiting.effects.filter((e) => e.kind === "send");
    expect(sent.map((e) => e.kind === "send" && e.conn)).toEqual(["a", "b"]);
    const mediaOf = (i: number) => {
      const e = sent[i]!;
      const media = el(e.kind === "send" ? e.xml : "").children[0];
      if (typeof media === "string" || !media) throw new Error("no media");
      return media.attrs;
    };
    expect(mediaOf(0)).toMatchObject({ mode: "p2p", url: "wss://bridge.example/rooms/room" });
    expect(await verifyGrant(SECRETS.bridge, mediaOf(0)["grant"]!, "room", h.clock.now)).toMatchObject({ ok: true, payload: { nick: "alice" } });
    // the one waiting gets a lobby grant: no nick, lets it prepare on the bridge unseen
    expect(mediaOf(1)).toMatchObject({ mode: "lobby", url: "wss://bridge.example/rooms/room" });
    expect(await verifyGrant(SECRETS.bridge, mediaOf(1)["grant"]!, "room", h.clock.now)).toMatchObject({ ok: true, payload: { nick: "", lobby: true } });
    expect(h.rt.room.meta.bridgeBase).toBe("https://bridge.example"); // kept for the move to the bridge
    expect((await h.send("a", ask))[0]).toMatch(/mode="p2p" url="wss:\/\/bridge.example\/rooms\/room" grant="/);
    expect((await h.send("b", ask))[0]).toContain("<not-acceptable");
    // the one waiting joins: no announcement at join in standby (the room's move to the bridge announces to all)
    const f = await h.join("b", "bob");
    expect(f.some((x) => x.includes("urn:parley:media:0"))).toBe(false);
  });
  it("a locked room gives no lobby grant to those waiting (only occupants, who gave the password, learn its bridge)", async () => {
    const h = harness();
    h.ready("a");
    await h.join("a", "alice");
    h.ready("b");
    h.rt.room.meta.pwHash = "x";
    const out = new Out();
    await setMediaMode(h.rt.room, "p2p", "wss://bridge.example/rooms/room", out, h.rt.deps);
    const toB = out.effects.filter((e) => e.kind === "send" && e.conn === "b");
    expect(toB.map((e) => e.kind === "send" && e.xml)).toEqual([expect.stringContaining(`<media xmlns="urn:parley:media:0" mode="p2p"/>`)]);
  });
});
