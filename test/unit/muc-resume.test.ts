import { describe, expect, it } from "vitest";
import { harness } from "./helpers/core-harness";

const R = "room@conference.example.org";
const TOKEN = "AAAAAAAAAAAAAAAAAAAAAA-resume";
const resume = (t: string) => `<resume xmlns="urn:parley:resume:0" token="${t}"/>`;
const joinWith = (nick: string, extra: string) =>
  `<presence xmlns="jabber:client" id="join" to="${R}/${nick}"><x xmlns="http://jabber.org/protocol/muc"/>${extra}<av xmlns="urn:parley:av:0" audio="on" video="on" screen="off"/></presence>`;

/** alice (owner, conn a) joined with a resume token, bob (conn b) without; both outboxes emptied. */
async function room() {
  const h = harness();
  h.ready("a");
  h.ready("b");
  await h.send("a", joinWith("alice", resume(TOKEN)));
  await h.join("b", "bob");
  h.take("a");
  h.take("b");
  return h;
}

describe("resuming an occupancy after a network change (urn:parley:resume:0)", () => {
  it("the same nick with the same token from a new connection takes the place over: roster kept, old stream ends with <conflict/>", async () => {
    const h = await room();
    h.ready("a2");
    const f = await h.send("a2", joinWith("alice", resume(TOKEN)));
    // the usual join answer: bob's presence, the self-presence (110, no 201), the subject
    expect(f).toHaveLength(3);
    expect(f[0]).toContain(`from="${R}/bob"`);
    expect(f[1]).toContain(`from="${R}/alice"`);
    expect(f[1]).toContain(`<item affiliation="owner" role="moderator" jid="u-a2@example.org/res"/><status code="110"/>`);
    expect(f[1]).not.toContain("201");
    expect(f[2]).toContain("<subject/>");
    // bob sees a presence update of the same occupant, never an unavailable one
    const b = h.take("b");
    expect(b).toHaveLength(1);
    expect(b[0]).toContain(`from="${R}/alice"`);
    expect(b[0]).not.toContain("unavailable");
    // the old connection: stream error conflict, then closed; it is no longer the occupant
    const a = h.take("a");
    expect(a.join("")).toContain(`<conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`);
    expect(h.closed.get("a")?.reason).toBe("conflict");
    expect(h.rt.room.conns.get("a")?.occ).toBeUndefined();
    expect(h.rt.room.nicks.get("alice")).toBe("a2");
    // when the old socket finally closes, nobody hears of it
    h.drop("a");
    expect(h.take("b")).toHaveLength(0);
    // and a message to alice reaches the new connection
    await h.send("b", `<message xmlns="jabber:client" type="chat" to="${R}/alice" id="m1"><body>hi</body></message>`);
    expect(h.take("a2").join("")).toContain("<body>hi</body>");
  });

  it("the token is never shown to others, nor kept in the presence the room repeats", async () => {
    const h = await room();
    h.ready("c");
    const f = await h.join("c", "carol");
    expect(f.join("")).not.toContain("resume");
    expect(f.join("")).not.toContain(TOKEN);
    expect(JSON.stringify(h.rt.room.conns.get("a")?.occ)).not.toContain(TOKEN);
  });

  it("a wrong token, no token or a malformed one is still a nick conflict", async () => {
    const h = await room();
    for (const extra of [resume("BBBBBBBBBBBBBBBBBBBBBB-other"), "", resume("short"), resume(`${TOKEN}<`.replace("<", "!"))]) {
      h.ready("x");
      const f = await h.send("x", joinWith("alice", extra));
      expect(f).toHaveLength(1);
      expect(f[0]).toContain("<conflict");
      expect(h.rt.room.nicks.get("alice")).toBe("a");
      h.drop("x");
    }
    expect(h.take("b")).toHaveLength(0);
  });

  it("an occupant who joined without a token cannot be taken over", async () => {
    const h = await room();
    h.ready("x");
    const f = await h.send("x", joinWith("bob", resume(TOKEN)));
    expect(f[0]).toContain("<conflict");
    expect(h.rt.room.nicks.get("bob")).toBe("b");
  });

  it("a full room still lets its occupant back in", async () => {
    const h = harness({ cfg: { maxOccupants: 2 } });
    h.ready("a");
    h.ready("b");
    await h.send("a", joinWith("alice", resume(TOKEN)));
    await h.join("b", "bob");
    h.ready("a2");
    const f = await h.send("a2", joinWith("alice", resume(TOKEN)));
    expect(f[1]).toContain(`<status code="110"/>`);
  });
});
