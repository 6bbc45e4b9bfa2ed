/**
 * SECURITY.md "Secrets" and PRIVACY.md "Access log": the config schema refuses weak, placeholder, reused or
 * missing secrets outside development, and an access-log retention above 7 days.
 */
import { describe, expect, it } from "vitest";
import { DEV_SECRETS } from "../../contract/secrets";
import { ConfigError, ConfigSchema, loadConfig } from "../../durable/config";

const strong = {
  ADMIN_TOKEN: "q3V9tZk1Yb7Lm2Xw8Rc5Ns4Hd6Pf0Jg1Aa2Bb3",
  TURN_SECRET: "Zx8Cv7Bn6Mm5Ll4Kk3Jj2Hh1Gg0Ff9Dd8Ss7Aa",
  BRIDGE_SECRET: "P0o9I8u7Y6t5R4e3W2q1A2s3D4f5G6h7J8k9L0",
};
const prod = (over: Record<string, string | undefined> = {}) => ({ ENVIRONMENT: "production", ...strong, ...over });
const issues = (env: object) => {
  const r = ConfigSchema.safeParse(env);
  return r.success ? [] : r.error.issues.map((i) => i.message);
};

describe("config: secrets", () => {
  it("accepts strong, distinct secrets in production", () => {
    const c = ConfigSchema.parse(prod());
    expect(c.ADMIN_TOKEN).toBe(strong.ADMIN_TOKEN);
    expect(c.ENVIRONMENT).toBe("production");
  });
  it("defaults to production and then refuses missing secrets", () => {
    expect(issues({})).toEqual([
      expect.stringMatching(/^ADMIN_TOKEN /),
      expect.stringMatching(/^TURN_SECRET /),
      expect.stringMatching(/^BRIDGE_SECRET /),
    ]);
  });
  it.each([
    ["short", "abc123"],
    ["a development default", DEV_SECRETS.ADMIN_TOKEN],
    ["low entropy", "ab".repeat(20)],
    ["a placeholder", "changeme-" + "0123456789abcdefghijklmnop"],
  ])("refuses a %s ADMIN_TOKEN", (_what, value) => {
    const msgs = issues(prod({ ADMIN_TOKEN: value }));
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/^ADMIN_TOKEN /);
  });
  it("refuses one secret reused for two purposes", () => {
    expect(issues(prod({ TURN_SECRET: strong.ADMIN_TOKEN }))).toEqual(["TURN_SECRET must differ from ADMIN_TOKEN"]);
  });
  it("falls back to development secrets only in development", () => {
    const c = ConfigSchema.parse({ ENVIRONMENT: "development" });
    expect(c.ADMIN_TOKEN).toBe(DEV_SECRETS.ADMIN_TOKEN);
    expect(ConfigSchema.parse({ ENVIRONMENT: "development", ADMIN_TOKEN: "x" }).ADMIN_TOKEN).toBe("x");
  });
  it("error messages never contain the secret values", () => {
    const weak = "weakweakweakweakweakweakweakweakweak";
    try {
      loadConfig(prod({ ADMIN_TOKEN: weak, BRIDGE_SECRET: strong.TURN_SECRET }));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).toContain("ADMIN_TOKEN");
      expect(msg).toContain("BRIDGE_SECRET");
      for (const v of [weak, strong.TURN_SECRET]) expect(msg).not.toContain(v);
    }
  });
});

describe("config: access-log retention", () => {
  it("defaults to 7 days and allows 0..7", () => {
    expect(ConfigSchema.parse(prod()).ACCESS_LOG_RETENTION_DAYS).toBe(7);
    for (const d of ["0", "1", "7"]) expect(ConfigSchema.parse(prod({ ACCESS_LOG_RETENTION_DAYS: d })).ACCESS_LOG_RETENTION_DAYS).toBe(Number(d));
  });
  it.each(["8", "30", "365", "-1", "1.5", "forever"])("refuses ACCESS_LOG_RETENTION_DAYS=%s", (d) => {
    const r = ConfigSchema.safeParse(prod({ ACCESS_LOG_RETENTION_DAYS: d }));
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(["ACCESS_LOG_RETENTION_DAYS"]);
  });
});

describe("config: bridge origins", () => {
  it("parses BRIDGE_PUBLIC_ORIGINS and refuses non-URLs", () => {
    expect(ConfigSchema.parse(prod({ BRIDGE_PUBLIC_ORIGINS: "wss://b.example, https://c.example:8443" })).BRIDGE_PUBLIC_ORIGINS)
      .toEqual(["wss://b.example", "https://c.example:8443"]);
    expect(ConfigSchema.safeParse(prod({ BRIDGE_PUBLIC_ORIGINS: "javascript:alert(1)" })).success).toBe(false);
  });
});
