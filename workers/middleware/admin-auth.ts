/**
 * Bearer-token auth for admin routes (RFC 6750), token compared in constant time (over SHA-256 hashes).
 */
import type { MiddlewareHandler } from "hono";
import { timingSafeEqualString } from "../../contract/hmac";
import { loadConfig } from "../../durable/config";

export function adminAuth(): MiddlewareHandler<{ Bindings: Env }> {
  return async function adminAuth(c, next) {
    const header = c.req.header("authorization") ?? "";
    const m = /^Bearer ([\x21-\x7e]+)$/.exec(header);
    const token = loadConfig(c.env).ADMIN_TOKEN;
    if (!m || !(await timingSafeEqualString(m[1]!, token))) {
      return c.json({ error: "unauthorized", reason: "a valid admin bearer token is required" }, 401, {
        "WWW-Authenticate": m ? 'Bearer realm="parley-admin", error="invalid_token"' : 'Bearer realm="parley-admin"',
      });
    }
    await next();
  };
}
