/**
 * GET /admin/access-log?limit=N (bearer ADMIN_TOKEN): the access log as JSON, newest first, nothing older than
 * the retention cutoff (PRIVACY.md "Access log").
 */
import { Hono } from "hono";
import { z } from "zod";
import { ACCESS_LOG_NAME } from "../../durable/access-log/access-log-do";
import { adminAuth } from "../middleware/admin-auth";

const Query = z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(1000) });

export const adminLog = new Hono<{ Bindings: Env }>();

adminLog.get("/admin/access-log", adminAuth(), async (c) => {
  const q = Query.safeParse({ limit: c.req.query("limit") });
  if (!q.success) return c.json({ error: "bad-request", reason: "limit must be an integer between 1 and 10000" }, 400);
  const stub = c.env.ACCESS_LOG.get(c.env.ACCESS_LOG.idFromName(ACCESS_LOG_NAME));
  const page = await stub.list(q.data.limit);
  return c.json(
    {
      retentionDays: page.retentionDays,
      cutoff: new Date(page.cutoff).toISOString(),
      dropped: page.dropped,
      entries: page.entries.map((e) => ({ ...e, time: new Date(e.at).toISOString() })),
    },
    200,
    { "Cache-Control": "no-store" },
  );
});
