/**
 * The web app's call machine (workers/web/src/call/machine/): every media path and its moves, joining and
 * rejoining, devices that come late or go, leaving, and the questions the call shell asks it (queries.ts,
 * connect.ts). The browser end of the same paths is covered by
 * test/node/e2e-call.test.ts, e2e-bridge.test.ts, bridge-switch.test.ts and e2e-quick-join.test.ts.
 */
import { describe, expect, it } from "vitest";
import { connectAction } from "../../workers/web/src/call/machine/connect";
import { acceptsDirect, bridgeNamesSpeaker, initiatesDirect, isCurrentLink, isStandbyLink, sendingVideo } from "../../workers/web/src/call/machine/queries";
import { CallHarness, jid, last, ofKind, only } from "./helpers/call-harness";

const B1 = "wss://b1.example/v1/rooms/r/ws";
const B2 = "wss://b2.example/v1/rooms/r/ws";

describe("call machine: the direct path", () => {
  it("joining a room of one starts the direct session from that occupant's presence, before our own", () => {
    const h = new CallHarness();
    h.send({ type: "join-sent", nick: "bob" });
    h.send({ type: "occupants-before-join", count: 1 });
    const early = h.send({ type: "occupant-available", nick: "alice", jid: jid("alice"), av: { audio: true, video: true, screen: false } });
    expect(only(early, "p2p-peers")).toEqual({ kind: "p2p-peers", peers: [jid("alice")], keep: "all" });
    expect(h.s.participants.get("alice")?.weInitiate).toBe(true);
    const joined = h.send({ type: "joined", nick: "bob", role: "participant", affiliation: "none" });
    expect(last(joined, "p2p-peers")).toEqual({ kind: "p2p-peers", peers: [jid("alice")], keep: "all" });
    expect(last(joined, "view-mode")).toEqual({ kind: "view-mode", mode: "p2p", alone: false });
  });

  it("someone who arrives after us initiates: we answer, and are told they joined", () => {
    const h = new CallHarness();
    h.join("alice");
    const out = h.arrive("bob");
    expect(h.s.participants.get("bob")?.weInitiate).toBe(false);
    expect(only(out, "system").text).toBe("bob joined.");
    expect(last(out, "p2p-peers")?.peers).toEqual([jid("bob")]);
  });

  it("direct sessions: we start those with whoever was there before us, and accept offers only from occupants on the direct path", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.arrive("carol");
    expect(initiatesDirect(h.s, jid("bob"))).toBe(true);
    expect(initiatesDirect(h.s, jid("carol"))).toBe(false);
    expect(acceptsDirect(h.s, jid("carol"))).toBe(true);
    expect(acceptsDirect(h.s, jid("mallory"))).toBe(false);
    h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } });
    // moving to the bridge: no new direct sessions, not even offered ones
    expect(acceptsDirect(h.s, jid("carol"))).toBe(false);
  });

  it("a role change in our own presence updates the call's controls", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    expect(h.send({ type: "self-presence", role: "moderator", affiliation: "owner" })).toEqual([
      { kind: "view-self", nick: "alice", moderator: true, owner: true },
    ]);
  });

  it("one second after joining, the lock state and the media mode are asked", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    expect(h.advance(999)).toEqual([]);
    expect(h.advance(1)).toEqual([{ kind: "refresh-lock" }, { kind: "fetch-media" }]);
  });

  it("three or more without a bridge announcement keep their sessions, then fall back to a direct mesh", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.advance(1000);
    const out = h.arrive("carol");
    expect(last(out, "p2p-peers")).toEqual({ kind: "p2p-peers", peers: [jid("bob"), jid("carol")], keep: "existing" });
    expect(h.advance(2499)).toEqual([]);
    expect(last(h.advance(1), "p2p-peers")).toEqual({ kind: "p2p-peers", peers: [jid("bob"), jid("carol")], keep: "all" });
  });

  it("someone leaving ends their session and says so (removed, when kicked)", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    const out = h.send({ type: "occupant-unavailable", nick: "bob", kicked: true });
    expect(only(out, "participant-gone")).toEqual({ kind: "participant-gone", nick: "bob", jid: jid("bob") });
    expect(only(out, "system").text).toBe("bob was removed.");
    expect(last(out, "p2p-peers")?.peers).toEqual([jid("carol")]);
  });
});

