import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutcomeWindow } from '../../../agent/telemetry/outcome-window.ts';
import { burnRate, SloTracker, sloParams } from '../../../agent/telemetry/slo.ts';
import { failureReason, RecentFailures } from '../../../agent/telemetry/recent-failures.ts';
import { FakeClock } from '../balance/fake-clock.ts';

const MIN = 60_000;

describe('burnRate', () => {
  it('is the bad share over the allowed share', () => {
    assert.equal(burnRate(0, 100, 0.999), 0);
    assert.ok(Math.abs((burnRate(1, 1000, 0.999) ?? 0) - 1) < 1e-9, 'exactly the budget: 1');
    assert.ok(Math.abs((burnRate(10, 100, 0.99) ?? 0) - 10) < 1e-9);
  });
  it('has no value without requests, and is unbounded for a 100 % objective with a failure', () => {
    assert.equal(burnRate(0, 0, 0.999), undefined);
    assert.equal(burnRate(1, 10, 1), Infinity);
    assert.equal(burnRate(0, 10, 1), 0);
  });
});

describe('OutcomeWindow', () => {
  it('counts requests, failures and slow ones per window; old buckets fall out', () => {
    const w = new OutcomeWindow(100);
    w.record(0, true, 10);
    w.record(1_000, false, 500);
    assert.deepEqual(w.counts(2_000, 5 * MIN), { requests: 2, failures: 1, slow: 1 });
    // 6 minutes later: outside 5 m, still inside 1 h.
    w.record(6 * MIN, true, 10);
    assert.deepEqual(w.counts(6 * MIN, 5 * MIN), { requests: 1, failures: 0, slow: 0 });
    assert.deepEqual(w.counts(6 * MIN, 60 * MIN), { requests: 3, failures: 1, slow: 1 });
    // Past an hour the first two are gone, even though their ring slots were never reused.
    assert.deepEqual(w.counts(61 * MIN, 60 * MIN), { requests: 1, failures: 0, slow: 0 });
    assert.deepEqual(w.counts(2 * 60 * MIN, 60 * MIN), { requests: 0, failures: 0, slow: 0 });
  });

  it('reuses a ring slot an hour later without carrying the old counts', () => {
    const w = new OutcomeWindow(100);
    w.record(5_000, false, 1);
    w.record(60 * MIN + 5_000, true, 1);
    assert.deepEqual(w.counts(60 * MIN + 5_000, 10_000), { requests: 1, failures: 0, slow: 0 });
  });

  it('estimates p50 and p99 within 20 % and forgets latencies older than 5 minutes', () => {
    const w = new OutcomeWindow(1000);
    for (let i = 1; i <= 1000; i++) w.record(i, true, i); // 1..1000 ms
    const [p50, p99] = w.quantiles(2_000, [0.5, 0.99]);
    assert.ok(p50 !== undefined && Math.abs(p50 - 500) / 500 < 0.2, `p50 ${p50}`);
    assert.ok(p99 !== undefined && Math.abs(p99 - 990) / 990 < 0.2, `p99 ${p99}`);
    assert.deepEqual(w.quantiles(6 * MIN, [0.5]), [undefined]);
    w.record(6 * MIN, true, 40);
    const [only] = w.quantiles(6 * MIN, [0.99]);
    assert.ok(only !== undefined && only > 32 && only <= 48, `p99 of one 40 ms request: ${only}`);
  });
});

