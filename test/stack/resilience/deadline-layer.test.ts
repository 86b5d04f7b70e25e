import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../../agent/balance/random.ts';
import { isWeftError } from '../../../agent/errors.ts';
import type { DeadlineParams, InvalidDeadlineHeader } from '../../../agent/resilience/deadline.ts';
import { deadlineParams, downstreamDeadline, GRPC_TIMEOUT, WEFT_DEADLINE } from '../../../agent/resilience/deadline.ts';
import { deadlineLayer } from '../../../agent/resilience/deadline-layer.ts';
import { retryLayer, retryLayerParams } from '../../../agent/resilience/retry-layer.ts';
import type { CallContext, Service } from '../../../agent/stack/service.ts';
import { buildStack } from '../../../agent/stack/service.ts';
import { FakeClock } from '../../unit/balance/fake-clock.ts';
import type { Behavior, FakeReq, FakeRes } from '../balance/fakes.ts';
import { FakeEndpoint, newContext, ok, resultOf, status } from '../balance/fakes.ts';

const EPOCH = 1_700_000_000_000;

function setup(behavior: Behavior | ((n: number) => Behavior), params: Partial<DeadlineParams> = {}) {
  const clock = new FakeClock();
  const endpoint = new FakeEndpoint('10.0.0.1:80', clock, behavior);
  const invalid: InvalidDeadlineHeader[] = [];
  const discarded: FakeRes[] = [];
  const layer = deadlineLayer<FakeReq, FakeRes>(
    { ...deadlineParams, ...params },
    {
      clock,
      wallClock: () => EPOCH + clock.now(),
      incoming: (req) => ({ [GRPC_TIMEOUT]: req.headers?.[GRPC_TIMEOUT], [WEFT_DEADLINE]: req.headers?.[WEFT_DEADLINE] }),
      onInvalidHeader: (i) => invalid.push(i),
      discard: (res) => discarded.push(res),
    },
  );
  return { clock, endpoint, invalid, discarded, layer, service: layer.wrap(endpoint) };
}

async function settle<T>(clock: FakeClock, call: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  call.then(() => (done = true), () => (done = true));
  for (let t = 0; t < maxMs && !done; t += 10) await clock.advanceAsync(10, 10);
  return call;
}

