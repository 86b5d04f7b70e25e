// Jittered exponential backoff, with linkerd2-proxy's `ExponentialBackoff` semantics: the n-th delay
// (n from 0) is base = min(minMs × 2^n, maxMs) plus a uniform random extra in [0, base × jitter],
// never past maxMs. Jitter spreads the retries of many clients that failed at the same moment, so
// they do not return as a synchronized wave.
import type { Random } from '../balance/random.ts';
import { WeftError } from '../errors.ts';

export interface BackoffParams {
  readonly minMs: number;
  readonly maxMs: number;
  /** Share of the base delay that may be added at random; 0 = none, 1 = up to double. */
  readonly jitter: number;
}

/** Retry backoff. linkerd2-proxy (route retries): 25 ms → 250 ms, jitter 1.0. */
export const retryBackoffParams: BackoffParams = { minMs: 25, maxMs: 250, jitter: 1 };

/** Breaker ejection. Linkerd 2 failure accrual: 1 s → 60 s, jitter 0.5. */
export const ejectionBackoffParams: BackoffParams = { minMs: 1_000, maxMs: 60_000, jitter: 0.5 };

export function validateBackoffParams(params: BackoffParams): void {
  const { minMs, maxMs, jitter } = params;
  if (!(minMs >= 0 && maxMs > 0 && minMs <= maxMs && Number.isFinite(maxMs))) {
    throw new WeftError('WEFT_E_RESILIENCE_PARAMS', `backoff needs 0 <= minMs <= maxMs and maxMs > 0, got ${minMs} and ${maxMs}`);
  }
  if (!(jitter >= 0 && jitter <= 100)) {
    throw new WeftError('WEFT_E_RESILIENCE_PARAMS', `backoff jitter must be within 0..100, got ${jitter}`);
  }
}

/** Delay before attempt `n + 1` after `n + 1` failures (n = 0 for the first backoff). */
export function backoffDelay(params: BackoffParams, n: number, random: Random): number {
  // 2^n overflows to Infinity for large n, which min() caps; 0 × Infinity would be NaN, hence the guard.
  const base = params.minMs === 0 ? 0 : Math.min(params.minMs * 2 ** Math.max(0, n), params.maxMs);
  if (params.jitter === 0) return base;
  const extra = random() * params.jitter * base;
  return Math.min(base + extra, params.maxMs);
}
