import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seededRandom } from '../../../agent/balance/random.ts';
import { isWeftError } from '../../../agent/errors.ts';
import type { AccrualOutcome, BreakerTransition, FailureAccrualParams } from '../../../agent/resilience/failure-accrual.ts';
import {
  classifyForBreaker,
  FailureAccrual,
  failureAccrualParams,
  IGNORED_TICKET,
  SuccessRateWindow,
  successRateParams,
} from '../../../agent/resilience/failure-accrual.ts';
import { FakeClock } from '../balance/fake-clock.ts';

function breaker(params: Partial<FailureAccrualParams> = {}, seed = 1) {
  const clock = new FakeClock();
  const transitions: BreakerTransition[] = [];
  const accrual = new FailureAccrual({ ...failureAccrualParams, ...params }, { clock, random: seededRandom(seed), onTransition: (t) => transitions.push(t) });
  const call = (outcome: AccrualOutcome, retryAfterMs?: number): void => accrual.record(accrual.begin(), outcome, retryAfterMs);
  const calls = (n: number, outcome: AccrualOutcome): void => {
    for (let i = 0; i < n; i++) call(outcome);
  };
  return { clock, accrual, transitions, call, calls };
}

const noSuccessRate = { successRate: undefined };

describe('FailureAccrual defaults', () => {
  it('are Linkerd 2\'s: 7 in a row, 1-60 s ejection with jitter 0.5, success rate 0.8 over 10 s; Retry-After up to 60 s', () => {
    assert.equal(failureAccrualParams.consecutiveFailures, 7);
    assert.deepEqual(failureAccrualParams.backoff, { minMs: 1_000, maxMs: 60_000, jitter: 0.5 });
    assert.deepEqual(successRateParams, { threshold: 0.8, windowMs: 10_000, minRequests: 10 });
    assert.equal(failureAccrualParams.retryAfterMaxMs, 60_000);
  });
});