describe('deadlineLayer', () => {
  it('fails a request with WEFT_E_RESILIENCE_DEADLINE_EXCEEDED at the route timeout and aborts the work below', async () => {
    const s = setup({ kind: 'hang' });
    assert.equal(s.layer.role, 'deadline (route 10000 ms)');
    const started = s.clock.now();
    await assert.rejects(settle(s.clock, s.service.call({ method: 'GET' }, newContext().cx)), (e: unknown) => {
      assert.ok(isWeftError(e));
      assert.equal(e.code, 'WEFT_E_RESILIENCE_DEADLINE_EXCEEDED');
      assert.equal(e.flags.interrupted, true);
      assert.match(e.message, /the route timeout of 10000 ms/);
      return true;
    });
    assert.equal(s.clock.now() - started, 10_000);
    const seen = s.endpoint.calls[0]?.cx;
    assert.ok(seen?.signal.aborted, 'the endpoint saw the abort');
    assert.equal(seen.deadline, started + 10_000, 'and had the deadline in its context');
  });

  it('lets a caller shorten the deadline, never lengthen it', async () => {
    const short = setup({ kind: 'hang' });
    await assert.rejects(settle(short.clock, short.service.call({ method: 'GET', headers: { [GRPC_TIMEOUT]: '250m' } }, newContext().cx)), /caller's grpc-timeout of 250 ms/);
    assert.equal(short.clock.now(), 1_000 + 250);
    const long = setup({ kind: 'hang' });
    await assert.rejects(settle(long.clock, long.service.call({ method: 'GET', headers: { [WEFT_DEADLINE]: '999999' } }, newContext().cx)), /route timeout/);
    assert.equal(long.clock.now(), 1_000 + 10_000);
  });

  it('keeps a tighter deadline set further up the stack', async () => {
    const s = setup({ kind: 'hang' });
    await assert.rejects(settle(s.clock, s.service.call({ method: 'GET' }, newContext(s.clock.now() + 40).cx)), /set further up the stack of 40 ms/);
  });

  it('refuses without sending when the caller\'s deadline has already passed', async () => {
    const s = setup(ok());
    await assert.rejects(s.service.call({ method: 'GET', headers: { [GRPC_TIMEOUT]: '0n' } }, newContext().cx), (e: unknown) => isWeftError(e) && e.code === 'WEFT_E_RESILIENCE_DEADLINE_EXCEEDED');
    assert.equal(s.endpoint.calls.length, 0);
  });

  it('passes a response through and reports unreadable deadline headers', async () => {
    const s = setup(ok(20));
    const res = await settle(s.clock, s.service.call({ method: 'GET', headers: { [GRPC_TIMEOUT]: '1.5S' } }, newContext().cx));
    assert.equal(res.status, 200);
    assert.deepEqual(s.invalid.map((i) => i.header), [GRPC_TIMEOUT]);
    assert.equal(s.clock.pendingTimers, 0, 'the deadline timer was cancelled');
  });

  it('releases a response that arrives after the deadline failed the request', async () => {
    // An endpoint that ignores the abort signal and answers late.
    const clock = new FakeClock();
    const late: Service<FakeReq, FakeRes> = {
      call: () => new Promise((resolve) => clock.setTimer(500, () => resolve({ status: 200, from: 'late' }))),
    };
    const discarded: FakeRes[] = [];
    const service = deadlineLayer<FakeReq, FakeRes>({ ...deadlineParams, routeTimeoutMs: 100 }, { clock, wallClock: () => EPOCH, incoming: () => ({}), discard: (r) => discarded.push(r) }).wrap(late);
    await assert.rejects(settle(clock, service.call({ method: 'GET' }, newContext().cx)), /route timeout of 100 ms/);
    await clock.advanceAsync(1_000, 100);
    assert.deepEqual(discarded, [{ status: 200, from: 'late' }]);
  });

  it('bounds all retries together, and each try carries less time downstream', async () => {
    const clock = new FakeClock();
    const sentDeadlines: string[] = [];
    let n = 0;
    // An endpoint client that writes the downstream deadline at send time, as the proxy will.
    const endpoint: Service<FakeReq, FakeRes> = {
      call: (_req, cx: CallContext) => {
        const downstream = downstreamDeadline(deadlineParams, cx.deadline, { now: clock.now(), nowEpochMs: EPOCH + clock.now() }, false);
        if (downstream.kind === 'headers') sentDeadlines.push(downstream.headers.map(([name, value]) => `${name}=${value}`).join(','));
        const behavior = n++ < 2 ? status(503, 100) : ok(5);
        return new FakeEndpoint('e', clock, behavior).call({ method: 'GET' }, cx);
      },
    };
    const { service, roles } = buildStack<Service<FakeReq, FakeRes>>(endpoint, [
      deadlineLayer({ ...deadlineParams, routeTimeoutMs: 1_000 }, { clock, wallClock: () => EPOCH + clock.now(), incoming: () => ({}) }),
      retryLayer({ ...retryLayerParams, policy: { ...retryLayerParams.policy, maxRetries: 5 } }, { clock, random: seededRandom(2), request: (r) => ({ method: r.method, bodyBytes: 0 }), result: resultOf }),
    ]);
    assert.deepEqual(roles, ['deadline (route 1000 ms)', 'retry (at most 5, ratio budget)']);
    const res = await settle(clock, service.call({ method: 'GET' }, newContext().cx));
    assert.equal(res.status, 200);
    const remaining = sentDeadlines.map((h) => Number(/weft-deadline=(\d+)/.exec(h)?.[1]));
    assert.equal(remaining.length, 3);
    assert.equal(remaining[0], 1_000);
    assert.ok((remaining[1] ?? 0) < 900 && (remaining[2] ?? 0) < (remaining[1] ?? 0) - 100, remaining.join(' '));
  });
});
