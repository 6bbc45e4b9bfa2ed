/**
 * JID parsing (durable/xmpp/jid.ts, RFC 7622).
 */
import { describe, expect, it } from "vitest";
import { parseJid } from "../../durable/xmpp/jid";

describe("JIDs", () => {
  it.each([
    ["room@conference.example.org/nick/with@odd", { local: "room", domain: "conference.example.org", resource: "nick/with@odd" }],
    ["Example.ORG.", { local: "", domain: "example.org", resource: "" }],
    ["a@b", { local: "a", domain: "b", resource: "" }],
  ])("%s", (s, want) => expect(parseJid(s)).toEqual(want));
  it.each(["", "@b", "a@", "a@b/", "a@b@c"])("rejects %j", (s) => expect(parseJid(s)).toBeUndefined());
});
