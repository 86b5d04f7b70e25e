// Balancing on the live route over real sockets: which upstream each request reaches, for the
// default P2C peak-EWMA and each algorithm the route parameters can select; how a retry avoids the
// endpoint that just failed; and discovery updates while requests flow.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Cleanups, delayed, ok, routeParams, send, sleep, type Upstream } from './harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

/** `total` GETs (or until `stop()`) from `workers` concurrent clients, each sending one after another. */
async function drive(port: number, total: number, workers: number, stop: () => boolean = () => false): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < total && !stop()) {
        const i = next++;
        statuses.push((await send(port, { path: `/r${i}` })).status);
      }
    }),
  );
  return statuses;
}

const share = (u: Upstream, total: number): number => u.seen.length / total;

describe('outbound route: balancing', () => {
  it('balances with P2C over peak-EWMA by default, sending most traffic away from a slow endpoint', async () => {
    const slow = await cleanups.upstream(delayed(50));
    const fast1 = await cleanups.upstream();
    const fast2 = await cleanups.upstream();
    const p = await cleanups.proxy([slow, fast1, fast2]);
    assert.equal(p.route.status().balancer.algorithm, 'p2c-peak-ewma');
    const statuses = await drive(p.port, 300, 6);
    assert.ok(statuses.every((s) => s === 200));
    // Round robin would give it a third (100); P2C over peak-EWMA learns its 50 ms at once.
    assert.ok(share(slow, 300) < 0.15, `slow endpoint got ${slow.seen.length} of 300`);
    assert.ok(share(fast1, 300) > 0.25 && share(fast2, 300) > 0.25, `fast endpoints got ${fast1.seen.length} and ${fast2.seen.length}`);
  });

  it('round-robin (selected by params) sends sequential requests to each endpoint in turn', async () => {
    const us = [await cleanups.upstream(), await cleanups.upstream(), await cleanups.upstream()];
    const p = await cleanups.proxy(us, routeParams({ balance: { algorithm: 'round-robin' } }));
    assert.equal(p.route.status().balancer.algorithm, 'round-robin');
    await drive(p.port, 30, 1);
    assert.deepEqual(us.map((u) => u.seen.length), [10, 10, 10]);
    // In turn: three consecutive requests always reach three different endpoints.
    const order = us.flatMap((u, n) => u.seen.map((s) => ({ n, i: Number(s.url.slice(2)) }))).sort((a, b) => a.i - b.i);
    for (let i = 0; i + 2 < order.length; i += 3) {
      assert.equal(new Set(order.slice(i, i + 3).map((o) => o.n)).size, 3, `requests ${i}..${i + 2}`);
    }
  });

  it('least-loaded (selected by params) spreads idle traffic over all endpoints and keeps load off one that holds requests', async () => {
    const us = [await cleanups.upstream(), await cleanups.upstream(), await cleanups.upstream()];
    const p = await cleanups.proxy(us, routeParams({ balance: { algorithm: 'p2c-least-loaded' } }));
    assert.equal(p.route.status().balancer.algorithm, 'p2c-least-loaded');
    await drive(p.port, 90, 1);
    // Nothing pending at any pick: a fair coin between two random endpoints, ~30 each.
    for (const u of us) assert.ok(u.seen.length >= 12, `spread ${us.map((x) => x.seen.length).join('/')}`);

    const slow = await cleanups.upstream(delayed(100));
    const fast = await cleanups.upstream();
    const q = await cleanups.proxy([slow, fast], routeParams({ balance: { algorithm: 'p2c-least-loaded' } }));
    await drive(q.port, 200, 8);
    // The slow endpoint holds its requests 100 ms: it is almost always the more loaded of the two.
    assert.ok(share(slow, 200) < 0.25, `slow endpoint got ${slow.seen.length} of 200`);
  });

  it('aperture (selected by params) keeps light traffic on one endpoint and widens its window under load', async () => {
    const us = [await cleanups.upstream(delayed(40)), await cleanups.upstream(delayed(40)), await cleanups.upstream(delayed(40))];
    const params = routeParams({ balance: { algorithm: 'aperture', aperture: { ...routeParams({}).balance.aperture, smoothWinMs: 300 } } });
    const p = await cleanups.proxy(us, params);
    await drive(p.port, 10, 1);
    assert.deepEqual(us.map((u) => u.seen.length).sort(), [0, 0, 10], 'one request at a time: a window of one endpoint');
    assert.equal(p.route.status().balancer.window?.length, 1);

    const before = us.map((u) => u.seen.length);
    await drive(p.port, 300, 12);
    const after = us.map((u, i) => u.seen.length - (before[i] ?? 0));
    // Twelve in flight is well above 1.125 per endpoint: the window opens to all three.
    for (const n of after) assert.ok(n >= 20, `under load ${after.join('/')}`);
  });

  it('a retry goes to another endpoint than the one that just failed (P2C would pick the failing one again)', async () => {
    // The failing endpoint answers at once and the good one takes 20 ms: by latency P2C prefers the
    // failing one for every first attempt, and would for the retry too without the exclusion.
    const failing = await cleanups.upstream((req, res, body) => ok(req.method === 'GET' ? 503 : 200)(req, res, body));
    const good = await cleanups.upstream(delayed(20));
    // Failure accrual off, so the failing endpoint stays in the balancer for every request.
    const p = await cleanups.proxy([failing, good], routeParams({ accrual: { consecutiveFailures: 0, successRate: undefined } }));
    const statuses = await drive(p.port, 20, 1);
    assert.deepEqual(statuses, Array<number>(20).fill(200), 'every request answered by its retry');
    assert.ok(failing.seen.length >= 10, `the failing endpoint got ${failing.seen.length} first attempts`);
    for (const s of failing.seen) assert.ok(good.seen.some((g) => g.url === s.url), `${s.url} failed and was retried on the other endpoint`);
    assert.equal(p.metrics.count('retried'), failing.seen.length);
  });

  it('a discovery update adds and removes endpoints while requests flow, and no request fails', async () => {
    const [a, b, c] = [await cleanups.upstream(delayed(2)), await cleanups.upstream(delayed(2)), await cleanups.upstream(delayed(2))];
    const p = await cleanups.proxy([a, b]);
    let added = 0;
    let removed = 0;
    let done = false;
    const updates = (async () => {
      await sleep(300);
      added = performance.now();
      p.route.sync([a.endpoint, b.endpoint, c.endpoint]);
      await sleep(300);
      removed = performance.now();
      p.route.sync([c.endpoint]);
      await sleep(400);
      done = true;
    })();
    const statuses = await drive(p.port, 100_000, 4, () => done);
    await updates;
    assert.deepEqual(statuses.filter((s) => s !== 200), [], 'no request failed');
    assert.ok(c.seen.length > 0 && c.seen.every((s) => s.at >= added), 'the new endpoint got traffic once added');
    // A request picked just before the removal may still land; nothing picked after it does.
    const late = [...a.seen, ...b.seen].filter((s) => s.at > removed + 100);
    assert.deepEqual(late, [], 'removed endpoints get no traffic');
    assert.ok(c.seen.filter((s) => s.at > removed).length >= 10, 'the remaining endpoint took the rest');
    assert.deepEqual(p.route.status().balancer.endpoints.map((e) => e.key), [`127.0.0.1:${c.port}`]);
  });
});
