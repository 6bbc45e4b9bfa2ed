/**
 * The room's WebSockets decline permessage-deflate (RFC 7692) although browsers offer it: wrangler.toml sets the
 * `no_web_socket_compression` compatibility flag (why: docs/benchmarks.md, "Signaling", "Compression"). The signaling
 * still works for a client that offered it.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { TestClient, join, login } from "./helpers";

describe("WebSocket compression", () => {
  it("is not negotiated when the client offers permessage-deflate as Chromium does", async () => {
    const res = await exports.default.fetch("http://localhost/xmpp-websocket/deflate-offer", {
      headers: {
        Upgrade: "websocket",
        "Sec-WebSocket-Protocol": "xmpp",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        "CF-Connecting-IP": "10.9.0.1",
      },
    });
    expect(res.status).toBe(101);
    expect(res.headers.get("sec-websocket-extensions")).toBeNull();
    const ws = res.webSocket!;
    ws.accept();
    const c = new TestClient(ws, "localhost");
    await login(c);
    await join(c, "deflate-offer", "alice");
    c.close();
  }, 30_000);
});
