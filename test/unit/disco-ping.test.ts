/**
 * Service discovery (XEP-0030, durable/features/disco.ts) and pings (XEP-0199, XEP-0410 self-ping,
 * durable/features/ping.ts) through the room core; unsupported IQs get service-unavailable (RFC 6120 §8.4).
 */
import { describe, expect, it } from "vitest";
import { el, harness } from "./helpers/core-harness";

const R = "room@conference.example.org";

describe("XEP-0030 disco and XEP-0199 ping", () => {
  it("server disco#info lists extdisco and ping; items list the MUC service", async () => {
    const h = harness();
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="1" to="example.org"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`);
    expect(f[0]).toContain(`<feature var="urn:xmpp:extdisco:2"/>`);
    expect(f[0]).toContain(`<feature var="urn:xmpp:ping"/>`);
    expect(el(f[0]!).attrs).toMatchObject({ type: "result", id: "1", from: "example.org", to: "u-a@example.org/res" });
    const g = await h.send("a", `<iq type="get" id="2"><query xmlns="http://jabber.org/protocol/disco#items"/></iq>`);
    expect(g[0]).toContain(`<item jid="conference.example.org"`);
    const m = await h.send("a", `<iq type="get" id="3" to="conference.example.org"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`);
    expect(m[0]).toContain(`<identity category="conference" type="text"`);
  });
  it("room disco#info works for non-occupants and shows muc_unsecured", async () => {
    const h = harness();
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="1" to="${R}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`);
    expect(f[0]).toContain(`<feature var="http://jabber.org/protocol/muc"/>`);
    expect(f[0]).toContain(`<feature var="muc_unsecured"/>`);
  });
  it.each([
    ["server (no to)", ""],
    ["server", ` to="example.org"`],
    ["MUC service", ` to="conference.example.org"`],
    ["room", ` to="${R}"`],
  ])("answers pings to the %s", async (_n, to) => {
    const h = harness();
    h.ready("a");
    const f = await h.send("a", `<iq type="get" id="p"${to}><ping xmlns="urn:xmpp:ping"/></iq>`);
    expect(el(f[0]!).attrs).toMatchObject({ type: "result", id: "p" });
  });
  it("XEP-0410 self-ping: result when joined, not-acceptable when not", async () => {
    const h = harness();
    h.ready("a");
    expect((await h.send("a", `<iq type="get" id="p" to="${R}/alice"><ping xmlns="urn:xmpp:ping"/></iq>`))[0]).toContain("<not-acceptable");
    await h.join("a", "alice");
    expect((await h.send("a", `<iq type="get" id="p" to="${R}/alice"><ping xmlns="urn:xmpp:ping"/></iq>`))[0]).toContain(`type="result"`);
  });
  it("unsupported IQs get service-unavailable (RFC 6120 §8.4)", async () => {
    const h = harness();
    h.ready("a");
    expect((await h.send("a", `<iq type="get" id="r"><query xmlns="jabber:iq:roster"/></iq>`))[0]).toContain("<service-unavailable");
  });
});
