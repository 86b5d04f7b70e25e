// Failure accrual: a circuit breaker per endpoint (Finagle `FailureAccrualFactory`, linkerd2-proxy
// `breaker`). Closed, it counts outcomes; when the endpoint looks broken it opens (the endpoint is
// ejected from balancing) for a jittered exponential backoff; then it lets one probe request through
// (half-open): success closes it, failure opens it again for longer.
// Two ways to trip, because each misses what the other sees (linkerd2-proxy `unified.rs`):
// - consecutive failures: fast on a hard outage (Linkerd 2: 7), blind to an endpoint that fails
//   every other request;
// - success rate over a window (< 0.8 over 10 s with a minimum of requests): catches partial failure,
//   needs evidence first.
// A 503/429 with Retry-After that trips the breaker sets the ejection time (bounded): the server
// said how long it needs. Throttling (429, gRPC RESOURCE_EXHAUSTED) lowers the success rate and fails
// a probe, but does not count as a hard failure in a row.
// The core is pure (clock and random injected, no timers): open → half-open happens lazily when
// someone looks, and each transition is reported to a listener for metrics.
import type { Random } from '../balance/random.ts';
import { WeftError } from '../errors.ts';
import type { Clock } from '../time/clock.ts';
import type { BackoffParams } from './backoff.ts';
import { backoffDelay, ejectionBackoffParams, validateBackoffParams } from './backoff.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

export type TransitionReason = 'consecutive-failures' | 'success-rate' | 'probe-failed' | 'backoff-elapsed' | 'probe-succeeded';

export interface BreakerTransition {
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: TransitionReason;
  /** Clock time of the transition. */
  readonly at: number;
  /** On opening: how long the endpoint is ejected, and whether a Retry-After set it. */
  readonly ejectMs?: number;
  readonly retryAfter?: boolean;
}

/** One call's outcome as the breaker sees it. */
export type AccrualOutcome = 'success' | 'failure' | 'throttled';

export interface SuccessRateParams {
  /** Trip when the success ratio falls below this. Linkerd 2: 0.8. */
  readonly threshold: number;
  /** Window the ratio is computed over. Linkerd 2: 10 s. */
  readonly windowMs: number;
  /**
   * Responses needed in the window before the ratio may trip. Linkerd 2 uses 5; weft takes 10 so
   * that two unlucky failures among an endpoint's first five requests do not eject it.
   */
  readonly minRequests: number;
}

export interface FailureAccrualParams {
  /** Failures in a row that trip the breaker; 0 turns this off. Linkerd 2: 7 (Linkerd 1: 5). */
  readonly consecutiveFailures: number;
  /** Undefined turns the success-rate check off. */
  readonly successRate: SuccessRateParams | undefined;
  /** Ejection times: 1 s → 60 s, jitter 0.5 (Linkerd 2). */
  readonly backoff: BackoffParams;
  /** Longest ejection a Retry-After may ask for; 0 ignores Retry-After. linkerd2-proxy caps it at 60 s. */
  readonly retryAfterMaxMs: number;
}

export const successRateParams: SuccessRateParams = { threshold: 0.8, windowMs: 10_000, minRequests: 10 };

export const failureAccrualParams: FailureAccrualParams = {
  consecutiveFailures: 7,
  successRate: successRateParams,
  backoff: ejectionBackoffParams,
  retryAfterMaxMs: 60_000,
};

export function validateFailureAccrualParams(params: FailureAccrualParams): void {
  const problems: string[] = [];
  if (!(Number.isInteger(params.consecutiveFailures) && params.consecutiveFailures >= 0)) {
    problems.push(`consecutiveFailures must be a non-negative integer, got ${params.consecutiveFailures}`);
  }
  const sr = params.successRate;
  if (sr !== undefined) {
    if (!(sr.threshold >= 0 && sr.threshold <= 1)) problems.push(`successRate.threshold must be within 0..1, got ${sr.threshold}`);
    if (!(sr.windowMs >= WINDOW_BUCKETS && Number.isFinite(sr.windowMs))) problems.push(`successRate.windowMs must be at least ${WINDOW_BUCKETS} ms, got ${sr.windowMs}`);
    if (!(Number.isInteger(sr.minRequests) && sr.minRequests >= 1)) problems.push(`successRate.minRequests must be a positive integer, got ${sr.minRequests}`);
  }
  if (!(params.retryAfterMaxMs >= 0)) problems.push(`retryAfterMaxMs must be non-negative, got ${params.retryAfterMaxMs}`);
  if (problems.length > 0) throw new WeftError('WEFT_E_RESILIENCE_PARAMS', `failure accrual: ${problems.join('; ')}`);
  validateBackoffParams(params.backoff);
}

