// Structured JSON logs on stdout (pino): one line per event, machine-readable, cheap when a level
// is off. Every module logs through a child logger that names its area.
//
// The level can change while the agent runs (PUT /log-level on the admin port). pino children copy
// their parent's level when created and do not follow it later, so the root remembers its children
// (weakly: a dropped child is not kept alive) and setLogLevel sets them all.
import { pino } from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];

const childrenOf = new WeakMap<Logger, Set<WeakRef<Logger>>>();

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const children = new Set<WeakRef<Logger>>();
  const options = {
    level,
    base: { agent: 'weft', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // Inherited by children, so grandchildren are remembered too.
    onChild: (child: Logger) => void children.add(new WeakRef(child)),
  };
  const logger = destination === undefined ? pino(options) : pino(options, destination);
  childrenOf.set(logger, children);
  return logger;
}

export function isLogLevel(value: string): value is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** Sets the level of a logger made by createLogger and of every child it has made. */
export function setLogLevel(logger: Logger, level: LevelWithSilent): void {
  logger.level = level;
  const children = childrenOf.get(logger);
  if (children === undefined) return;
  for (const ref of children) {
    const child = ref.deref();
    if (child === undefined) children.delete(ref);
    else child.level = level;
  }
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