describe("call machine: moving to the bridge and back", () => {
  it("a bridge announcement connects afresh, keeps direct sessions meanwhile, and ends them once the bridge carries", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    const out = h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } });
    expect(ofKind(out, "notify")[0]?.text).toMatch(/Moving the call to the media bridge/);
    expect(ofKind(out, "p2p-switching")).toEqual([{ kind: "p2p-switching", on: true }]);
    expect(only(out, "p2p-peers").keep).toBe("existing");
    const c = only(out, "bridge-connect");
    expect(c).toMatchObject({ url: B1, grant: "g", via: "fresh" });
    // Direct sessions are trimmed, never re-created, while the move runs.
    expect(only(h.advance(200), "p2p-peers").keep).toBe("existing");
    // Tracks that came while it connected go on the new link (see the quick-join tests below).
    expect(h.send({ type: "bridge-linked", attempt: c.attempt, link: c.link })).toEqual([{ kind: "send-tracks", links: [c.link] }]);
    const carrying = h.send({ type: "bridge-carrying", attempt: c.attempt, link: c.link });
    expect(ofKind(carrying, "p2p-peers")[0]).toEqual({ kind: "p2p-peers", peers: [], keep: "all" });
    expect(ofKind(carrying, "show-streams")).toHaveLength(1);
    expect(last(carrying, "view-mode")).toEqual({ kind: "view-mode", mode: "bridge", alone: false });
    expect(h.timers.has("bridge-trim")).toBe(false);
  });

  it("a link is the current one once linked for its move, until it is given up; the bridge names the speaker only on the bridge path", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    expect(bridgeNamesSpeaker(h.s)).toBe(false);
    const first = only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } }), "bridge-connect");
    h.send({ type: "bridge-linked", attempt: first.attempt, link: first.link });
    expect(isCurrentLink(h.s, first.link)).toBe(true);
    expect(bridgeNamesSpeaker(h.s)).toBe(true);
    h.send({ type: "bridge-failed", attempt: first.attempt, reason: "closed 1006" });
    expect(isCurrentLink(h.s, first.link)).toBe(false);
  });

  it("a new bridge link waits for the video of those who send video (camera or screen), not of the others", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.arrive("carol", { audio: true, video: false, screen: false });
    h.arrive("dave", { audio: true, video: false, screen: true });
    expect(sendingVideo(h.s)).toEqual(["bob", "dave"]);
  });

  it("the same bridge announced twice (announcement and our own query) is one move", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } });
    expect(ofKind(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g2" } }), "bridge-connect")).toEqual([]);
  });

  it("standby: a room of two with someone waiting connects the named bridge room after the join settles, and the move takes that link", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    const out = h.send({ type: "media", ann: { mode: "p2p", standby: { url: B1, grant: "s" } } });
    expect(out).toContainEqual({ kind: "set-timer", timer: "standby", ms: 2000 }); // not before 2 s after our join
    expect(ofKind(h.advance(1999), "standby-connect")).toEqual([]);
    const sc = only(h.advance(1), "standby-connect");
    expect(sc).toMatchObject({ url: B1, grant: "s" });
    h.send({ type: "standby-linked", link: sc.link });
    const move = only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } }), "bridge-connect");
    expect(move).toMatchObject({ via: "standby", link: sc.link });
  });

  it("a standby link is the one wanted until the move takes it over, then the current one once linked", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.send({ type: "media", ann: { mode: "p2p", standby: { url: B1, grant: "s" } } });
    const sc = only(h.advance(2000), "standby-connect");
    expect(isStandbyLink(h.s, sc.link)).toBe(true);
    h.send({ type: "standby-linked", link: sc.link });
    const move = only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } }), "bridge-connect");
    expect(isStandbyLink(h.s, sc.link)).toBe(false);
    h.send({ type: "bridge-linked", attempt: move.attempt, link: sc.link });
    expect(isCurrentLink(h.s, sc.link)).toBe(true);
    h.send({ type: "leave", reason: "" });
    expect(isCurrentLink(h.s, sc.link)).toBe(false);
  });

  it("standby for another bridge room than the one moved to is closed, and the move connects afresh", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.send({ type: "media", ann: { mode: "p2p", standby: { url: B1, grant: "s" } } });
    const sc = only(h.advance(2000), "standby-connect");
    h.send({ type: "standby-linked", link: sc.link });
    const out = h.send({ type: "media", ann: { mode: "bridge", url: B2, grant: "g" } });
    expect(out).toContainEqual({ kind: "link-close", link: sc.link });
    expect(only(out, "bridge-connect")).toMatchObject({ via: "fresh", url: B2 });
  });

  it("a standby link that fails is dropped; the move then connects afresh", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.send({ type: "media", ann: { mode: "p2p", standby: { url: B1, grant: "s" } } });
    const sc = only(h.advance(2000), "standby-connect");
    h.send({ type: "link-failed", link: sc.link, reason: "closed 1006" });
    expect(h.s.standby).toBeUndefined();
    expect(only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } }), "bridge-connect").via).toBe("fresh");
  });

  it("lobby: the hair check's link to the bridge room is admitted by the move our join causes", () => {
    const h = new CallHarness({ lobbyUrl: B1 });
    h.join("carol", ["alice", "bob"]);
    const move = only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } }), "bridge-connect");
    expect(move.via).toBe("lobby");
    expect(ofKind(h.advance(10_000), "lobby-close")).toEqual([]); // used: nothing left to drop
  });

  it("lobby: a link the join did not need is dropped ten seconds after joining", () => {
    const h = new CallHarness({ lobbyUrl: B1 });
    h.join("bob", ["alice"]);
    expect(ofKind(h.advance(9999), "lobby-close")).toEqual([]);
    expect(ofKind(h.advance(1), "lobby-close")).toHaveLength(1);
  });

  it("back to direct: sessions start at once, and the bridge closes once everyone is connected and shown directly", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    const link = h.onBridge(B1);
    const out = h.send({ type: "media", ann: { mode: "p2p" } });
    expect(last(out, "p2p-peers")).toEqual({ kind: "p2p-peers", peers: [jid("bob")], keep: "all" });
    expect(ofKind(out, "check-direct")).toHaveLength(1);
    expect(ofKind(out, "link-close")).toEqual([]); // make-before-break
    const done = h.send({ type: "direct-carrying" });
    expect(done).toContainEqual({ kind: "link-close", link });
    expect(ofKind(done, "bridge-streams-gone")).toHaveLength(1);
    expect(last(done, "view-mode")?.mode).toBe("p2p");
  });

  it("back to direct: the bridge closes after ten seconds even if a peer never connects directly", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    const link = h.onBridge(B1);
    h.send({ type: "media", ann: { mode: "p2p" } });
    expect(h.advance(10_000)).toContainEqual({ kind: "link-close", link });
  });

  it("back to two with someone waiting: once the bridge closes, a fresh standby link is scheduled", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.onBridge(B1);
    h.advance(5000);
    const out = h.send({ type: "media", ann: { mode: "p2p", standby: { url: B1, grant: "s2" } } });
    expect(ofKind(out, "set-timer").filter((t) => t.timer === "standby")).toEqual([]); // still on the bridge
    h.send({ type: "direct-carrying" });
    expect(only(h.advance(500), "standby-connect")).toMatchObject({ url: B1, grant: "s2" });
  });

  it("a move to another bridge room keeps the old link until the new one carries", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    const first = h.onBridge(B1);
    const c = only(h.send({ type: "media", ann: { mode: "bridge", url: B2, grant: "g" } }), "bridge-connect");
    h.send({ type: "bridge-linked", attempt: c.attempt, link: c.link });
    expect(h.s.previousBridge).toBe(first);
    const out = h.send({ type: "bridge-carrying", attempt: c.attempt, link: c.link });
    expect(out).toContainEqual({ kind: "link-close", link: first });
    expect(h.s.bridge).toMatchObject({ link: c.link, url: B2, carrying: true });
  });

  it("a report from an abandoned move (the room went back to direct meanwhile) closes that link", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    const c = only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } }), "bridge-connect");
    h.send({ type: "media", ann: { mode: "p2p" } });
    expect(h.send({ type: "bridge-linked", attempt: c.attempt, link: c.link })).toEqual([{ kind: "link-close", link: c.link }]);
  });
});

