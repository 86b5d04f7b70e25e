// Retries as a layer over the balancer of a route's backend. Per request: send; classify what came
// back; ask the policy (retryable? limit? body replayable? time left?), then the route's shared
// budget; wait the backoff; send again to a different endpoint (the request's tried endpoints ride
// down in the call context, and the balancer avoids them when it can).
// A response that will not be retried is returned as it is, even a 503: the caller sees what the
// server said. An error that the budget refused to retry becomes WEFT_E_RESILIENCE_RETRY_BUDGET_EXHAUSTED
// with the budget in its message and the original error as its cause.
import type { AttemptContext } from '../balance/balance-layer.ts';
import type { Random } from '../balance/random.ts';
import { describeError, WeftError } from '../errors.ts';
import type { CallContext, Layer, Service } from '../stack/service.ts';
import type { Clock } from '../time/clock.ts';
import type { RetryBudget, RetryBudgetParams } from './retry-budget.ts';
import { newRetryBudget, retryBudgetParams } from './retry-budget.ts';
import type { AttemptResult, NoRetryReason, RetryPolicyParams, RetryRequest } from './retry-policy.ts';
import { classifyError, RetryPolicy, retryPolicyParams, TriedEndpoints } from './retry-policy.ts';

export interface RetryLayerParams {
  readonly policy: RetryPolicyParams;
  readonly budget: RetryBudgetParams;
}

export const retryLayerParams: RetryLayerParams = { policy: retryPolicyParams, budget: retryBudgetParams };

export type RetryEvent =
  | { readonly kind: 'retry'; readonly retries: number; readonly delayMs: number; readonly after: AttemptResult['kind'] }
  | { readonly kind: 'no-retry'; readonly reason: Exclude<NoRetryReason, 'success'> | 'budget'; readonly after: AttemptResult['kind'] };

export interface RetryLayerDeps<Req, Res> {
  readonly clock: Clock;
  readonly random: Random;
  /**
   * Method and body size of the request, asked at each decision: a streamed body's size becomes
   * known (or passes the replay limit) while the first attempt sends it.
   */
  readonly request: (req: Req) => RetryRequest;
  /**
   * The request to send for attempt `attempt` (0 for the first): an HTTP request gets a fresh view
   * of its replayable body here. Identity when absent.
   */
  readonly forAttempt?: (req: Req, attempt: number) => Req;
  /** A response as an attempt result: `{ kind: 'response', status, grpcStatus }`. */
  readonly result: (res: Res) => AttemptResult;
  /** A thrown error as an attempt result; `classifyError` by default. */
  readonly classifyError?: (error: unknown) => AttemptResult;
  /** Releases a response that is dropped for a retry (or arrived after its per-try timeout). */
  readonly discard?: (res: Res) => void;
  /** Every retry and every refusal to retry a failure, for metrics. */
  readonly onEvent?: (event: RetryEvent) => void;
}

/** The budget the layer shares between all requests of the services it wraps, for /status. */
export interface RetryService<Req, Res> extends Service<Req, Res> {
  readonly budget: RetryBudget;
}

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      cancel();
      reject(abortReason(signal));
    };
    const cancel = clock.setTimer(ms, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new WeftError('WEFT_E_RESILIENCE_CANCELLED', 'the caller went away during a retry backoff', { cause: reason, flags: { interrupted: true } });
}

/** One request's attempts; holds the last outcome so no per-attempt objects are needed. */
class RetryCall<Res> {
  readonly tried = new TriedEndpoints();
  readonly cx: AttemptContext;
  ok = false;
  res: Res | undefined;
  error: unknown;
  timedOut = false;

  constructor(cx: CallContext) {
    this.cx = { deadline: cx.deadline, signal: cx.signal, tried: this.tried };
  }
}

class Retry<Req, Res> implements RetryService<Req, Res> {
  readonly budget: RetryBudget;
  readonly #policy: RetryPolicy;
  readonly #deps: RetryLayerDeps<Req, Res>;
  readonly #inner: Service<Req, Res>;
  readonly #classifyError: (error: unknown) => AttemptResult;

  constructor(policy: RetryPolicy, budget: RetryBudget, deps: RetryLayerDeps<Req, Res>, inner: Service<Req, Res>) {
    this.#policy = policy;
    this.budget = budget;
    this.#deps = deps;
    this.#inner = inner;
    this.#classifyError = deps.classifyError ?? classifyError;
  }

