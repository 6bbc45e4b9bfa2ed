/**
 * Secrets shared by every config loader (the edge's durable/config.ts, the bridge host's and coturn's): the rules a
 * production secret must meet, so a bridge or coturn refuses what the edge refuses (SECURITY.md), and the
 * development-only fallbacks so `npm run dev` works on a fresh machine with no secrets set.
 */
import { z } from "zod";

/** Development-only fallbacks so `npm run dev` works on a fresh machine with no secrets set. */
export const DEV_SECRETS = {
  ADMIN_TOKEN: "dev-admin-token-not-for-production-000000",
  TURN_SECRET: "dev-turn-secret-not-for-production-0000000",
  BRIDGE_SECRET: "dev-bridge-secret-not-for-production-00000",
} as const;

/** The rules every production secret must meet. */
export const StrongSecretSchema = z
  .string()
  .min(32, "must be at least 32 characters")
  .refine((s) => !/^dev-/.test(s), { message: "must not be a development default" })
  // A random 32+ character token (e.g. `openssl rand -base64 32` or hex) has far more than 8 distinct characters;
  // "aaaa…", "12121212…" or "changemechangeme…" do not.
  .refine((s) => new Set(s).size >= 8, { message: "is too weak (fewer than 8 distinct characters)" })
  .refine((s) => !/(change.?me|example|password|secret|placeholder)/i.test(s), {
    message: "looks like a placeholder, use a random value",
  });

/** Every problem of a failed parse on one line: `PATH: message; ...`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

