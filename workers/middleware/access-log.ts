/**
 * Access-log middleware (PRIVACY.md "Access log"): for page loads and signaling connections, send
 * {time, IP, User-Agent, kind} to the singleton AccessLogDO, off the response path (`waitUntil`).
 * Retention 0 disables it entirely: nothing is sent, nothing stored.
 */
import type { MiddlewareHandler } from "hono";
import { ACCESS_LOG_NAME } from "../../durable/access-log/access-log-do";
import { classifyRequest, entryFor } from "../../durable/access-log/policy";
import { loadConfig } from "../../durable/config";

export function accessLog(): MiddlewareHandler<{ Bindings: Env }> {
  return async function accessLog(c, next) {
    const kind = classifyRequest(c.req.method, new URL(c.req.url).pathname, c.req.raw.headers);
    if (kind !== null && loadConfig(c.env).ACCESS_LOG_RETENTION_DAYS > 0) {
      const entry = entryFor(kind, c.req.raw.headers, Date.now());
      const stub = c.env.ACCESS_LOG.get(c.env.ACCESS_LOG.idFromName(ACCESS_LOG_NAME));
      c.executionCtx.waitUntil(
        stub.record(entry).catch((err: unknown) => {
          // Logging must never break or delay the request; report the failure without the entry's content.
          console.error("access log write failed:", err instanceof Error ? err.message : String(err));
        }),
      );
    }
    await next();
  };
}