describe("call machine: the bridge lost", () => {
  it("a bridge that fails while carrying: direct sessions meanwhile, then the room is asked again", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.advance(1000);
    const link = h.onBridge(B1);
    const out = h.send({ type: "link-failed", link, reason: "closed 1006" });
    expect(out).toContainEqual({ kind: "link-close", link });
    expect(ofKind(out, "notify")[0]?.text).toMatch(/not reachable \(closed 1006\)/);
    expect(last(out, "view-mode")?.mode).toBe("p2p");
    const retry = h.advance(3000);
    expect(last(retry, "p2p-peers")).toEqual({ kind: "p2p-peers", peers: [jid("bob")], keep: "all" });
    expect(ofKind(retry, "fetch-media")).toHaveLength(1);
    expect(h.s.mode).toBe("p2p");
  });

  it("a move that fails before carrying is retried the same way", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.advance(1000);
    const c = only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } }), "bridge-connect");
    h.send({ type: "bridge-failed", attempt: c.attempt, reason: "the bridge did not answer" });
    expect(h.s.switching).toBeUndefined();
    expect(ofKind(h.advance(3000), "fetch-media")).toHaveLength(1);
  });

  it("a fresh bridge announcement during the wait makes the retry moot", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.advance(1000);
    const link = h.onBridge(B1);
    h.send({ type: "link-failed", link, reason: "x" });
    only(h.send({ type: "media", ann: { mode: "bridge", url: B2, grant: "g" } }), "bridge-connect");
    expect(ofKind(h.advance(3000), "fetch-media")).toEqual([]);
    expect(h.s.mode).toBe("bridge");
  });

  it("a bridge link that closes is reported to the room at once (it checks the bridge and moves the call)", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    const link = h.onBridge(B1);
    const out = h.send({ type: "link-failed", link, reason: "closed 1006" });
    expect(ofKind(out, "report-bridge")).toEqual([{ kind: "report-bridge", url: B1 }]);
    expect(ofKind(out, "fetch-media")).toEqual([]);
    // before the dead link is closed (which takes the page a while)
    expect(out.findIndex((e) => e.kind === "report-bridge")).toBeLessThan(out.findIndex((e) => e.kind === "link-close"));
    // The room's move comes as an announcement of the other bridge: a fresh move there.
    expect(only(h.send({ type: "media", ann: { mode: "bridge", url: B2, grant: "g" } }), "bridge-connect")).toMatchObject({ url: B2, via: "fresh" });
  });

  it("a media restart (4503) is not reported: a fresh grant is asked at once and the same bridge room connected again", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    const link = h.onBridge(B1);
    const out = h.send({ type: "link-failed", link, reason: "closed 4503 media restarted", restarted: true });
    expect(out).toContainEqual({ kind: "link-close", link });
    expect(ofKind(out, "report-bridge")).toEqual([]);
    expect(ofKind(out, "fetch-media")).toHaveLength(1);
    expect(out.findIndex((e) => e.kind === "fetch-media")).toBeLessThan(out.findIndex((e) => e.kind === "link-close"));
    const again = only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "fresh" } }), "bridge-connect");
    expect(again).toMatchObject({ url: B1, grant: "fresh", via: "fresh" });
    expect(again.link).not.toBe(link);
  });

  it("a stalled bridge link is reported, once per link until REPORT_AGAIN_MS, and closed when the room moves the call", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    const link = h.onBridge(B1);
    const out = h.send({ type: "link-stalled", link });
    expect(ofKind(out, "report-bridge")).toEqual([{ kind: "report-bridge", url: B1 }]);
    expect(ofKind(out, "link-close")).toEqual([]); // make-before-break: the move to the next bridge closes it
    h.advance(4999);
    expect(h.send({ type: "link-stalled", link })).toEqual([]);
    h.advance(1);
    expect(ofKind(h.send({ type: "link-stalled", link }), "report-bridge")).toHaveLength(1);
    // The room moves the call: the stalled link goes at once (its encoders would only slow the move down).
    const moved = h.send({ type: "media", ann: { mode: "bridge", url: B2, grant: "g" } });
    expect(moved).toContainEqual({ kind: "link-close", link });
    expect(ofKind(moved, "report-bridge")).toEqual([]);
    const c = only(moved, "bridge-connect");
    expect(c).toMatchObject({ url: B2, via: "fresh" });
    h.send({ type: "bridge-linked", attempt: c.attempt, link: c.link });
    expect(ofKind(h.send({ type: "bridge-carrying", attempt: c.attempt, link: c.link }), "link-close")).toEqual([]);
    expect(h.s.bridge?.link).toBe(c.link);
  });

  it("a move for another reason (the bridge drains) keeps the old link until the new one carries", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    const link = h.onBridge(B1);
    const moved = h.send({ type: "media", ann: { mode: "bridge", url: B2, grant: "g" } });
    expect(ofKind(moved, "link-close")).toEqual([]);
    const c = only(moved, "bridge-connect");
    h.send({ type: "bridge-linked", attempt: c.attempt, link: c.link });
    expect(h.send({ type: "bridge-carrying", attempt: c.attempt, link: c.link })).toContainEqual({ kind: "link-close", link });
  });

  it("a stall reported long before a move does not cost the move its make-before-break", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    const link = h.onBridge(B1);
    h.send({ type: "link-stalled", link });
    h.advance(5000);
    expect(ofKind(h.send({ type: "media", ann: { mode: "bridge", url: B2, grant: "g" } }), "link-close")).toEqual([]);
  });

  it("a stall of a link that is not the bridge we are on is not reported", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    const link = h.onBridge(B1);
    expect(h.send({ type: "link-stalled", link: link + 1 })).toEqual([]);
    h.send({ type: "media", ann: { mode: "p2p" } });
    expect(h.send({ type: "link-stalled", link })).toEqual([]);
  });

  it("a failure of a link that is no longer ours changes nothing", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.advance(1000);
    h.onBridge(B1);
    expect(h.send({ type: "link-failed", link: 999, reason: "x" })).toEqual([]);
  });
});

