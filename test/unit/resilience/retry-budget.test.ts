import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isWeftError } from '../../../agent/errors.ts';
import {
  BUDGET_BUCKETS,
  ConcurrencyRetryBudget,
  concurrencyBudgetParams,
  newRetryBudget,
  RatioRetryBudget,
  ratioBudgetParams,
  retryBudgetParams,
} from '../../../agent/resilience/retry-budget.ts';
import { FakeClock } from '../balance/fake-clock.ts';

describe('RatioRetryBudget', () => {
  it('defaults to Finagle/Linkerd: 20 % of requests + 10 retries/s over a 10 s window', () => {
    assert.deepEqual(ratioBudgetParams, { kind: 'ratio', ratio: 0.2, minRetriesPerSec: 10, ttlMs: 10_000 });
    assert.equal(retryBudgetParams, ratioBudgetParams);
  });

  it('grants the reserve to a client that has sent nothing yet, then refuses', () => {
    const budget = new RatioRetryBudget(ratioBudgetParams, new FakeClock());
    assert.equal(budget.balance(), 100);
    let granted = 0;
    while (budget.tryWithdraw()) granted += 1;
    assert.equal(granted, 100);
    assert.equal(budget.balance(), 0);
  });

  it('earns one retry per five requests on top of the reserve', () => {
    const budget = new RatioRetryBudget({ kind: 'ratio', ratio: 0.2, minRetriesPerSec: 0, ttlMs: 10_000 }, new FakeClock());
    assert.equal(budget.tryWithdraw(), false);
    for (let i = 0; i < 4; i++) budget.requestStarted();
    assert.equal(budget.tryWithdraw(), false);
    budget.requestStarted();
    assert.equal(budget.tryWithdraw(), true);
    assert.equal(budget.tryWithdraw(), false);
  });

  it('forgets deposits and withdrawals once they leave the window', () => {
    const clock = new FakeClock(0);
    const budget = new RatioRetryBudget({ kind: 'ratio', ratio: 1, minRetriesPerSec: 0, ttlMs: 10_000 }, clock);
    for (let i = 0; i < 10; i++) budget.requestStarted();
    clock.advance(5_000);
    assert.equal(budget.balance(), 10);
    clock.advance(5_000); // the slice holding the deposits is now 10 slices old
    assert.equal(budget.balance(), 0);
    assert.equal(budget.tryWithdraw(), false);
  });

  it('never grants with a zero ratio and no reserve', () => {
    const budget = new RatioRetryBudget({ kind: 'ratio', ratio: 0, minRetriesPerSec: 0, ttlMs: 10_000 }, new FakeClock());
    for (let i = 0; i < 100; i++) budget.requestStarted();
    assert.equal(budget.tryWithdraw(), false);
  });

  it('describes itself for refusal messages', () => {
    assert.equal(new RatioRetryBudget(ratioBudgetParams, new FakeClock()).describe(), '20 % of requests + 10/s over 10 s');
  });

  it('rejects nonsense params', () => {
    for (const bad of [
      { ...ratioBudgetParams, ratio: -1 },
      { ...ratioBudgetParams, minRetriesPerSec: Number.NaN },
      { ...ratioBudgetParams, ttlMs: 0 },
    ]) {
      assert.throws(() => new RatioRetryBudget(bad, new FakeClock()), (e: unknown) => isWeftError(e) && e.code === 'WEFT_E_RESILIENCE_PARAMS');
    }
  });

  // A sequence of requests and retry asks, each after a gap; the budget sees them on a fake clock.
  const events = (maxGap: number) =>
    fc.array(fc.record({ gap: fc.nat({ max: maxGap }), what: fc.constantFrom('request' as const, 'retry' as const) }), { maxLength: 300 });
  const params = fc.record({
    kind: fc.constant('ratio' as const),
    ratio: fc.constantFrom(0, 0.05, 0.2, 0.3, 0.57, 1, 2.5),
    minRetriesPerSec: fc.constantFrom(0, 0.5, 1, 3, 10),
    ttlMs: fc.constantFrom(1_000, 10_000),
  });

  it('grants at most ratio × requests + minRetriesPerSec × ttl seconds over a sequence shorter than the window', () => {
    fc.assert(
      fc.property(params, events(20), (p, sequence) => {
        const clock = new FakeClock(0);
        const budget = new RatioRetryBudget(p, clock);
        const guaranteed = (p.ttlMs * (BUDGET_BUCKETS - 1)) / BUDGET_BUCKETS; // every entry lives at least this long
        let requests = 0;
        let granted = 0;
        for (const { gap, what } of sequence) {
          if (clock.now() + gap >= guaranteed) break;
          clock.advance(gap);
          if (what === 'request') {
            budget.requestStarted();
            requests += 1;
          } else if (budget.tryWithdraw()) {
            granted += 1;
          }
          assert.ok(granted <= p.ratio * requests + p.minRetriesPerSec * (p.ttlMs / 1000) + 1e-9, `${granted} retries after ${requests} requests`);
        }
      }),
    );
  });

  it('in every span shorter than the window, grants at most the reserve plus ratio × requests made in that span and the ttl before it', () => {
    fc.assert(
      fc.property(params, events(2_500), (p, sequence) => {
        const clock = new FakeClock(0);
        const budget = new RatioRetryBudget(p, clock);
        const requestsAt: number[] = [];
        const grantsAt: number[] = [];
        for (const { gap, what } of sequence) {
          clock.advance(gap);
          if (what === 'request') {
            budget.requestStarted();
            requestsAt.push(clock.now());
          } else if (budget.tryWithdraw()) {
            grantsAt.push(clock.now());
          }
        }
        const span = (p.ttlMs * (BUDGET_BUCKETS - 1)) / BUDGET_BUCKETS;
        const reserve = p.minRetriesPerSec * (p.ttlMs / 1000);
        // Count of times ≤ t in a sorted array.
        const upTo = (times: number[], t: number): number => {
          let lo = 0;
          let hi = times.length;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if ((times[mid] ?? 0) <= t) lo = mid + 1;
            else hi = mid;
          }
          return lo;
        };
        for (let i = 0; i < grantsAt.length; i++) {
          const start = grantsAt[i] ?? 0;
          for (let j = i; j < grantsAt.length && (grantsAt[j] ?? 0) - start < span; j++) {
            const end = grantsAt[j] ?? 0;
            // Times are whole milliseconds here, so "before start" is "at or before start - 0.5".
            const grants = upTo(grantsAt, end) - upTo(grantsAt, start - 0.5);
            const requests = upTo(requestsAt, end) - upTo(requestsAt, start - p.ttlMs);
            assert.ok(grants <= reserve + p.ratio * requests + 1e-9, `${grants} grants in [${start}, ${end}] with ${requests} requests`);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('keeps granting a steady 20 % of a steady stream once the reserve is spent', () => {
    const clock = new FakeClock(0);
    const budget = new RatioRetryBudget({ ...ratioBudgetParams, minRetriesPerSec: 0 }, clock);
    let granted = 0;
    // 100 requests/s for 60 s, each asking for one retry.
    for (let i = 0; i < 6_000; i++) {
      clock.advance(10);
      budget.requestStarted();
      if (budget.tryWithdraw()) granted += 1;
    }
    assert.ok(granted >= 1_180 && granted <= 1_200, `granted ${granted}`);
  });
});

describe('ConcurrencyRetryBudget', () => {
  it('defaults to Envoy: 20 % of requests in flight, at least 3', () => {
    assert.deepEqual(concurrencyBudgetParams, { kind: 'concurrency', ratio: 0.2, minConcurrency: 3 });
  });

  it('allows min concurrency retries when quiet and 20 % of a busy route', () => {
    const budget = new ConcurrencyRetryBudget(concurrencyBudgetParams);
    budget.requestStarted();
    assert.deepEqual([budget.tryWithdraw(), budget.tryWithdraw(), budget.tryWithdraw(), budget.tryWithdraw()], [true, true, true, false]);
    for (let i = 0; i < 99; i++) budget.requestStarted();
    assert.equal(budget.balance(), 17);
    budget.retryFinished();
    assert.equal(budget.balance(), 18);
  });

  it('never has more retries in flight than allowed at the moment each was granted', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('start', 'finish', 'retry', 'retry-done'), { maxLength: 200 }), fc.constantFrom(0, 0.1, 0.2, 1), fc.nat({ max: 5 }), (ops, ratio, minConcurrency) => {
        const budget = new ConcurrencyRetryBudget({ kind: 'concurrency', ratio, minConcurrency });
        for (const op of ops) {
          if (op === 'start') budget.requestStarted();
          else if (op === 'finish') budget.requestFinished();
          else if (op === 'retry-done') budget.retryFinished();
          else if (budget.tryWithdraw()) {
            assert.ok(budget.activeRetries <= Math.max(minConcurrency, Math.floor(ratio * budget.activeRequests)));
          }
          assert.ok(budget.activeRequests >= 0 && budget.activeRetries >= 0);
        }
      }),
    );
  });

  it('is what newRetryBudget builds for kind concurrency', () => {
    assert.equal(newRetryBudget(concurrencyBudgetParams, new FakeClock()).kind, 'concurrency');
    assert.equal(newRetryBudget(ratioBudgetParams, new FakeClock()).kind, 'ratio');
  });
});
