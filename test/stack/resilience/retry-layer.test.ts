import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balanceLayer, balanceParams } from '../../../agent/balance/balance-layer.ts';
import type { BalanceAlgorithm } from '../../../agent/balance/balance-layer.ts';
import type { EndpointAddress } from '../../../agent/balance/endpoint-set.ts';
import { seededRandom } from '../../../agent/balance/random.ts';
import { isWeftError } from '../../../agent/errors.ts';
import type { RetryBudgetParams } from '../../../agent/resilience/retry-budget.ts';
import type { RetryEvent, RetryLayerParams } from '../../../agent/resilience/retry-layer.ts';
import { retryLayer, retryLayerParams } from '../../../agent/resilience/retry-layer.ts';
import type { RetryPolicyParams } from '../../../agent/resilience/retry-policy.ts';
import { FakeClock } from '../../unit/balance/fake-clock.ts';
import type { Behavior, FakeReq, FakeRes } from '../balance/fakes.ts';
import { addresses, FakeCluster, newContext, ok, resultOf, status } from '../balance/fakes.ts';

function setup(policy: Partial<RetryPolicyParams> = {}, budget?: RetryBudgetParams, endpoints = addresses(1, 2), algorithm: BalanceAlgorithm = 'round-robin') {
  const clock = new FakeClock();
  const random = seededRandom(7);
  const cluster = new FakeCluster(clock);
  const balancer = balanceLayer<FakeReq, FakeRes, EndpointAddress>({ ...balanceParams, algorithm }, { clock, random }).wrap(cluster.newEndpoint);
  balancer.update({ kind: 'reset', endpoints });
  const events: RetryEvent[] = [];
  const discarded: FakeRes[] = [];
  const params: RetryLayerParams = { policy: { ...retryLayerParams.policy, ...policy }, budget: budget ?? retryLayerParams.budget };
  const layer = retryLayer<FakeReq, FakeRes>(params, {
    clock,
    random,
    request: (req) => ({ method: req.method, bodyBytes: req.bodyBytes }),
    result: resultOf,
    discard: (res) => discarded.push(res),
    onEvent: (e) => events.push(e),
  });
  const service = layer.wrap(balancer);
  /** Calls, then lets the fake clock run until the call settles. */
  const send = async (req: FakeReq, deadline?: number): Promise<FakeRes> => {
    const call = service.call(req, newContext(deadline).cx);
    let settled = false;
    call.then(() => (settled = true), () => (settled = true));
    for (let i = 0; i < 2_000 && !settled; i++) await clock.advanceAsync(5, 5);
    return call;
  };
  return { clock, cluster, layer, service, events, discarded, send };
}

const GET: FakeReq = { method: 'GET', bodyBytes: 0 };

/** The first call to any endpoint of the cluster behaves as `first`, every later one answers 200. */
function firstCall(s: ReturnType<typeof setup>, first: Behavior): void {
  let calls = 0;
  const behavior = (): Behavior => (calls++ === 0 ? first : ok());
  s.cluster.set('10.0.0.1:80', behavior);
  s.cluster.set('10.0.0.2:80', behavior);
}
const POST: FakeReq = { method: 'POST', bodyBytes: 100 };