describe("call machine: the XMPP connection", () => {
  it("a dropped stream shows reconnecting; once back we rejoin as the same nick, keeping those the room names again", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    expect(h.send({ type: "xmpp-disconnected" })).toEqual([
      { kind: "view-connection", state: "reconnecting" },
      { kind: "clear-timer", timer: "keepalive" },
    ]);
    const back = h.send({ type: "xmpp-reconnected" });
    expect(ofKind(back, "participant-gone")).toEqual([]);
    expect(only(back, "rejoin").nick).toBe("alice");
    // the room names bob again (his tile stays, no "joined" line); carol left meanwhile
    const bob = h.arrive("bob");
    expect(ofKind(bob, "system")).toEqual([]);
    const joined = h.send({ type: "joined", nick: "alice", role: "participant", affiliation: "none" });
    expect(ofKind(joined, "participant-gone").map((e) => e.nick)).toEqual(["carol"]);
    expect(ofKind(joined, "system").map((e) => e.text)).toEqual(["carol left."]);
    expect(joined).toContainEqual({ kind: "view-connection", state: "connected" });
    expect(ofKind(joined, "fetch-media")).toHaveLength(1);
    // a stream the server closed is no network change: the direct sessions are kept
    expect(ofKind(joined, "p2p-restart")).toEqual([]);
    expect(last(joined, "p2p-peers")?.peers).toEqual([jid("bob")]);
    // after rejoining, we are the later one: we initiate towards those already there
    expect(h.s.participants.get("bob")?.weInitiate).toBe(true);
  });

  it("every fifteen seconds in the room the server is pinged (XEP-0199); an answer changes nothing", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.advance(10_000); // (the after-join queries and the lobby drop)
    expect(h.advance(4999)).toEqual([]);
    const ping = [{ kind: "xmpp-ping", timeoutMs: 15_000 }, { kind: "set-timer", timer: "keepalive", ms: 15_000 }];
    expect(h.advance(1)).toEqual(ping);
    expect(h.send({ type: "xmpp-ping", ok: true })).toEqual([]);
    expect(h.advance(15_000)).toEqual(ping);
  });

  it("network change: a ping without answer (a dead socket never closed) drops the stream; once back we rejoin", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.advance(15_000);
    expect(h.send({ type: "xmpp-ping", ok: false })).toEqual([
      { kind: "view-connection", state: "reconnecting" },
      { kind: "clear-timer", timer: "keepalive" },
      { kind: "xmpp-restart" },
      { kind: "set-timer", timer: "reconnect", ms: 1000 },
    ]);
    // The client reports the drop it caused, then the new session: nothing twice, no pings meanwhile, and a new
    // connection attempt every second (not the client's back-off).
    expect(h.send({ type: "xmpp-disconnected" })).toEqual([]);
    expect(ofKind(h.advance(3000), "xmpp-connect")).toHaveLength(3);
    expect(ofKind(h.advance(30_000), "xmpp-ping")).toEqual([]);
    const re = h.send({ type: "xmpp-reconnected" });
    expect(only(re, "rejoin").nick).toBe("alice");
    expect(re).toContainEqual({ kind: "clear-timer", timer: "reconnect" });
    h.arrive("bob");
    const back = h.send({ type: "joined", nick: "alice", role: "participant", affiliation: "none" });
    expect(back).toContainEqual({ kind: "view-connection", state: "connected" });
    expect(back).toContainEqual({ kind: "set-timer", timer: "keepalive", ms: 15_000 });
    // no sign of another network (a busy server also answers late): the direct sessions are kept
    expect(ofKind(back, "p2p-restart")).toEqual([]);
    expect(h.advance(5000)).not.toContainEqual({ kind: "xmpp-connect" });
  });

  it("the browser reporting a network change drops the stream at once; another report while down connects at once", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    expect(h.send({ type: "network-change" })).toEqual([
      { kind: "view-connection", state: "reconnecting" },
      { kind: "clear-timer", timer: "keepalive" },
      { kind: "xmpp-restart" },
      { kind: "set-timer", timer: "reconnect", ms: 200 },
    ]);
    h.send({ type: "xmpp-disconnected" });
    expect(h.send({ type: "network-change" })).toEqual([{ kind: "xmpp-connect" }, { kind: "set-timer", timer: "reconnect", ms: 200 }]);
    // while the rejoin is on its way, no new connection attempts
    h.send({ type: "xmpp-reconnected" });
    expect(ofKind(h.advance(3000), "xmpp-connect")).toEqual([]);
    h.arrive("bob");
    const back = h.send({ type: "joined", nick: "alice", role: "participant", affiliation: "none" });
    // our direct sessions went with the old network: new ones replace them (before the peers are set again)
    const restart = back.findIndex((e) => e.kind === "p2p-restart");
    expect(restart).toBeGreaterThanOrEqual(0);
    expect(back.findIndex((e, i) => i > restart && e.kind === "p2p-peers" && e.peers.includes(jid("bob")))).toBeGreaterThan(restart);
  });

  it("after the browser reports a network change, connection attempts come every 200 ms for 3 s, then every second", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.advance(10_000);
    h.send({ type: "network-change" }); // offline: the stream is dropped
    h.send({ type: "xmpp-disconnected" });
    h.advance(5000); // the network is away a while: attempts every second by now
    // back ("online"): an attempt at once, which fails while the new address and route are not there yet
    expect(h.send({ type: "network-change" })).toEqual([{ kind: "xmpp-connect" }, { kind: "set-timer", timer: "reconnect", ms: 200 }]);
    expect(ofKind(h.advance(1000), "xmpp-connect")).toHaveLength(5);
    expect(ofKind(h.advance(2000), "xmpp-connect")).toHaveLength(10);
    expect(ofKind(h.advance(3000), "xmpp-connect")).toHaveLength(3);
    // a stream the server closed (no network change) keeps the client's own pace
    h.send({ type: "xmpp-reconnected" });
    h.arrive("bob");
    h.send({ type: "joined", nick: "alice", role: "participant", affiliation: "none" });
    h.advance(15_000);
    expect(h.send({ type: "xmpp-ping", ok: false })).toContainEqual({ kind: "set-timer", timer: "reconnect", ms: 1000 });
  });

  it("our MLS member losing the group makes the call join again as a new member, at most once per 30 s, keeping the media paths", () => {
    const h = new CallHarness();
    expect(h.send({ type: "keys-lost" })).toEqual([]); // not in the room yet: the join makes a member anyway
    h.join("alice", ["bob"]);
    expect(h.send({ type: "keys-lost" })).toEqual([
      { kind: "mark", name: "parley:keys-lost" },
      { kind: "view-connection", state: "reconnecting" },
      { kind: "clear-timer", timer: "keepalive" },
      { kind: "xmpp-restart" },
      { kind: "set-timer", timer: "reconnect", ms: 1000 },
    ]);
    // down already: the rejoin is coming, and it is a new member
    expect(h.send({ type: "keys-lost" })).toEqual([]);
    h.send({ type: "xmpp-disconnected" });
    h.send({ type: "xmpp-reconnected" });
    h.arrive("bob");
    const back = h.send({ type: "joined", nick: "alice", role: "participant", affiliation: "none" });
    expect(ofKind(back, "p2p-restart")).toEqual([]); // the direct session and the bridge link stay
    // lost again 10 s later: the rejoin waits for the rest of the 30 s, once however many losses come meanwhile
    h.advance(10_000);
    expect(h.send({ type: "keys-lost" })).toEqual([{ kind: "set-timer", timer: "keys-lost", ms: 20_000 }]);
    expect(h.send({ type: "keys-lost" })).toEqual([]);
    expect(ofKind(h.advance(20_000), "xmpp-restart")).toHaveLength(1);
  });

  it("a loss that waits for its turn is dropped when a rejoin comes first (that session is a new member)", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    h.send({ type: "keys-lost" });
    h.send({ type: "xmpp-reconnected" });
    h.arrive("bob");
    h.send({ type: "joined", nick: "alice", role: "participant", affiliation: "none" });
    h.send({ type: "keys-lost" }); // waits 30 s
    h.send({ type: "xmpp-ping", ok: false }); // the stream dies meanwhile: rejoin
    h.send({ type: "xmpp-reconnected" });
    h.arrive("bob");
    h.send({ type: "joined", nick: "alice", role: "participant", affiliation: "none" });
    expect(ofKind(h.advance(30_000), "xmpp-restart")).toEqual([]);
  });

  it("media that stalls makes a quick ping; only no answer drops the stream", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    expect(h.send({ type: "media-stalled" })).toEqual([{ kind: "xmpp-ping", timeoutMs: 2000 }]);
    expect(h.send({ type: "xmpp-ping", ok: true })).toEqual([]);
    h.send({ type: "media-stalled" });
    expect(h.send({ type: "xmpp-ping", ok: false })).toContainEqual({ kind: "xmpp-restart" });
    // down already: stalls change nothing
    expect(h.send({ type: "media-stalled" })).toEqual([]);
  });

  it("network change on the bridge: the rejoin's announcement of the same bridge room is a new move that replaces the dead link", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    const old = h.onBridge(B1, "g1");
    h.send({ type: "network-change" });
    h.send({ type: "xmpp-disconnected" });
    h.send({ type: "xmpp-reconnected" });
    h.arrive("bob");
    h.arrive("carol");
    h.send({ type: "joined", nick: "alice", role: "participant", affiliation: "none" });
    const move = only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g2" } }), "bridge-connect");
    expect(move).toMatchObject({ url: B1, grant: "g2", via: "fresh" });
    expect(move.link).not.toBe(old);
    // our own query's answer is the same move, not another
    expect(ofKind(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g3" } }), "bridge-connect")).toEqual([]);
    h.send({ type: "bridge-linked", attempt: move.attempt, link: move.link });
    // make-before-break: the dead link goes once the new one carries
    expect(h.send({ type: "bridge-carrying", attempt: move.attempt, link: move.link })).toContainEqual({ kind: "link-close", link: old });
    expect(h.s.bridge?.link).toBe(move.link);
  });

  it("connecting again at once: xmpp-connect leaves a stream in session or a recent attempt alone, drops a stale one; xmpp-restart always drops", () => {
    const at = 1_000_000;
    expect(connectAction(false, { open: false, inSession: false, connectingSince: 0 }, at)).toBe("connect");
    expect(connectAction(true, { open: false, inSession: false, connectingSince: 0 }, at)).toBe("connect");
    expect(connectAction(false, { open: true, inSession: true, connectingSince: 0 }, at)).toBe("none");
    expect(connectAction(false, { open: true, inSession: false, connectingSince: at - 2999 }, at)).toBe("none");
    expect(connectAction(false, { open: true, inSession: false, connectingSince: at - 3000 }, at)).toBe("drop");
    expect(connectAction(true, { open: true, inSession: true, connectingSince: at }, at)).toBe("drop");
  });

  it("the room closed while we were in it leaves with a reason", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    const out = h.send({ type: "self-unavailable", kicked: false, destroyed: true });
    expect(last(out, "leave")?.reason).toBe("The room was closed.");
    expect(h.timers.size).toBe(0);
  });

  it("a rejoin the room refuses is shown as failed", () => {
    const h = new CallHarness();
    h.join("alice");
    h.send({ type: "xmpp-disconnected" });
    h.send({ type: "xmpp-reconnected" });
    expect(h.send({ type: "rejoin-failed", condition: "service-unavailable" })).toEqual([
      { kind: "view-connection", state: "failed", condition: "service-unavailable" },
    ]);
  });
});

