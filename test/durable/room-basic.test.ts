import { describe, expect, it } from "vitest";
import { connect, connected, join, login } from "./helpers";

describe("room DO: login, join, groupchat", { timeout: 30_000 }, () => {
  it("negotiates a stream and binds a random JID", async () => {
    const c = await connect("basic-1");
    const jid = await login(c);
    expect(jid).toMatch(/^[0-9a-f]+@localhost\/[0-9a-f]+$/);
    c.close();
  });

  it("lets two occupants chat and reflects groupchat with id and origin-id", async () => {
    const a = await connected("basic-2", "alice");
    const b = await connect("basic-2");
    await login(b);
    const selfB = await join(b, "basic-2", "bob");
    expect(selfB.raw).toContain('code="110"');
    expect(selfB.raw).not.toContain('code="201"');
    await a.expect('from="basic-2@conference.localhost/bob"');
    b.send(`<message xmlns="jabber:client" type="groupchat" id="m1" to="basic-2@conference.localhost"><body>hi &amp; bye</body><origin-id xmlns="urn:xmpp:sid:0" id="o1"/></message>`);
    for (const c of [a, b]) {
      const m = await c.expect('id="m1"', "<body>hi &amp; bye</body>");
      expect(m.raw).toContain('from="basic-2@conference.localhost/bob"');
      expect(m.raw).toContain('<origin-id xmlns="urn:xmpp:sid:0" id="o1"/>');
      expect(m.raw).toContain(`to="${c.jid}"`);
    }
    a.close();
    b.close();
  });
});