describe('FailureAccrual: consecutive failures', () => {
  it('ejects after the 7th failure in a row, not the 6th', () => {
    const b = breaker(noSuccessRate);
    b.calls(6, 'failure');
    assert.equal(b.accrual.state(), 'closed');
    b.call('failure');
    assert.equal(b.accrual.state(), 'open');
    assert.equal(b.accrual.available(), false);
    const [opened] = b.transitions;
    assert.ok(opened);
    assert.deepEqual([opened.from, opened.to, opened.reason], ['closed', 'open', 'consecutive-failures']);
    assert.ok(opened.ejectMs !== undefined && opened.ejectMs >= 1_000 && opened.ejectMs <= 1_500);
  });

  it('starts counting again after a success', () => {
    const b = breaker(noSuccessRate);
    b.calls(6, 'failure');
    b.call('success');
    b.calls(6, 'failure');
    assert.equal(b.accrual.state(), 'closed');
  });

  it('probes once after the backoff: success closes, and the next ejection starts from 1 s again', () => {
    const b = breaker({ ...noSuccessRate, backoff: { minMs: 1_000, maxMs: 60_000, jitter: 0 } });
    b.calls(7, 'failure');
    b.clock.advance(999);
    assert.equal(b.accrual.available(), false);
    b.clock.advance(1);
    assert.equal(b.accrual.state(), 'half-open');
    assert.equal(b.accrual.available(), true);
    const probe = b.accrual.begin();
    assert.equal(b.accrual.available(), false, 'one probe at a time');
    assert.equal(b.accrual.begin(), IGNORED_TICKET);
    b.accrual.record(probe, 'success');
    assert.equal(b.accrual.state(), 'closed');
    b.calls(7, 'failure');
    assert.equal(b.transitions.at(-1)?.ejectMs, 1_000);
    assert.deepEqual(
      b.transitions.map((t) => `${t.from}→${t.to} ${t.reason}`),
      ['closed→open consecutive-failures', 'open→half-open backoff-elapsed', 'half-open→closed probe-succeeded', 'closed→open consecutive-failures'],
    );
  });

  it('re-opens on a failed probe for twice as long, up to 60 s', () => {
    const b = breaker({ ...noSuccessRate, backoff: { minMs: 1_000, maxMs: 60_000, jitter: 0 } });
    b.calls(7, 'failure');
    const ejections: number[] = [];
    for (let i = 0; i < 8; i++) {
      b.clock.advance(b.transitions.at(-1)?.ejectMs ?? 0);
      assert.equal(b.accrual.state(), 'half-open');
      b.call('failure');
      ejections.push(b.transitions.at(-1)?.ejectMs ?? -1);
    }
    assert.deepEqual(ejections, [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    assert.equal(b.transitions.at(-1)?.reason, 'probe-failed');
  });

  it('jitters each ejection within [base, 1.5 × base]', () => {
    for (let seed = 1; seed < 30; seed++) {
      const b = breaker(noSuccessRate, seed);
      b.calls(7, 'failure');
      const ms = b.transitions[0]?.ejectMs ?? 0;
      assert.ok(ms >= 1_000 && ms <= 1_500, `${ms}`);
    }
  });
});

describe('FailureAccrual: success rate', () => {
  it('ejects an endpoint failing 3 in 10 that never fails 7 in a row', () => {
    const b = breaker();
    for (let i = 0; i < 9; i++) b.call(i % 3 === 0 ? 'failure' : 'success');
    assert.equal(b.accrual.state(), 'closed', '3 of 9 failed, but 10 are needed before the ratio counts');
    b.call('failure');
    assert.equal(b.accrual.state(), 'open');
    assert.equal(b.transitions[0]?.reason, 'success-rate');
  });

  it('forgets outcomes older than the window', () => {
    const b = breaker();
    b.calls(4, 'failure');
    b.clock.advance(11_000);
    b.calls(8, 'success');
    b.calls(2, 'failure');
    assert.equal(b.accrual.state(), 'closed', '2 of 10 failed in the window: exactly 0.8 is not below 0.8');
  });

  it('counts throttling against the rate but not as a failure in a row', () => {
    const b = breaker({ successRate: undefined });
    b.calls(20, 'throttled');
    assert.equal(b.accrual.state(), 'closed');
    const sr = breaker({ consecutiveFailures: 0 });
    sr.calls(10, 'throttled');
    assert.equal(sr.accrual.state(), 'open');
  });
});

describe('FailureAccrual: Retry-After and stale results', () => {
  it('ejects for the Retry-After of the response that tripped it, bounded to [1 s, 60 s]', () => {
    for (const [retryAfterMs, expected] of [[30_000, 30_000], [600_000, 60_000], [200, 1_000]] as const) {
      const b = breaker(noSuccessRate);
      b.calls(6, 'failure');
      b.call('failure', retryAfterMs);
      assert.equal(b.transitions[0]?.ejectMs, expected);
      assert.equal(b.transitions[0]?.retryAfter, true);
    }
    const ignoring = breaker({ ...noSuccessRate, retryAfterMaxMs: 0 });
    ignoring.calls(6, 'failure');
    ignoring.call('failure', 30_000);
    assert.ok((ignoring.transitions[0]?.ejectMs ?? 0) <= 1_500);
  });

  it('fails a probe answered with throttling', () => {
    const b = breaker(noSuccessRate);
    b.calls(7, 'failure');
    b.clock.advance(60_000);
    b.call('throttled', 5_000);
    assert.equal(b.accrual.state(), 'open');
    assert.equal(b.transitions.at(-1)?.ejectMs, 5_000);
  });

  it('ignores results of calls that began before the last transition', () => {
    const b = breaker(noSuccessRate);
    const early = b.accrual.begin();
    b.calls(7, 'failure');
    b.clock.advance(60_000);
    assert.equal(b.accrual.state(), 'half-open');
    b.accrual.record(early, 'success');
    assert.equal(b.accrual.state(), 'half-open', 'a pre-trip success is not the probe');
  });

  it('does not let failures of calls from before an ejection count once it has closed again', () => {
    const b = breaker(noSuccessRate);
    const stragglers = Array.from({ length: 7 }, () => b.accrual.begin());
    b.calls(7, 'failure');
    b.clock.advance(60_000);
    b.call('success');
    assert.equal(b.accrual.state(), 'closed');
    for (const ticket of stragglers) b.accrual.record(ticket, 'failure');
    assert.equal(b.accrual.state(), 'closed');
    assert.equal(b.accrual.consecutiveFailures, 0);
  });

  it('frees the probe slot when the probe is abandoned', () => {
    const b = breaker(noSuccessRate);
    b.calls(7, 'failure');
    b.clock.advance(60_000);
    const probe = b.accrual.begin();
    assert.equal(b.accrual.available(), false);
    b.accrual.abandon(probe);
    assert.equal(b.accrual.available(), true);
  });

  it('rejects nonsense params', () => {
    for (const bad of [{ consecutiveFailures: -1 }, { successRate: { threshold: 2, windowMs: 10_000, minRequests: 5 } }, { successRate: { threshold: 0.8, windowMs: 0, minRequests: 5 } }]) {
      assert.throws(() => breaker(bad), isWeftError);
    }
  });
});

describe('FailureAccrual: invariants', () => {
  it('moves only closed→open→half-open→(closed|open), reports every move, and never has two probes out', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('begin' as const) }),
      fc.record({ kind: fc.constant('end' as const), pick: fc.nat(), outcome: fc.constantFrom<AccrualOutcome>('success', 'failure', 'failure', 'throttled') }),
      fc.record({ kind: fc.constant('abandon' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 70_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.integer(), (ops, seed) => {
        const b = breaker({ consecutiveFailures: 3, successRate: { threshold: 0.8, windowMs: 10_000, minRequests: 4 } }, seed);
        const open: number[] = [];
        let state = b.accrual.state();
        let seen = 0;
        for (const o of ops) {
          if (o.kind === 'begin') {
            const ticket = b.accrual.begin();
            // A probe ticket names its epoch: the same one twice means two probes out at once.
            if (ticket % 2 === 1) assert.ok(!open.includes(ticket), 'a second probe while one is out');
            if (ticket !== IGNORED_TICKET) open.push(ticket);
          } else if (o.kind === 'wait') {
            b.clock.advance(o.ms);
          } else if (open.length > 0) {
            const [ticket] = open.splice(o.pick % open.length, 1);
            if (ticket === undefined) continue;
            if (o.kind === 'end') b.accrual.record(ticket, o.outcome);
            else b.accrual.abandon(ticket);
          }
          const now = b.accrual.state();
          for (const t of b.transitions.slice(seen)) {
            assert.equal(t.from, state);
            assert.ok(
              (t.from === 'closed' && t.to === 'open') || (t.from === 'open' && t.to === 'half-open') || (t.from === 'half-open' && (t.to === 'closed' || t.to === 'open')),
              `${t.from}→${t.to}`,
            );
            state = t.to;
          }
          seen = b.transitions.length;
          assert.equal(now, state);
          if (now === 'open') assert.equal(b.accrual.available(), false);
        }
      }),
    );
  });
});

describe('SuccessRateWindow', () => {
  it('counts exactly within the window and clears after a long gap', () => {
    const w = new SuccessRateWindow(10_000, 0);
    w.record(true, 0);
    w.record(false, 5_000);
    assert.deepEqual([w.successes(9_999), w.total(9_999)], [1, 2]);
    assert.deepEqual([w.successes(10_000), w.total(10_000)], [0, 1]);
    assert.equal(w.total(100_000), 0);
  });
});

describe('classifyForBreaker', () => {
  it('treats 5xx and server-fault gRPC codes as failures and 429 / RESOURCE_EXHAUSTED as throttling', () => {
    assert.equal(classifyForBreaker(200), 'success');
    assert.equal(classifyForBreaker(404), 'success');
    assert.equal(classifyForBreaker(503), 'failure');
    assert.equal(classifyForBreaker(429), 'throttled');
    assert.equal(classifyForBreaker(200, 0), 'success');
    assert.equal(classifyForBreaker(200, 14), 'failure');
    assert.equal(classifyForBreaker(200, 8), 'throttled');
    assert.equal(classifyForBreaker(200, 5), 'success');
  });
});