describe("call machine: local devices and toggles", () => {
  it("devices that become ready only after Join are sent at once and announced on", () => {
    const h = new CallHarness({ devices: { audio: false, video: false } });
    h.join("alice", ["bob"]);
    expect(h.s.av).toEqual({ audio: false, video: false, screen: false });
    const out = h.send({ type: "devices", audio: true, video: true });
    expect(ofKind(out, "send-tracks")).toHaveLength(1);
    expect(only(out, "av")).toEqual({ kind: "av", av: { audio: true, video: true, screen: false }, presence: true });
  });

  it("devices ready before the join presence goes out are announced with it (no presence of their own)", () => {
    const h = new CallHarness({ devices: { audio: false, video: false } });
    const out = h.send({ type: "devices", audio: true, video: false });
    expect(only(out, "av")).toEqual({ kind: "av", av: { audio: true, video: false, screen: false }, presence: false });
  });

  it("devices that come while the join presence is on its way are announced once we are in the room", () => {
    const h = new CallHarness({ devices: { audio: false, video: false } });
    h.send({ type: "join-sent", nick: "alice" }); // the join presence says: no microphone, no camera
    h.arrive("bob");
    expect(only(h.send({ type: "devices", audio: true, video: true }), "av").presence).toBe(false); // not in the room yet
    const joined = h.send({ type: "joined", nick: "alice", role: "participant", affiliation: "none" });
    expect(only(joined, "av")).toEqual({ kind: "av", av: { audio: true, video: true, screen: false }, presence: true });
  });

  it("a join whose presence already said it all sends no second presence", () => {
    const h = new CallHarness();
    expect(ofKind(h.join("alice", ["bob"]), "av")).toEqual([]);
  });

  it("a device the person turned off stays off when it becomes ready", () => {
    const h = new CallHarness({ want: { audio: true, video: false }, devices: { audio: false, video: false } });
    h.join("alice");
    expect(only(h.send({ type: "devices", audio: true, video: true }), "av").av).toEqual({ audio: true, video: false, screen: false });
  });

  it("a camera refused or unplugged mid-call is announced off; toggling it then says there is none", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    expect(only(h.send({ type: "devices", audio: true, video: false }), "av").av.video).toBe(false);
    expect(h.send({ type: "toggle", kind: "video" })).toEqual([{ kind: "notify", text: "No camera is available." }]);
  });

  it("devices changed with the same kinds put the new tracks on every path without a presence", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    const link = h.onBridge(B1);
    expect(h.send({ type: "devices", audio: true, video: true })).toEqual([{ kind: "send-tracks", links: [link] }]);
  });

  it("a screen share goes on every path carrying the call and is announced; stopping it announces it off", () => {
    const h = new CallHarness();
    h.join("alice", ["bob", "carol"]);
    const link = h.onBridge(B1);
    expect(h.send({ type: "screen", on: true })).toEqual([
      { kind: "send-tracks", links: [link] },
      { kind: "av", av: { audio: true, video: true, screen: true }, presence: true },
    ]);
    expect(h.send({ type: "screen", on: false })).toEqual([
      { kind: "send-tracks", links: [link] },
      { kind: "av", av: { audio: true, video: true, screen: false }, presence: true },
    ]);
  });

  it("toggling the microphone announces it", () => {
    const h = new CallHarness();
    h.join("alice");
    expect(h.send({ type: "toggle", kind: "audio" })).toEqual([{ kind: "av", av: { audio: false, video: true, screen: false }, presence: true }]);
  });
});

