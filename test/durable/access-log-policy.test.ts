/**
 * The pure access-log policy (durable/access-log/policy.ts): what counts as a page load or a signaling
 * connection, what is recorded from a request, and when rows expire.
 */
import { describe, expect, it } from "vitest";
import { classifyRequest, cutoff, DAY_MS, effectiveRetentionDays, entryFor, nextPurgeAt } from "../../durable/access-log/policy";

const h = (o: Record<string, string>) => new Headers(o);

describe("classifyRequest", () => {
  it.each([
    ["GET", "/", { "sec-fetch-dest": "document" }, "page"],
    ["GET", "/some-room", { "sec-fetch-dest": "document" }, "page"],
    ["GET", "/index.html", { accept: "text/html,*/*" }, "page"],
    ["GET", "/some-room", { accept: "text/html" }, "page"],
    ["GET", "/assets/app-1234.js", { "sec-fetch-dest": "script" }, null],
    ["GET", "/favicon.svg", { accept: "text/html" }, null],
    ["GET", "/some-room", { "sec-fetch-dest": "empty", accept: "text/html" }, null],
    ["GET", "/some-room", { accept: "application/json" }, null],
    ["POST", "/", { "sec-fetch-dest": "document" }, null],
    ["GET", "/healthz", { accept: "text/html" }, null],
    ["GET", "/admin/access-log", { "sec-fetch-dest": "document" }, null],
    ["POST", "/bridge-events", {}, null],
    ["GET", "/xmpp-websocket/room", { upgrade: "websocket" }, "signaling"],
    ["GET", "/xmpp-websocket/room", { upgrade: "WebSocket" }, "signaling"],
    ["GET", "/xmpp-websocket/room", { accept: "text/html" }, null],
  ] as const)("%s %s %j -> %s", (method, path, headers, want) => {
    expect(classifyRequest(method, path, h(headers))).toBe(want);
  });
});

describe("entryFor", () => {
  it("takes only time, IP, User-Agent and kind, and bounds their size", () => {
    const e = entryFor("page", h({ "cf-connecting-ip": "198.51.100.9", "user-agent": "x".repeat(2000), cookie: "c=1", referer: "https://r" }), 1234);
    expect(Object.keys(e).sort()).toEqual(["at", "ip", "kind", "userAgent"]);
    expect(e).toMatchObject({ at: 1234, kind: "page", ip: "198.51.100.9" });
    expect(e.userAgent).toHaveLength(512);
    expect(entryFor("signaling", h({}), 1).ip).toBe("unknown");
  });
});

describe("retention", () => {
  it("never exceeds 7 days, whatever it is given", () => {
    expect(effectiveRetentionDays(30)).toBe(7);
    expect(effectiveRetentionDays(-1)).toBe(0);
    expect(cutoff(10 * DAY_MS, 7)).toBe(3 * DAY_MS);
    expect(cutoff(10 * DAY_MS, 99)).toBe(3 * DAY_MS);
  });
  it("schedules the purge when the oldest row expires, never in the past, none when empty", () => {
    expect(nextPurgeAt(null, 0, 7)).toBeNull();
    expect(nextPurgeAt(1000, 2000, 7)).toBe(1000 + 7 * DAY_MS);
    expect(nextPurgeAt(0, 8 * DAY_MS, 7)).toBe(8 * DAY_MS + 1000);
    expect(nextPurgeAt(0, 5, 0)).toBe(1005);
  });
});
