// Retry budgets: a cap on retries shared by all requests of a route, so that retries cannot multiply
// load on a backend that is already failing (the retry storm that per-request limits alone allow).
// Two kinds:
// - ratio (Finagle `RetryBudget`, Linkerd 1 and Linkerd 2 ServiceProfiles): every request deposits
//   `ratio` of a retry, every retry withdraws one, over a sliding window of `ttlMs`; a reserve of
//   `minRetriesPerSec × ttl` lets a quiet or just-started client retry at all. Retries granted within
//   any window ≤ ratio × requests + minRetriesPerSec × ttl seconds.
// - concurrency (Envoy `retry_budget`): retries in flight ≤ ratio × requests in flight, at least
//   `minConcurrency`. No memory of the past: it reacts at once, and bounds concurrent extra load.
// The window is a ring of 10 buckets, each holding the deposits and withdrawals made in its slice of
// time; both expire together when the slice leaves the window (Finagle's leaky token bucket does the
// same with a windowed adder). Everything is O(1) per request.
import { WeftError } from '../errors.ts';
import type { Clock } from '../time/clock.ts';

export interface RatioBudgetParams {
  readonly kind: 'ratio';
  /** Retries allowed per request, on top of the reserve. Finagle/Linkerd: 0.2. */
  readonly ratio: number;
  /** Reserve, as retries per second of the window. Finagle/Linkerd: 10. */
  readonly minRetriesPerSec: number;
  /** How long a deposit counts. Finagle/Linkerd: 10 s. */
  readonly ttlMs: number;
}

export interface ConcurrencyBudgetParams {
  readonly kind: 'concurrency';
  /** Concurrent retries per concurrent request. Envoy `budget_percent`: 20 %. */
  readonly ratio: number;
  /** Concurrent retries always allowed. Envoy `min_retry_concurrency`: 3. */
  readonly minConcurrency: number;
}

export type RetryBudgetParams = RatioBudgetParams | ConcurrencyBudgetParams;

export const ratioBudgetParams: RatioBudgetParams = { kind: 'ratio', ratio: 0.2, minRetriesPerSec: 10, ttlMs: 10_000 };
export const concurrencyBudgetParams: ConcurrencyBudgetParams = { kind: 'concurrency', ratio: 0.2, minConcurrency: 3 };
/** weft defaults to the ratio kind, as Finagle and Linkerd do. */
export const retryBudgetParams: RetryBudgetParams = ratioBudgetParams;

export interface RetryBudget {
  readonly kind: RetryBudgetParams['kind'];
  /** A request's first attempt starts (ratio: a deposit; concurrency: one more in flight). */
  requestStarted(): void;
  /** That request is finished, whatever happened to it. */
  requestFinished(): void;
  /** Asks for one retry: true means granted and charged; false leaves the budget untouched. */
  tryWithdraw(): boolean;
  /** A granted retry attempt has finished. */
  retryFinished(): void;
  /** Retries that could be granted right now (for /status). */
  balance(): number;
  /** The budget in words, for refusal messages. */
  describe(): string;
}

export const BUDGET_BUCKETS = 10;

function invalid(message: string): WeftError {
  return new WeftError('WEFT_E_RESILIENCE_PARAMS', `retry budget: ${message}`);
}

export class RatioRetryBudget implements RetryBudget {
  readonly kind = 'ratio';
  readonly #params: RatioBudgetParams;
  readonly #clock: Clock;
  readonly #reserve: number;
  readonly #width: number;
  readonly #deposits = new Float64Array(BUDGET_BUCKETS);
  readonly #withdrawals = new Float64Array(BUDGET_BUCKETS);
  #deposited = 0;
  #withdrawn = 0;
  /** Absolute slice number (floor(now / width)) of the current bucket. */
  #slice: number;

  constructor(params: RatioBudgetParams, clock: Clock) {
    if (!(params.ratio >= 0 && params.ratio <= 1000)) throw invalid(`ratio must be within 0..1000, got ${params.ratio}`);
    if (!(params.minRetriesPerSec >= 0 && Number.isFinite(params.minRetriesPerSec))) {
      throw invalid(`minRetriesPerSec must be a non-negative number, got ${params.minRetriesPerSec}`);
    }
    if (!(params.ttlMs >= BUDGET_BUCKETS && Number.isFinite(params.ttlMs))) {
      throw invalid(`ttlMs must be at least ${BUDGET_BUCKETS} ms, got ${params.ttlMs}`);
    }
    this.#params = params;
    this.#clock = clock;
    this.#reserve = params.minRetriesPerSec * (params.ttlMs / 1000);
    this.#width = params.ttlMs / BUDGET_BUCKETS;
    this.#slice = Math.floor(clock.now() / this.#width);
  }