describe('retryLayer over a balancer', () => {
  it('retries a 503 on another endpoint and returns the success', async () => {
    const s = setup();
    firstCall(s, status(503));
    const res = await s.send(GET);
    assert.equal(res.status, 200);
    const journal = s.cluster.journal();
    assert.equal(journal.length, 2);
    assert.notEqual(journal[0]?.split(' ')[1], journal[1]?.split(' ')[1], 'the retry went to the other endpoint');
    assert.equal(s.discarded.length, 1, 'the 503 that was retried was released');
    assert.deepEqual(s.events.map((e) => e.kind), ['retry']);
  });

  it('sends every retry to an endpoint the request has not tried yet (random P2C picks)', async () => {
    const s = setup({ maxRetries: 2 }, undefined, addresses(1, 2, 3), 'p2c-least-loaded');
    for (const e of addresses(1, 2, 3)) s.cluster.set(`${e.address}:80`, status(503, 1));
    for (let i = 0; i < 30; i++) {
      const before = s.cluster.journal().length;
      await s.send(GET);
      const attempts = s.cluster.journal().slice(before).map((line) => line.split(' ')[1]);
      assert.equal(attempts.length, 3);
      assert.equal(new Set(attempts).size, 3, `request ${i} tried ${attempts.join(', ')}`);
    }
  });

  it('stops at the retry limit and returns the last response as it is', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', status(503));
    s.cluster.set('10.0.0.2:80', status(503));
    assert.equal((await s.send(GET)).status, 503);
    assert.equal(s.cluster.journal().length, 2, '1 try + 1 retry (the default limit)');
    assert.deepEqual(s.events.at(-1), { kind: 'no-retry', reason: 'limit', after: 'response' });
    const three = setup({ maxRetries: 3 });
    three.cluster.set('10.0.0.1:80', status(502));
    three.cluster.set('10.0.0.2:80', status(502));
    assert.equal((await three.send(GET)).status, 502);
    assert.equal(three.cluster.journal().length, 4);
  });

  it('waits a jittered backoff before retrying a request the server saw', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', status(500, 10));
    s.cluster.set('10.0.0.2:80', status(500, 10));
    await s.send(GET);
    const [first, second] = s.cluster.journal().map((line) => Number(line.split(' ')[0]));
    assert.ok(first !== undefined && second !== undefined);
    const gap = second - first - 10;
    assert.ok(gap >= 25 && gap <= 55, `backoff ${gap} ms (25-50 ms plus the fake clock's 5 ms steps)`);
  });

  it('retries a refused connection at once, even for POST', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', { kind: 'refuse' });
    s.cluster.set('10.0.0.2:80', { kind: 'refuse' });
    s.cluster.set('10.0.0.2:80', ok());
    s.cluster.set('10.0.0.1:80', { kind: 'refuse' });
    // Round robin may start on either endpoint; run until one request began on the refusing one.
    for (let i = 0; i < 4; i++) {
      const res = await s.send(POST);
      assert.equal(res.status, 200);
    }
    const refused = s.events.filter((e) => e.kind === 'retry');
    assert.ok(refused.length > 0);
    assert.ok(refused.every((e) => e.kind === 'retry' && e.delayMs === 0 && e.after === 'not-sent'));
  });

  it('does not retry a POST that got a 503 or a reset', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', status(503));
    s.cluster.set('10.0.0.2:80', status(503));
    assert.equal((await s.send(POST)).status, 503);
    assert.equal(s.cluster.journal().length, 1);
    assert.deepEqual(s.events, [{ kind: 'no-retry', reason: 'not-idempotent', after: 'response' }]);
    const r = setup();
    r.cluster.set('10.0.0.1:80', { kind: 'reset', afterMs: 3 });
    r.cluster.set('10.0.0.2:80', { kind: 'reset', afterMs: 3 });
    await assert.rejects(r.send(POST), /ECONNRESET/);
    assert.equal(r.cluster.journal().length, 1);
  });

  it('retries a reset GET', async () => {
    const s = setup();
    firstCall(s, { kind: 'reset', afterMs: 3 });
    assert.equal((await s.send(GET)).status, 200);
    assert.equal(s.cluster.journal().length, 2);
  });

  it('never retries a body over 64 KiB', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', { kind: 'refuse' });
    s.cluster.set('10.0.0.2:80', { kind: 'refuse' });
    await assert.rejects(s.send({ method: 'PUT', bodyBytes: 65_537 }), (e: unknown) => isWeftError(e) && e.code === 'WEFT_E_TEST_CONNECT');
    assert.equal(s.cluster.journal().length, 1);
    assert.deepEqual(s.events, [{ kind: 'no-retry', reason: 'body-too-large', after: 'not-sent' }]);
  });

  it('surfaces budget exhaustion as an error with the budget in its reason', async () => {
    const s = setup({}, { kind: 'ratio', ratio: 0, minRetriesPerSec: 0.1, ttlMs: 10_000 }); // one retry per 10 s
    s.cluster.set('10.0.0.1:80', { kind: 'refuse' });
    s.cluster.set('10.0.0.2:80', { kind: 'refuse' });
    await assert.rejects(s.send(GET), (e: unknown) => isWeftError(e) && e.code === 'WEFT_E_TEST_CONNECT', 'the one retry allowed was made');
    await assert.rejects(s.send(GET), (e: unknown) => {
      assert.ok(isWeftError(e));
      assert.equal(e.code, 'WEFT_E_RESILIENCE_RETRY_BUDGET_EXHAUSTED');
      assert.equal(e.flags.rejected, true);
      assert.match(e.message, /retry budget exhausted \(0 % of requests \+ 0\.1\/s over 10 s\); not retrying: connect ECONNREFUSED/);
      assert.ok(isWeftError(e.cause) && e.cause.code === 'WEFT_E_TEST_CONNECT');
      return true;
    });
    assert.equal(s.cluster.journal().length, 3);
    assert.deepEqual(s.events.at(-1), { kind: 'no-retry', reason: 'budget', after: 'not-sent' });
  });

  it('returns a 503 unchanged when the budget refuses its retry', async () => {
    const s = setup({}, { kind: 'ratio', ratio: 0, minRetriesPerSec: 0, ttlMs: 10_000 });
    s.cluster.set('10.0.0.1:80', status(503));
    s.cluster.set('10.0.0.2:80', status(503));
    assert.equal((await s.send(GET)).status, 503);
    assert.equal(s.cluster.journal().length, 1);
  });

  it('with a concurrency budget, caps retries in flight', async () => {
    const s = setup({}, { kind: 'concurrency', ratio: 0, minConcurrency: 1 });
    s.cluster.set('10.0.0.1:80', (n) => (n === 0 ? status(503, 1) : ok(100)));
    s.cluster.set('10.0.0.2:80', (n) => (n === 0 ? status(503, 1) : ok(100)));
    const a = s.send(GET);
    const b = s.send(GET);
    const results = await Promise.all([a, b]);
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 503]);
    assert.equal(s.service.budget.balance(), 1, 'the retry slot is back');
  });

  it('times out a slow try and retries it elsewhere, aborting the slow one', async () => {
    const s = setup({ perTryTimeoutMs: 100 });
    firstCall(s, { kind: 'hang' });
    const res = await s.send(GET);
    assert.equal(res.status, 200);
    const [slow] = [...s.cluster.endpoints.values()].filter((e) => e.calls.length > 0).map((e) => e.calls[0]);
    assert.ok(slow?.cx.signal.aborted, 'the timed-out try was cancelled');
    assert.equal(s.events[0]?.kind === 'retry' ? s.events[0].after : '', 'timeout');
    assert.ok(slow.cx.deadline !== undefined && slow.cx.deadline - slow.at === 100, 'the per-try deadline is in the attempt context');
  });

  it('answers the per-try timeout when every try is too slow', async () => {
    const s = setup({ perTryTimeoutMs: 50 });
    s.cluster.set('10.0.0.1:80', { kind: 'hang' });
    s.cluster.set('10.0.0.2:80', { kind: 'hang' });
    await assert.rejects(s.send(GET), (e: unknown) => isWeftError(e) && e.code === 'WEFT_E_RESILIENCE_TRY_TIMEOUT' && /50 ms/.test(e.message));
    assert.equal(s.cluster.journal().length, 2);
  });

  it('does not retry when the deadline leaves no room for the backoff', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', status(503, 10));
    s.cluster.set('10.0.0.2:80', status(503, 10));
    const res = await s.send(GET, s.clock.now() + 30);
    assert.equal(res.status, 503);
    assert.deepEqual(s.events, [{ kind: 'no-retry', reason: 'deadline', after: 'response' }]);
  });

  it('stops when the caller goes away during the backoff', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', status(503, 1));
    s.cluster.set('10.0.0.2:80', status(503, 1));
    const { cx, abort } = newContext();
    const call = s.service.call(GET, cx);
    await s.clock.advanceAsync(5, 5);
    abort(new Error('client closed the connection'));
    await assert.rejects(call, /client closed the connection/);
    await s.clock.advanceAsync(500, 50);
    assert.equal(s.cluster.journal().length, 1);
    assert.equal(s.service.budget.balance(), 99, 'the retry was charged when granted; nothing more');
  });

  it('shows its limit and budget kind in /status', () => {
    assert.equal(setup().layer.role, 'retry (at most 1, ratio budget)');
    assert.equal(setup({ perTryTimeoutMs: 250 }, { kind: 'concurrency', ratio: 0.2, minConcurrency: 3 }).layer.role, 'retry (at most 1, 250 ms per try, concurrency budget)');
  });
});