const WINDOW_BUCKETS = 10;

/** Exact success ratio over a trailing window: a ring of 10 buckets of successes and totals. */
export class SuccessRateWindow {
  readonly #width: number;
  readonly #successes = new Float64Array(WINDOW_BUCKETS);
  readonly #totals = new Float64Array(WINDOW_BUCKETS);
  #successSum = 0;
  #totalSum = 0;
  #slice: number;

  constructor(windowMs: number, now: number) {
    this.#width = windowMs / WINDOW_BUCKETS;
    this.#slice = Math.floor(now / this.#width);
  }

  record(success: boolean, now: number): void {
    const at = this.#roll(now);
    this.#totals[at] = (this.#totals[at] ?? 0) + 1;
    this.#totalSum += 1;
    if (success) {
      this.#successes[at] = (this.#successes[at] ?? 0) + 1;
      this.#successSum += 1;
    }
  }

  total(now: number): number {
    this.#roll(now);
    return this.#totalSum;
  }

  successes(now: number): number {
    this.#roll(now);
    return this.#successSum;
  }

  reset(now: number): void {
    this.#successes.fill(0);
    this.#totals.fill(0);
    this.#successSum = 0;
    this.#totalSum = 0;
    this.#slice = Math.floor(now / this.#width);
  }

  #roll(now: number): number {
    const slice = Math.floor(now / this.#width);
    const steps = slice - this.#slice;
    if (steps >= WINDOW_BUCKETS) {
      this.reset(now);
    } else if (steps > 0) {
      for (let i = 1; i <= steps; i++) {
        const at = ringIndex(this.#slice + i);
        this.#successSum -= this.#successes[at] ?? 0;
        this.#totalSum -= this.#totals[at] ?? 0;
        this.#successes[at] = 0;
        this.#totals[at] = 0;
      }
      this.#slice = slice;
    }
    return ringIndex(this.#slice);
  }
}

function ringIndex(slice: number): number {
  return ((slice % WINDOW_BUCKETS) + WINDOW_BUCKETS) % WINDOW_BUCKETS;
}

export interface FailureAccrualDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly onTransition?: (transition: BreakerTransition) => void;
}

/** A ticket that records nothing: the call went out while the breaker was open (panic mode). */
export const IGNORED_TICKET = -1;

export class FailureAccrual {
  readonly #params: FailureAccrualParams;
  readonly #deps: FailureAccrualDeps;
  readonly #window: SuccessRateWindow | undefined;
  #state: BreakerState = 'closed';
  /** Bumped on every transition: results of calls begun in an earlier epoch are stale. */
  #epoch = 0;
  #consecutive = 0;
  /** Ejections since the breaker last closed: the backoff exponent. */
  #ejections = 0;
  #reopenAt = 0;
  #probeOut = false;

  constructor(params: FailureAccrualParams, deps: FailureAccrualDeps) {
    validateFailureAccrualParams(params);
    this.#params = params;
    this.#deps = deps;
    this.#window = params.successRate === undefined ? undefined : new SuccessRateWindow(params.successRate.windowMs, deps.clock.now());
  }

  /** The state now; an open breaker whose ejection has elapsed becomes half-open here. */
  state(): BreakerState {
    if (this.#state === 'open' && this.#deps.clock.now() >= this.#reopenAt) {
      this.#probeOut = false;
      this.#transition('half-open', 'backoff-elapsed');
    }
    return this.#state;
  }

