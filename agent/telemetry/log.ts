// Structured JSON logs on stdout (pino): one line per event, machine-readable, cheap when a level
// is off. Every module logs through a child logger that names its area.
import { pino } from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger };

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { agent: 'weft', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/** Adapts a pino logger to the small `(level, message, fields)` shape the pure modules take. */
export function logFunction(logger: Logger): (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void {
  return (level, message, fields = {}) => logger[level](toJsonSafe(fields), message);
}

// bigint fields (cgroup ids, netns cookies) are not JSON; print them as decimal strings.
function toJsonSafe(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) out[key] = typeof value === 'bigint' ? value.toString() : value;
  return out;
}
