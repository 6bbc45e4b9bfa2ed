/**
 * Privacy-preserving logger (PRIVACY.md): at the default level ("info") only events and counts are logged — never
 * IP addresses, room names or nicks. `debug` may include identifiers and is for local troubleshooting only.
 * Writes go to stderr (journald/docker collect it); the bridge never writes files.
 */
import type { LogLevel } from "./config";

const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

type LogFields = Record<string, number | boolean | string>;

export interface Logger {
  error(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  /** events + counts only */
  info(event: string, fields?: Record<string, number | boolean>): void;
  debug(event: string, fields?: LogFields): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  const max = ORDER[level];
  const emit = (lv: LogLevel, event: string, fields?: LogFields) => {
    if (ORDER[lv] > max) return;
    write(JSON.stringify({ t: new Date().toISOString(), level: lv, event, ...fields }));
  };
  return {
    error: (e, f) => emit("error", e, f),
    warn: (e, f) => emit("warn", e, f),
    info: (e, f) => emit("info", e, f),
    debug: (e, f) => emit("debug", e, f),
  };
}