describe('SloTracker', () => {
  it('reports success rate and burn rates over 5 m and 1 h with a fake clock', () => {
    const clock = new FakeClock(0);
    const slo = new SloTracker({ ...sloParams, successObjective: 0.99, latencyThresholdMs: 200, latencyObjective: 0.9 }, clock);
    // An hour ago-ish: 100 good, fast requests.
    for (let i = 0; i < 100; i++) slo.record('shop/web:http', true, 10);
    clock.advance(50 * MIN);
    // Now: 10 requests, 2 failed, 5 slow.
    for (let i = 0; i < 10; i++) slo.record('shop/web:http', i >= 2, i < 5 ? 300 : 10);
    const s = slo.status('shop/web:http');
    assert.ok(s !== undefined);
    assert.equal(s.windows['5m'].requests, 10);
    assert.equal(s.windows['5m'].successRate, 0.8);
    assert.ok(Math.abs((s.windows['5m'].burnRate.success ?? 0) - 20) < 1e-9, '20 % failing against a 1 % budget: 20');
    assert.ok(Math.abs((s.windows['5m'].burnRate.latency ?? 0) - 5) < 1e-9, '50 % slow against a 10 % budget: 5');
    assert.equal(s.windows['1h'].requests, 110);
    assert.ok(Math.abs((s.windows['1h'].burnRate.success ?? 0) - (2 / 110) / 0.01) < 1e-9);
    assert.deepEqual(s.burning, [], 'the 1 h burn (1.8) is below 14.4');
    assert.deepEqual(s.objectives, { success: 0.99, latency: { thresholdMs: 200, objective: 0.9 }, alertBurnRate: 14.4 });
  });

  it('flags an objective as burning only when both windows are at or above the alert rate', () => {
    const clock = new FakeClock(0);
    const slo = new SloTracker(sloParams, clock);
    for (let i = 0; i < 100; i++) slo.record('a', i % 2 === 0, 5);
    assert.deepEqual(slo.status('a')?.burning, ['success'], '50 % failures against 0.1 %: 500 over both windows');
    clock.advance(6 * MIN);
    for (let i = 0; i < 100; i++) slo.record('a', true, 5);
    const s = slo.status('a');
    assert.equal(s?.windows['5m'].burnRate.success, 0);
    assert.deepEqual(s?.burning, [], 'the 5 m window has recovered');
  });

  it('has null rates for a window without requests and forgets routes quiet for over an hour', () => {
    const clock = new FakeClock(0);
    const slo = new SloTracker(sloParams, clock);
    slo.record('a', false, 5);
    clock.advance(10 * MIN);
    const s = slo.status('a');
    assert.equal(s?.windows['5m'].successRate, null);
    assert.equal(s?.windows['5m'].burnRate.success, null);
    assert.equal(s?.latencyMs.p99, null);
    assert.equal(s?.windows['1h'].successRate, 0);
    assert.deepEqual(slo.burnSamples().map((b) => `${b.objective}/${b.window}`), ['success/1h', 'latency/1h'], 'no samples for an empty window');
    clock.advance(61 * MIN);
    assert.deepEqual(slo.all(), []);
  });

  it('takes objectives per route from the function it is given', () => {
    const clock = new FakeClock(0);
    const slo = new SloTracker((authority) => (authority === 'pay/ledger:grpc' ? { ...sloParams, successObjective: 0.9999 } : sloParams), clock);
    slo.record('pay/ledger:grpc', true, 1);
    slo.record('shop/web:http', true, 1);
    assert.deepEqual(slo.objectiveSamples().filter((o) => o.objective === 'success').map((o) => [o.authority, o.value]), [['pay/ledger:grpc', 0.9999], ['shop/web:http', 0.999]]);
  });
});

describe('SloTracker route cap', () => {
  it('counts routes past the cap together as "overflow", and makes room once old ones go quiet', () => {
    const clock = new FakeClock(0);
    const slo = new SloTracker(sloParams, clock, { maxRoutes: 2 });
    slo.record('a', true, 1);
    slo.record('b', true, 1);
    slo.record('c', false, 1);
    slo.record('d', false, 1);
    assert.deepEqual(slo.all().map((s) => [s.authority, s.windows['5m'].requests]), [['a', 1], ['b', 1], ['overflow', 2]]);
    clock.advance(2 * 60 * MIN);
    slo.record('e', true, 1);
    assert.deepEqual(slo.all().map((s) => s.authority), ['e']);
  });
});

describe('RecentFailures', () => {
  const failure = (n: number): Parameters<RecentFailures['add']>[0] => ({
    at: new Date(n).toISOString(), authority: 'a', source: 'ns/p', status: 503, grpcStatus: undefined, error: undefined, reason: `r${n}`, latencyMs: 1,
  });
  it('keeps the latest ones, newest first', () => {
    const ring = new RecentFailures(3);
    for (let i = 1; i <= 2; i++) ring.add(failure(i));
    assert.deepEqual(ring.list().map((f) => f.reason), ['r2', 'r1']);
    for (let i = 3; i <= 7; i++) ring.add(failure(i));
    assert.deepEqual(ring.list().map((f) => f.reason), ['r7', 'r6', 'r5']);
    assert.equal(ring.total, 7);
  });
  it('says why: weft’s message with its code, else what the upstream answered', () => {
    assert.equal(failureReason(504, undefined, 'WEFT_E_X', 'deadline passed'), 'deadline passed (WEFT_E_X, weft answered 504)');
    assert.equal(failureReason(503, undefined, undefined, undefined), 'upstream answered HTTP 503');
    assert.equal(failureReason(504, undefined, 'WEFT_E_RESILIENCE_DEADLINE_EXCEEDED', undefined), 'deadline exceeded (WEFT_E_RESILIENCE_DEADLINE_EXCEEDED, weft answered 504)');
    assert.equal(failureReason(502, undefined, 'WEFT_E_SOMETHING_NEW', undefined), 'WEFT_E_SOMETHING_NEW (WEFT_E_SOMETHING_NEW, weft answered 502)');
    assert.equal(failureReason(200, 14, undefined, undefined), 'upstream answered gRPC status 14');
  });
});
