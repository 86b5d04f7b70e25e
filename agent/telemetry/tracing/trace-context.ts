// A span's identity as it travels between processes: the trace it belongs to, its own id, whether
// the trace is sampled, and the W3C tracestate that rides along. Ids are lower-case hex strings,
// the form every propagation format writes, converted to bytes only when a span is exported.
import { randomFillSync } from 'node:crypto';

export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  readonly spanId: string;
  readonly sampled: boolean;
  /** B3's debug flag (X-B3-Flags: 1, or "d" in `b3`): sampled, and asks tracers to keep the trace. */
  readonly debug: boolean;
  /** W3C tracestate, as a list joined by ","; undefined when none (or it was malformed). */
  readonly traceState: string | undefined;
}

/** New ids; a seam so tests can make them predictable. */
export interface IdGenerator {
  traceId(): string;
  spanId(): string;
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Random ids from the CSPRNG, drawn 4 KiB at a time: one getrandom call per ~170 requests rather
 * than one per request. Trace ids must be unpredictable enough not to collide across a fleet.
 */
export function randomIds(): IdGenerator {
  const pool = Buffer.allocUnsafe(4096);
  let at = pool.length;
  const take = (bytes: number, zero: string): string => {
    for (;;) {
      if (at + bytes > pool.length) {
        randomFillSync(pool);
        at = 0;
      }
      const id = pool.toString('hex', at, at + bytes);
      at += bytes;
      if (id !== zero) return id;
    }
  };
  return { traceId: () => take(16, ZERO_TRACE), spanId: () => take(8, ZERO_SPAN) };
}

export const isValidTraceId = (id: string): boolean => /^[0-9a-f]{32}$/.test(id) && id !== ZERO_TRACE;
export const isValidSpanId = (id: string): boolean => /^[0-9a-f]{16}$/.test(id) && id !== ZERO_SPAN;
