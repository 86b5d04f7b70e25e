// Failure accrual as a layer over one endpoint's Service. It sits under the balancer (one per
// endpoint) and exposes `available()`, which the balancer reads to skip ejected endpoints. Like
// Finagle's FailureAccrualFactory it never refuses a call itself: the balancer decides, so in panic
// mode (most endpoints ejected) requests still reach an ejected endpoint rather than none.
import type { EndpointService } from '../balance/balance-layer.ts';
import { isWeftError } from '../errors.ts';
import type { CallContext, Layer, Service } from '../stack/service.ts';
import type { AccrualOutcome, FailureAccrualDeps, FailureAccrualParams } from './failure-accrual.ts';
import { FailureAccrual, validateFailureAccrualParams } from './failure-accrual.ts';

export interface BreakerLayerDeps<Res> extends FailureAccrualDeps {
  /** The breaker's view of a response; `classifyForBreaker(status, grpcStatus)` does HTTP and gRPC. */
  readonly classify: (res: Res) => AccrualOutcome;
  /** Retry-After of a 503/429 in ms (see parseRetryAfter), if it had one. */
  readonly retryAfterMs?: (res: Res) => number | undefined;
  /** The breaker's view of a thrown error; `classifyErrorForBreaker` by default. */
  readonly classifyError?: (error: unknown) => AccrualOutcome | 'ignore';
}

/**
 * Connection failures and other errors count against the endpoint; a call that was cancelled
 * (the caller left, the deadline passed) or that weft itself refused says nothing about it.
 */
export function classifyErrorForBreaker(error: unknown): AccrualOutcome | 'ignore' {
  if (isWeftError(error) && (error.flags.interrupted === true || error.flags.rejected === true)) return 'ignore';
  if (error instanceof Error && error.name === 'AbortError') return 'ignore';
  return 'failure';
}

export interface BreakerService<Req, Res> extends EndpointService<Req, Res> {
  readonly breaker: FailureAccrual;
  available(): boolean;
  close(): Promise<void>;
}

class Breaker<Req, Res> implements BreakerService<Req, Res> {
  readonly breaker: FailureAccrual;
  readonly #inner: Service<Req, Res>;
  readonly #deps: BreakerLayerDeps<Res>;
  readonly #classifyError: (error: unknown) => AccrualOutcome | 'ignore';

  constructor(params: FailureAccrualParams, deps: BreakerLayerDeps<Res>, inner: Service<Req, Res>) {
    this.breaker = new FailureAccrual(params, deps);
    this.#inner = inner;
    this.#deps = deps;
    this.#classifyError = deps.classifyError ?? classifyErrorForBreaker;
  }

  available(): boolean {
    return this.breaker.available();
  }

  async call(req: Req, cx: CallContext): Promise<Res> {
    const ticket = this.breaker.begin();
    let res: Res;
    try {
      res = await this.#inner.call(req, cx);
    } catch (error) {
      const outcome = this.#classifyError(error);
      if (outcome === 'ignore') this.breaker.abandon(ticket);
      else this.breaker.record(ticket, outcome);
      throw error;
    }
    this.breaker.record(ticket, this.#deps.classify(res), this.#deps.retryAfterMs?.(res));
    return res;
  }

  close(): Promise<void> {
    return this.#inner.close?.() ?? Promise.resolve();
  }
}

/** One breaker per wrapped endpoint Service. */
export function breakerLayer<Req, Res>(params: FailureAccrualParams, deps: BreakerLayerDeps<Res>): Layer<Service<Req, Res>, BreakerService<Req, Res>> {
  validateFailureAccrualParams(params);
  const sr = params.successRate;
  const parts = [params.consecutiveFailures > 0 ? `${params.consecutiveFailures} in a row` : undefined, sr === undefined ? undefined : `success < ${sr.threshold} over ${sr.windowMs / 1000} s`];
  return {
    role: `failure-accrual (${parts.filter((p) => p !== undefined).join(', ') || 'off'})`,
    wrap: (inner) => new Breaker<Req, Res>(params, deps, inner),
  };
}