  async call(req: Req, cx: CallContext): Promise<Res> {
    const budget = this.budget;
    const call = new RetryCall<Res>(cx);
    const forAttempt = this.#deps.forAttempt;
    budget.requestStarted();
    try {
      await this.#attempt(forAttempt === undefined ? req : forAttempt(req, 0), call);
      for (let retries = 0; ; retries++) {
        // The caller is gone: whatever happened is the answer nobody waits for.
        if (cx.signal.aborted) return this.#finish(call);
        const result = this.#resultOf(call);
        const request = this.#deps.request(req);
        const decision = this.#policy.decide({ request, result, retries, now: this.#deps.clock.now(), deadline: cx.deadline });
        if (!decision.retry) {
          if (decision.reason !== 'success') this.#deps.onEvent?.({ kind: 'no-retry', reason: decision.reason, after: result.kind });
          return this.#finish(call);
        }
        if (!budget.tryWithdraw()) {
          this.#deps.onEvent?.({ kind: 'no-retry', reason: 'budget', after: result.kind });
          if (call.ok) return this.#finish(call);
          throw new WeftError(
            'WEFT_E_RESILIENCE_RETRY_BUDGET_EXHAUSTED',
            `retry budget exhausted (${budget.describe()}); not retrying: ${describeError(call.error)}`,
            { cause: call.error, flags: { rejected: true } },
          );
        }
        if (call.ok && call.res !== undefined) this.#deps.discard?.(call.res);
        this.#deps.onEvent?.({ kind: 'retry', retries: retries + 1, delayMs: decision.delayMs, after: result.kind });
        try {
          if (decision.delayMs > 0) await sleep(this.#deps.clock, decision.delayMs, cx.signal);
          await this.#attempt(forAttempt === undefined ? req : forAttempt(req, retries + 1), call);
        } finally {
          budget.retryFinished();
        }
      }
    } finally {
      budget.requestFinished();
    }
  }

  close(): Promise<void> {
    return this.#inner.close?.() ?? Promise.resolve();
  }

  #resultOf(call: RetryCall<Res>): AttemptResult {
    if (call.timedOut) return TIMEOUT;
    return call.ok ? this.#deps.result(call.res as Res) : this.#classifyError(call.error);
  }

  #finish(call: RetryCall<Res>): Res {
    // `ok` says `res` holds the response (which may itself be undefined for a Service of void).
    if (call.ok) return call.res as Res;
    throw call.error;
  }

  /** Runs one attempt; its outcome lands in `call`, never thrown. */
  async #attempt(req: Req, call: RetryCall<Res>): Promise<void> {
    call.ok = false;
    call.res = undefined;
    call.error = undefined;
    call.timedOut = false;
    const perTry = this.#policy.params.perTryTimeoutMs;
    if (perTry === undefined) {
      try {
        call.res = await this.#inner.call(req, call.cx);
        call.ok = true;
      } catch (error) {
        call.error = error;
      }
      return;
    }
    await this.#attemptWithTimeout(req, call, perTry);
  }

  #attemptWithTimeout(req: Req, call: RetryCall<Res>, perTryMs: number): Promise<void> {
    const clock = this.#deps.clock;
    const parent = call.cx;
    const controller = new AbortController();
    const deadline = parent.deadline === undefined ? clock.now() + perTryMs : Math.min(parent.deadline, clock.now() + perTryMs);
    const attemptCx: AttemptContext = { deadline, signal: AbortSignal.any([parent.signal, controller.signal]), tried: call.tried };
    return new Promise<void>((resolve) => {
      let settled = false;
      const cancel = clock.setTimer(perTryMs, () => {
        if (settled) return;
        settled = true;
        const error = new WeftError('WEFT_E_RESILIENCE_TRY_TIMEOUT', `no response within the per-try timeout of ${perTryMs} ms`);
        call.timedOut = true;
        call.error = error;
        controller.abort(error);
        resolve();
      });
      this.#inner.call(req, attemptCx).then(
        (res) => {
          if (settled) {
            this.#deps.discard?.(res);
            return;
          }
          settled = true;
          cancel();
          call.res = res;
          call.ok = true;
          resolve();
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          cancel();
          call.error = error;
          resolve();
        },
      );
    });
  }
}

const TIMEOUT: AttemptResult = { kind: 'timeout' };

/**
 * Retries with a budget: every service this layer wraps gets its own budget (wrap once per route).
 * Sits above the balancer, so that a retry is a new pick; below the deadline layer, whose deadline
 * bounds all attempts together.
 */
export function retryLayer<Req, Res>(params: RetryLayerParams, deps: RetryLayerDeps<Req, Res>): Layer<Service<Req, Res>, RetryService<Req, Res>> {
  const policy = new RetryPolicy(params.policy, deps.random);
  // Validate the budget params now, so bad config fails at startup.
  newRetryBudget(params.budget, deps.clock);
  const perTry = params.policy.perTryTimeoutMs === undefined ? '' : `, ${params.policy.perTryTimeoutMs} ms per try`;
  return {
    role: `retry (at most ${params.policy.maxRetries}${perTry}, ${params.budget.kind} budget)`,
    wrap: (inner) => new Retry<Req, Res>(policy, newRetryBudget(params.budget, deps.clock), deps, inner),
  };
}
