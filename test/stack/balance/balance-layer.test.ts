import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balanceLayer, balanceParams } from '../../../agent/balance/balance-layer.ts';
import type { BalanceParams } from '../../../agent/balance/balance-layer.ts';
import type { EndpointAddress } from '../../../agent/balance/endpoint-set.ts';
import { seededRandom } from '../../../agent/balance/random.ts';
import { isWeftError } from '../../../agent/errors.ts';
import { TriedEndpoints } from '../../../agent/resilience/retry-policy.ts';
import { FakeClock, flush } from '../../unit/balance/fake-clock.ts';
import type { FakeReq, FakeRes } from './fakes.ts';
import { addresses, FakeCluster, newContext, ok } from './fakes.ts';

function setup(params: Partial<BalanceParams> = {}, seed = 1) {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock);
  const layer = balanceLayer<FakeReq, FakeRes, EndpointAddress>({ ...balanceParams, ...params }, { clock, random: seededRandom(seed) });
  const balancer = layer.wrap(cluster.newEndpoint);
  return { clock, cluster, layer, balancer };
}

const GET: FakeReq = { method: 'GET', bodyBytes: 0 };

/** Sends `n` requests, one every `gapMs`, letting responses arrive on the fake clock. */
async function drive(s: ReturnType<typeof setup>, n: number, gapMs: number): Promise<PromiseSettledResult<FakeRes>[]> {
  const pending: Promise<FakeRes>[] = [];
  for (let i = 0; i < n; i++) {
    pending.push(s.balancer.call(GET, newContext().cx));
    await s.clock.advanceAsync(gapMs, gapMs);
  }
  await s.clock.advanceAsync(1_000, 50);
  return Promise.allSettled(pending);
}

describe('balanceLayer', () => {
  it('names its algorithm for /status and spreads requests over the endpoints', async () => {
    const s = setup();
    assert.equal(s.layer.role, 'balance p2c-peak-ewma');
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2, 3) });
    const results = await drive(s, 300, 2);
    assert.ok(results.every((r) => r.status === 'fulfilled'));
    for (const count of Object.values(s.cluster.counts())) assert.ok(count > 60, JSON.stringify(s.cluster.counts()));
  });

  it('steers traffic away from a slow endpoint (peak-EWMA)', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', ok(200));
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2, 3) });
    await drive(s, 400, 5);
    const counts = s.cluster.counts();
    assert.ok((counts['10.0.0.1:80'] ?? 0) < 400 * 0.1, JSON.stringify(counts));
  });

  it('keeps what it learned about an endpoint across a discovery reset', async () => {
    const s = setup();
    s.cluster.set('10.0.0.1:80', ok(300));
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2) });
    await drive(s, 50, 5);
    const before = s.balancer.snapshot().endpoints.find((e) => e.key === '10.0.0.1:80');
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2, 3) });
    const after = s.balancer.snapshot().endpoints.find((e) => e.key === '10.0.0.1:80');
    assert.ok(before && after && after.rttMs > 100 && Math.abs(after.rttMs - before.rttMs) < 1e-6);
    assert.equal(s.cluster.endpoints.size, 3, 'one new endpoint service, the others kept');
  });

  it('closes the service of an endpoint that left, and all of them on close', async () => {
    const s = setup();
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2) });
    s.balancer.update({ kind: 'remove', endpoints: addresses(1) });
    await flush();
    assert.equal(s.cluster.get('10.0.0.1:80').closed, true);
    assert.equal(s.cluster.get('10.0.0.2:80').closed, false);
    await s.balancer.close();
    assert.equal(s.cluster.get('10.0.0.2:80').closed, true);
    await assert.rejects(s.balancer.call(GET, newContext().cx), (e: unknown) => isWeftError(e) && e.code === 'WEFT_E_BALANCE_CLOSED');
  });

  it('fails fast with a reason when there are no endpoints', async () => {
    const s = setup();
    await assert.rejects(s.balancer.call(GET, newContext().cx), (e: unknown) => isWeftError(e) && e.code === 'WEFT_E_BALANCE_NO_ENDPOINTS' && e.flags.rejected === true);
  });

  it('records the endpoint it picked in the request\'s tried set and avoids it next time', async () => {
    const s = setup();
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2) });
    const tried = new TriedEndpoints();
    const { cx } = newContext();
    for (let i = 0; i < 2; i++) {
      const call = s.balancer.call(GET, { ...cx, tried });
      await s.clock.advanceAsync(10, 10);
      await call;
    }
    assert.deepEqual([...tried.keys()].sort(), ['10.0.0.1:80', '10.0.0.2:80']);
  });

  it('counts requests pending per endpoint while they run', async () => {
    const s = setup({ algorithm: 'round-robin' });
    s.cluster.set('10.0.0.1:80', ok(100));
    s.cluster.set('10.0.0.2:80', ok(100));
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2) });
    const calls = [1, 2, 3, 4].map(() => s.balancer.call(GET, newContext().cx));
    await flush();
    assert.deepEqual(s.balancer.snapshot().endpoints.map((e) => e.pending), [2, 2]);
    assert.equal(s.balancer.snapshot().pending, 4);
    await s.clock.advanceAsync(100, 100);
    await Promise.all(calls);
    assert.equal(s.balancer.snapshot().pending, 0);
  });

  it('with aperture, talks to a window that grows with load', async () => {
    const s = setup({ algorithm: 'aperture' });
    assert.equal(s.layer.role, 'balance aperture-least-loaded');
    s.balancer.update({ kind: 'reset', endpoints: addresses(1, 2, 3, 4, 5, 6, 7, 8) });
    assert.equal(s.balancer.snapshot().window?.length, 1);
    await drive(s, 20, 50);
    assert.equal(Object.values(s.cluster.counts()).filter((n) => n > 0).length, 1, 'light load: one endpoint');
    // 100 ms requests every 10 ms: about ten in flight.
    for (const e of addresses(1, 2, 3, 4, 5, 6, 7, 8)) s.cluster.set(`${e.address}:80`, ok(100));
    await drive(s, 1_500, 10);
    assert.ok((s.balancer.snapshot().window?.length ?? 0) >= 6, `window ${s.balancer.snapshot().window?.length}`);
  });

  it('rejects bad params when the layer is built', () => {
    const clock = new FakeClock();
    assert.throws(() => balanceLayer({ ...balanceParams, peakEwma: { defaultRttMs: 0, decayMs: 10 } }, { clock, random: seededRandom(1) }), isWeftError);
    assert.throws(() => balanceLayer({ ...balanceParams, algorithm: 'aperture', aperture: { ...balanceParams.aperture, minAperture: 0 } }, { clock, random: seededRandom(1) }), isWeftError);
  });
});
