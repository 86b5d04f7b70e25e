import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balanceLayer, balanceParams } from '../../../agent/balance/balance-layer.ts';
import type { EndpointAddress } from '../../../agent/balance/endpoint-set.ts';
import { endpointKey } from '../../../agent/balance/endpoint-set.ts';
import { seededRandom } from '../../../agent/balance/random.ts';
import { WeftError } from '../../../agent/errors.ts';
import { breakerLayer, classifyErrorForBreaker } from '../../../agent/resilience/breaker-layer.ts';
import type { BreakerTransition, FailureAccrualParams } from '../../../agent/resilience/failure-accrual.ts';
import { classifyForBreaker, failureAccrualParams } from '../../../agent/resilience/failure-accrual.ts';
import { FakeClock } from '../../unit/balance/fake-clock.ts';
import type { FakeReq, FakeRes } from '../balance/fakes.ts';
import { addresses, FakeCluster, newContext, ok, status } from '../balance/fakes.ts';

function setup(params: Partial<FailureAccrualParams> = {}) {
  const clock = new FakeClock();
  const random = seededRandom(3);
  const cluster = new FakeCluster(clock);
  const transitions: Array<BreakerTransition & { key: string }> = [];
  const accrual: FailureAccrualParams = { ...failureAccrualParams, successRate: undefined, backoff: { minMs: 1_000, maxMs: 60_000, jitter: 0 }, ...params };
  // The endpoint stack: one breaker per endpoint, its transitions labelled with the endpoint.
  const newEndpoint = (endpoint: EndpointAddress) =>
    breakerLayer<FakeReq, FakeRes>(accrual, {
      clock,
      random,
      classify: (res) => classifyForBreaker(res.status, res.grpcStatus),
      retryAfterMs: (res) => res.retryAfterMs,
      onTransition: (t) => transitions.push({ ...t, key: endpointKey(endpoint) }),
    }).wrap(cluster.newEndpoint(endpoint));
  const balancer = balanceLayer<FakeReq, FakeRes, EndpointAddress>({ ...balanceParams, algorithm: 'round-robin' }, { clock, random }).wrap(newEndpoint);
  const send = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const call = balancer.call({ method: 'GET', bodyBytes: 0 }, newContext().cx).catch(() => undefined);
      await clock.advanceAsync(10, 10);
      await call;
    }
  };
  return { clock, cluster, balancer, transitions, send };
}

describe('breakerLayer under a balancer', () => {
  it('ejects an endpoint after 7 failures in a row, then sends it one probe after the backoff', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', status(500));
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2, 3) });
    await s.send(21); // round robin: 7 each
    assert.deepEqual(s.transitions.map((t) => `${t.key} ${t.to}`), ['10.0.0.1:80 open']);
    assert.equal(s.balancer.snapshot().endpoints.find((e) => e.key === '10.0.0.1:80')?.available, false);
    const before = s.cluster.get('10.0.0.1:80').calls.length;
    await s.send(30); // 300 ms: still ejected
    assert.equal(s.cluster.get('10.0.0.1:80').calls.length, before, 'no traffic while ejected');
    s.cluster.set('10.0.0.1:80', ok());
    await s.clock.advanceAsync(1_000, 100);
    await s.send(30);
    assert.deepEqual(s.transitions.map((t) => `${t.to} ${t.reason}`), ['open consecutive-failures', 'half-open backoff-elapsed', 'closed probe-succeeded']);
    assert.ok(s.cluster.get('10.0.0.1:80').calls.length >= before + 9, 'back in rotation after the probe');
  });

  it('re-ejects for longer when the probe fails', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', status(503));
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2) });
    await s.send(14);
    await s.clock.advanceAsync(1_000, 100);
    await s.send(4);
    assert.deepEqual(s.transitions.map((t) => `${t.to} ${t.reason} ${t.ejectMs ?? ''}`.trim()), ['open consecutive-failures 1000', 'half-open backoff-elapsed', 'open probe-failed 2000']);
  });

  it('honours Retry-After on the response that trips the breaker', async () => {
    const s = setup({ consecutiveFailures: 1 });
    s.cluster.set('10.0.0.1:80', status(503, 5, 30_000));
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2) });
    await s.send(2);
    assert.equal(s.transitions[0]?.ejectMs, 30_000);
    assert.equal(s.transitions[0]?.retryAfter, true);
  });

  it('keeps sending to ejected endpoints in panic rather than failing everything', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', status(500));
    s.cluster.set('10.0.0.2:80', status(500));
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2) });
    await s.send(14);
    assert.equal(s.transitions.filter((t) => t.to === 'open').length, 2);
    const before = s.cluster.journal().length;
    await s.send(10);
    assert.equal(s.cluster.journal().length, before + 10, 'both ejected (100 % > 50 %): traffic still flows');
  });

  it('does not count cancelled calls against the endpoint', () => {
    assert.equal(classifyErrorForBreaker(new WeftError('WEFT_E_RESILIENCE_DEADLINE_EXCEEDED', 'late', { flags: { interrupted: true } })), 'ignore');
    assert.equal(classifyErrorForBreaker(new DOMException('aborted', 'AbortError')), 'ignore');
    assert.equal(classifyErrorForBreaker(new Error('read ECONNRESET')), 'failure');
  });

  it('counts refused connections as failures', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', { kind: 'refuse' });
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2) });
    await s.send(14);
    assert.deepEqual(s.transitions.map((t) => `${t.key} ${t.to}`), ['10.0.0.1:80 open']);
  });

  it('names its conditions for /status', () => {
    const layer = breakerLayer<FakeReq, FakeRes>(failureAccrualParams, { clock: new FakeClock(), random: seededRandom(1), classify: () => 'success' });
    assert.equal(layer.role, 'failure-accrual (7 in a row, success < 0.8 over 10 s)');
  });
});
