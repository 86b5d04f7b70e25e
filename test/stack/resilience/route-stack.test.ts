// The whole route stack in the order the outbound wiring will push it:
// load-shed → deadline → retry + budget → balance (P2C peak-EWMA) → failure accrual → endpoint.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balanceLayer, balanceParams } from '../../../agent/balance/balance-layer.ts';
import type { EndpointAddress } from '../../../agent/balance/endpoint-set.ts';
import { seededRandom } from '../../../agent/balance/random.ts';
import { admissionLayer } from '../../../agent/resilience/admission-layer.ts';
import { admissionParams } from '../../../agent/resilience/admission.ts';
import { breakerLayer } from '../../../agent/resilience/breaker-layer.ts';
import { deadlineParams } from '../../../agent/resilience/deadline.ts';
import { deadlineLayer } from '../../../agent/resilience/deadline-layer.ts';
import type { BreakerTransition } from '../../../agent/resilience/failure-accrual.ts';
import { classifyForBreaker, failureAccrualParams } from '../../../agent/resilience/failure-accrual.ts';
import type { RetryEvent } from '../../../agent/resilience/retry-layer.ts';
import { retryLayer, retryLayerParams } from '../../../agent/resilience/retry-layer.ts';
import type { Service } from '../../../agent/stack/service.ts';
import { buildStack } from '../../../agent/stack/service.ts';
import { FakeClock } from '../../unit/balance/fake-clock.ts';
import type { FakeReq, FakeRes } from '../balance/fakes.ts';
import { addresses, FakeCluster, newContext, resultOf } from '../balance/fakes.ts';

function route() {
  const clock = new FakeClock();
  const random = seededRandom(11);
  const cluster = new FakeCluster(clock);
  const transitions: BreakerTransition[] = [];
  const events: RetryEvent[] = [];
  const breakers = breakerLayer<FakeReq, FakeRes>(failureAccrualParams, {
    clock,
    random,
    classify: (res) => classifyForBreaker(res.status),
    onTransition: (t) => transitions.push(t),
  });
  const balancer = balanceLayer<FakeReq, FakeRes, EndpointAddress>(balanceParams, { clock, random }).wrap((endpoint) => breakers.wrap(cluster.newEndpoint(endpoint)));
  const stack = buildStack<Service<FakeReq, FakeRes>>(balancer, [
    admissionLayer(admissionParams, { sourceOf: (req) => req.source ?? 'unknown' }),
    deadlineLayer(deadlineParams, { clock, wallClock: () => 1_700_000_000_000 + clock.now(), incoming: () => ({}) }),
    retryLayer(retryLayerParams, { clock, random, request: (r) => ({ method: r.method, bodyBytes: r.bodyBytes }), result: resultOf, onEvent: (e) => events.push(e) }),
  ]);
  return { clock, cluster, balancer, stack, transitions, events };
}

describe('route stack', () => {
  it('lists its layers outermost first for /status', () => {
    assert.deepEqual(route().stack.roles, ['load-shed (100000 in flight, ≤ 50 % per source)', 'deadline (route 10000 ms)', 'retry (at most 1, ratio budget)']);
  });

  it('hides a dead endpoint from callers: refused connections are retried elsewhere, then it is ejected', async () => {
    const r = route();
    r.cluster.set('10.0.0.2:80', { kind: 'refuse' });
    r.balancer.update({ kind: 'reset', endpoints: addresses(1, 2, 3) });
    const calls: Promise<FakeRes>[] = [];
    for (let i = 0; i < 150; i++) {
      calls.push(r.stack.service.call({ method: 'POST', bodyBytes: 512, source: 'web-1' }, newContext().cx));
      await r.clock.advanceAsync(5, 5);
    }
    await r.clock.advanceAsync(100, 10);
    const results = await Promise.allSettled(calls);
    assert.equal(results.filter((x) => x.status === 'fulfilled' && x.value.status === 200).length, 150, 'every request succeeded');
    assert.deepEqual(r.transitions.map((t) => `${t.to} ${t.reason}`), ['open consecutive-failures']);
    const dead = r.cluster.get('10.0.0.2:80').calls.length;
    assert.equal(dead, 7, 'seven refusals, then no more traffic until the probe');
    assert.equal(r.events.filter((e) => e.kind === 'retry').length, 7);
  });

  it('answers a timed-out request with the deadline error even while retries are pending', async () => {
    const r = route();
    for (const e of addresses(1, 2)) r.cluster.set(`${e.address}:80`, { kind: 'hang' });
    r.balancer.update({ kind: 'reset', endpoints: addresses(1, 2) });
    const call = r.stack.service.call({ method: 'GET', bodyBytes: 0 }, newContext().cx);
    let error: unknown;
    call.catch((e: unknown) => (error = e));
    await r.clock.advanceAsync(10_000, 500);
    assert.match(String(error), /deadline exceeded: the route timeout of 10000 ms/);
    assert.equal(r.balancer.snapshot().pending, 0, 'the hung attempt was aborted and its slot freed');
  });
});
