/**
 * Refuse to serve anything with an invalid configuration (SECURITY.md "Secrets"): every request gets
 * 500 "misconfigured: <which settings and why>". The message names settings and rules, never their values
 * (zod issues built in durable/config.ts carry no input values).
 */
import type { MiddlewareHandler } from "hono";
import { ConfigError, loadConfig } from "../../durable/config";

export function configGuard(): MiddlewareHandler<{ Bindings: Env }> {
  return async function configGuard(c, next) {
    try {
      loadConfig(c.env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      console.error(err.message);
      return c.text(`misconfigured: ${err.message}\n`, 500, { "Cache-Control": "no-store" });
    }
    await next();
  };
}