  /** May a balancer send here? Closed, or half-open with the probe slot free. */
  available(): boolean {
    const state = this.state();
    return state === 'closed' || (state === 'half-open' && !this.#probeOut);
  }

  /** When an open breaker will let a probe through (clock time), for /status. */
  get reopenAt(): number | undefined {
    return this.#state === 'open' ? this.#reopenAt : undefined;
  }

  get consecutiveFailures(): number {
    return this.#consecutive;
  }

  /** A call starts; the ticket goes back with its outcome. In half-open, the first call is the probe. */
  begin(): number {
    const state = this.state();
    if (state === 'closed') return this.#epoch * 2;
    if (state === 'half-open' && !this.#probeOut) {
      this.#probeOut = true;
      return this.#epoch * 2 + 1;
    }
    return IGNORED_TICKET;
  }

  /** A call's outcome; `retryAfterMs` from a 503/429 Retry-After, if it had one. */
  record(ticket: number, outcome: AccrualOutcome, retryAfterMs?: number): void {
    if (ticket < 0 || Math.floor(ticket / 2) !== this.#epoch) return;
    const probe = ticket % 2 === 1;
    const now = this.#deps.clock.now();
    if (probe) {
      if (this.#state !== 'half-open') return;
      this.#probeOut = false;
      if (outcome === 'success') this.#close(now);
      else this.#open('probe-failed', retryAfterMs);
      return;
    }
    if (this.#state !== 'closed') return;
    if (outcome === 'success') this.#consecutive = 0;
    else if (outcome === 'failure') this.#consecutive += 1;
    this.#window?.record(outcome === 'success', now);
    const max = this.#params.consecutiveFailures;
    if (max > 0 && this.#consecutive >= max) {
      this.#open('consecutive-failures', retryAfterMs);
      return;
    }
    const sr = this.#params.successRate;
    if (sr !== undefined && this.#window !== undefined && outcome !== 'success') {
      const total = this.#window.total(now);
      if (total >= sr.minRequests && this.#window.successes(now) < sr.threshold * total) this.#open('success-rate', retryAfterMs);
    }
  }

  /** The call ended without an outcome that says anything about the endpoint (the caller left). */
  abandon(ticket: number): void {
    if (ticket >= 0 && ticket % 2 === 1 && Math.floor(ticket / 2) === this.#epoch) this.#probeOut = false;
  }

  #open(reason: 'consecutive-failures' | 'success-rate' | 'probe-failed', retryAfterMs: number | undefined): void {
    const { backoff, retryAfterMaxMs } = this.#params;
    const honoured = retryAfterMs !== undefined && retryAfterMaxMs > 0 && retryAfterMs >= 0;
    const ejectMs = honoured
      ? Math.min(Math.max(retryAfterMs, backoff.minMs), Math.max(retryAfterMaxMs, backoff.minMs))
      : backoffDelay(backoff, this.#ejections, this.#deps.random);
    this.#ejections += 1;
    this.#reopenAt = this.#deps.clock.now() + ejectMs;
    this.#transition('open', reason, ejectMs, honoured);
  }

  #close(now: number): void {
    this.#consecutive = 0;
    this.#ejections = 0;
    this.#window?.reset(now);
    this.#transition('closed', 'probe-succeeded');
  }

  #transition(to: BreakerState, reason: TransitionReason, ejectMs?: number, retryAfter?: boolean): void {
    const from = this.#state;
    this.#state = to;
    this.#epoch += 1;
    const at = this.#deps.clock.now();
    if (to === 'open' && from === 'closed') {
      this.#consecutive = 0;
      this.#window?.reset(at);
    }
    const listener = this.#deps.onTransition;
    if (listener !== undefined) {
      listener(ejectMs === undefined ? { from, to, reason, at } : { from, to, reason, at, ejectMs, retryAfter: retryAfter === true });
    }
  }
}

/**
 * The breaker's view of an HTTP or gRPC response: 5xx is a failure; 429 is throttling; for gRPC
 * (status 200 with grpc-status), the server-fault codes UNKNOWN, INTERNAL, UNAVAILABLE and DATA_LOSS
 * are failures and RESOURCE_EXHAUSTED is throttling. Other codes (NOT_FOUND, INVALID_ARGUMENT, …)
 * are the application's answers, not signs of a broken endpoint.
 */
export function classifyForBreaker(status: number, grpcStatus?: number): AccrualOutcome {
  if (grpcStatus !== undefined && grpcStatus !== 0) {
    if (grpcStatus === 8) return 'throttled';
    return grpcStatus === 2 || grpcStatus === 13 || grpcStatus === 14 || grpcStatus === 15 ? 'failure' : 'success';
  }
  if (status === 429) return 'throttled';
  return status >= 500 ? 'failure' : 'success';
}