describe("call machine: a quick Join (devices ready only after it)", () => {
  const none = { audio: false, video: false };

  it("on the direct path: the join says audio and video off, and the devices are sent the moment they are ready", () => {
    const h = new CallHarness({ devices: none });
    h.join("bob", ["alice"]);
    expect(h.s.av).toEqual({ audio: false, video: false, screen: false });
    const out = h.send({ type: "devices", audio: true, video: true });
    expect(out).toEqual([
      { kind: "send-tracks", links: [] },
      { kind: "av", av: { audio: true, video: true, screen: false }, presence: true },
    ]);
  });

  it("on the bridge path: the devices go on the link carrying the call", () => {
    const h = new CallHarness({ devices: none });
    h.join("carol", ["alice", "bob"]);
    const link = h.onBridge(B1);
    expect(only(h.send({ type: "devices", audio: true, video: true }), "send-tracks").links).toEqual([link]);
  });

  it("during a move to the bridge: devices that come before the link exists are put on it once it does", () => {
    const h = new CallHarness({ devices: none });
    h.join("carol", ["alice", "bob"]);
    const c = only(h.send({ type: "media", ann: { mode: "bridge", url: B1, grant: "g" } }), "bridge-connect");
    expect(only(h.send({ type: "devices", audio: true, video: true }), "send-tracks").links).toEqual([]);
    expect(h.send({ type: "bridge-linked", attempt: c.attempt, link: c.link })).toEqual([{ kind: "send-tracks", links: [c.link] }]);
  });

  it("on standby: the standby link gets them too (it sends once the room moves), and a later standby link on connecting", () => {
    const h = new CallHarness({ devices: none });
    h.join("alice", ["bob"]);
    h.send({ type: "media", ann: { mode: "p2p", standby: { url: B1, grant: "s" } } });
    const sc = only(h.advance(2000), "standby-connect");
    expect(h.send({ type: "standby-linked", link: sc.link })).toEqual([{ kind: "send-tracks", links: [sc.link] }]);
    expect(only(h.send({ type: "devices", audio: true, video: false }), "send-tracks").links).toEqual([sc.link]);
  });

  it("back on the direct path after the bridge: the devices are on the direct sessions (nothing bridge-only)", () => {
    const h = new CallHarness({ devices: none });
    h.join("alice", ["bob"]);
    h.onBridge(B1);
    h.send({ type: "devices", audio: true, video: true });
    h.send({ type: "media", ann: { mode: "p2p" } });
    h.send({ type: "direct-carrying" });
    expect(h.s.bridge).toBeUndefined();
    expect(h.s.av).toEqual({ audio: true, video: true, screen: false });
    expect(only(h.send({ type: "devices", audio: true, video: true }), "send-tracks").links).toEqual([]);
  });

  it("devices refused: nothing is sent, the call goes on, and the buttons say there is no device", () => {
    const h = new CallHarness({ devices: none });
    h.join("alice", ["bob"]);
    expect(h.send({ type: "devices", audio: false, video: false })).toEqual([{ kind: "send-tracks", links: [] }]);
    expect(h.send({ type: "toggle", kind: "audio" })).toEqual([{ kind: "notify", text: "No microphone is available." }]);
  });
});

describe("call machine: leaving", () => {
  it("leaving closes every link and timer, and a link that arrives afterwards is closed too", () => {
    const h = new CallHarness();
    h.join("alice", ["bob"]);
    const link = h.onBridge(B1);
    const c = only(h.send({ type: "media", ann: { mode: "bridge", url: B2, grant: "g" } }), "bridge-connect");
    const out = h.send({ type: "leave", reason: "You left the call." });
    expect(out).toContainEqual({ kind: "link-close", link });
    expect(out.at(-1)).toEqual({ kind: "leave", reason: "You left the call." });
    expect(h.timers.size).toBe(0);
    expect(h.send({ type: "bridge-linked", attempt: c.attempt, link: c.link })).toEqual([{ kind: "link-close", link: c.link }]);
    expect(h.send({ type: "leave", reason: "again" })).toEqual([]);
  });

  it("being kicked leaves with a reason", () => {
    const h = new CallHarness();
    h.join("alice");
    expect(last(h.send({ type: "self-unavailable", kicked: true, destroyed: false }), "leave")?.reason).toMatch(/removed/);
  });
});