  requestStarted(): void {
    if (this.#params.ratio === 0) return;
    const at = this.#roll();
    this.#deposits[at] = (this.#deposits[at] ?? 0) + 1;
    this.#deposited += 1;
  }

  requestFinished(): void {}

  tryWithdraw(): boolean {
    const at = this.#roll();
    if (this.#reserve + this.#params.ratio * this.#deposited - this.#withdrawn < 1) return false;
    this.#withdrawals[at] = (this.#withdrawals[at] ?? 0) + 1;
    this.#withdrawn += 1;
    return true;
  }

  retryFinished(): void {}

  balance(): number {
    this.#roll();
    return Math.max(0, Math.floor(this.#reserve + this.#params.ratio * this.#deposited - this.#withdrawn));
  }

  describe(): string {
    const { ratio, minRetriesPerSec, ttlMs } = this.#params;
    return `${+(ratio * 100).toFixed(3)} % of requests + ${minRetriesPerSec}/s over ${ttlMs / 1000} s`;
  }

  /** Expires the slices that left the window; returns the current bucket's index. */
  #roll(): number {
    const slice = Math.floor(this.#clock.now() / this.#width);
    const steps = slice - this.#slice;
    if (steps > 0) {
      if (steps >= BUDGET_BUCKETS) {
        this.#deposits.fill(0);
        this.#withdrawals.fill(0);
        this.#deposited = 0;
        this.#withdrawn = 0;
      } else {
        for (let i = 1; i <= steps; i++) {
          const at = bucketOf(this.#slice + i);
          this.#deposited -= this.#deposits[at] ?? 0;
          this.#withdrawn -= this.#withdrawals[at] ?? 0;
          this.#deposits[at] = 0;
          this.#withdrawals[at] = 0;
        }
      }
      this.#slice = slice;
    }
    // A clock that steps back (it should not) keeps writing into the current bucket.
    return bucketOf(this.#slice);
  }
}

function bucketOf(slice: number): number {
  return ((slice % BUDGET_BUCKETS) + BUDGET_BUCKETS) % BUDGET_BUCKETS;
}

export class ConcurrencyRetryBudget implements RetryBudget {
  readonly kind = 'concurrency';
  readonly #params: ConcurrencyBudgetParams;
  #requests = 0;
  #retries = 0;

  constructor(params: ConcurrencyBudgetParams) {
    if (!(params.ratio >= 0 && Number.isFinite(params.ratio))) throw invalid(`ratio must be a non-negative number, got ${params.ratio}`);
    if (!(Number.isInteger(params.minConcurrency) && params.minConcurrency >= 0)) {
      throw invalid(`minConcurrency must be a non-negative integer, got ${params.minConcurrency}`);
    }
    this.#params = params;
  }

  get activeRequests(): number {
    return this.#requests;
  }

  get activeRetries(): number {
    return this.#retries;
  }

  requestStarted(): void {
    this.#requests += 1;
  }

  requestFinished(): void {
    if (this.#requests > 0) this.#requests -= 1;
  }

  tryWithdraw(): boolean {
    if (this.#retries >= this.#limit()) return false;
    this.#retries += 1;
    return true;
  }

  retryFinished(): void {
    if (this.#retries > 0) this.#retries -= 1;
  }

  balance(): number {
    return Math.max(0, this.#limit() - this.#retries);
  }

  describe(): string {
    return `${+(this.#params.ratio * 100).toFixed(3)} % of requests in flight, at least ${this.#params.minConcurrency}`;
  }

  #limit(): number {
    return Math.max(this.#params.minConcurrency, Math.floor(this.#params.ratio * this.#requests));
  }
}

export function newRetryBudget(params: RetryBudgetParams, clock: Clock): RetryBudget {
  return params.kind === 'ratio' ? new RatioRetryBudget(params, clock) : new ConcurrencyRetryBudget(params);
}
