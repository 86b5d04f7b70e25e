// Failure accrual on the live route over real sockets: an endpoint is ejected by consecutive
// failures (refused connects or 5xx), by its success rate, or for as long as its Retry-After asks;
// it gets no traffic while ejected, is probed after the backoff and closed when healthy; and when
// every endpoint is failing the balancer's panic mode still sends (or, panic off, says why not).
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AUTHORITY, Cleanups, closedPort, ok, routeParams, send, sleep, waitFor, type Behaviour, type Upstream } from './harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

/** Round robin makes every request's first attempt land on the failing endpoint; short fixed ejections keep the test quick. */
function accrualParams(accrual: Parameters<typeof routeParams>[0]['accrual'] = {}, panicThresholdPercent = 50) {
  return routeParams({
    balance: { algorithm: 'round-robin', panic: { panicThresholdPercent, maxEffort: 5 } },
    accrual: { backoff: { minMs: 300, maxMs: 300, jitter: 0 }, ...accrual },
  });
}

/** Sequential GETs until `u` has seen `n` requests (round robin's random start may skip it once). */
async function untilSeen(port: number, u: Upstream, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; u.seen.length < n; i++) {
    assert.ok(i < 2 * n + 2, `the endpoint saw only ${u.seen.length} of ${i} requests`);
    statuses.push((await send(port, { path: `/t${i}` })).status);
  }
  return statuses;
}

async function sequential(port: number, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await send(port, { path: `/r${i}` })).status);
  return statuses;
}

const failWith = (status: number, headers: Record<string, string> = {}): Behaviour => (_req, res) => {
  res.writeHead(status, { ...headers, 'content-length': 4 });
  res.end('fail');
};

describe('outbound route: failure accrual', () => {
  it('ejects an endpoint after 7 5xx in a row, sends it nothing while ejected, then probes it and closes its breaker when healthy', async () => {
    const bad = await cleanups.upstream(failWith(500));
    const good = await cleanups.upstream();
    const p = await cleanups.proxy([bad, good], accrualParams());
    const key = `127.0.0.1:${bad.port}`;
    const first = await untilSeen(p.port, bad, 7);
    assert.ok(first.every((s) => s === 200), 'each 500 retried on the good endpoint');
    assert.equal(bad.seen.length, 7);
    assert.deepEqual(p.metrics.events.filter((e) => e.startsWith('breaker')), [`breaker ${AUTHORITY} ${key} open consecutive-failures`]);
    assert.equal(p.route.status().breakers.find((b) => b.endpoint === key)?.state, 'open');

    const ejectedAt = performance.now();
    assert.deepEqual(await sequential(p.port, 20), Array<number>(20).fill(200));
    assert.ok(performance.now() - ejectedAt < 300, 'still within the ejection');
    assert.equal(bad.seen.length, 7, 'no traffic while ejected');

    bad.behaviour = ok();
    await sleep(350);
    assert.deepEqual(await sequential(p.port, 20), Array<number>(20).fill(200));
    assert.ok(p.metrics.events.includes(`breaker ${AUTHORITY} ${key} half-open backoff-elapsed`));
    assert.ok(p.metrics.events.includes(`breaker ${AUTHORITY} ${key} closed probe-succeeded`));
    assert.ok(bad.seen.length >= 7 + 5, `back in rotation: ${bad.seen.length - 7} of 20`);
  });

  it('ejects an endpoint that refuses connections, opens no connection to it while ejected, and closes the breaker once it listens again', async () => {
    const dead = await closedPort();
    const live = await cleanups.upstream();
    const p = await cleanups.proxy([dead, live], accrualParams());
    const key = `127.0.0.1:${dead.port}`;
    // A refused connect is retried at once on the other endpoint, even for a POST.
    const opened = `breaker ${AUTHORITY} ${key} open consecutive-failures`;
    for (let i = 0; !p.metrics.events.includes(opened); i++) {
      assert.ok(i < 16, `not ejected after ${i} requests`);
      assert.equal((await send(p.port, { method: 'POST', body: 'x' })).status, 200);
    }

    const connects = p.pool.connects;
    for (let i = 0; i < 20; i++) assert.equal((await send(p.port, { method: 'POST', body: 'x' })).status, 200);
    assert.equal(p.pool.connects, connects, 'no connection attempt to the ejected endpoint (the live one is reused)');

    const revived = await cleanups.upstream(ok(), dead.port);
    await sleep(350);
    for (let i = 0; i < 10; i++) assert.equal((await send(p.port, { method: 'POST', body: 'x' })).status, 200);
    assert.ok(p.metrics.events.includes(`breaker ${AUTHORITY} ${key} closed probe-succeeded`), p.metrics.events.join('\n'));
    assert.ok(revived.seen.length >= 3, `the revived endpoint got ${revived.seen.length} of 10`);
  });

  it('ejects an endpoint that fails every other request by its success rate (never 7 in a row)', async () => {
    let n = 0;
    const flaky = await cleanups.upstream((req, res, body) => (n++ % 2 === 0 ? failWith(500) : ok())(req, res, body));
    const good = await cleanups.upstream();
    const p = await cleanups.proxy([flaky, good], accrualParams({ backoff: { minMs: 5000, maxMs: 5000, jitter: 0 } }));
    const key = `127.0.0.1:${flaky.port}`;
    assert.deepEqual(await sequential(p.port, 30), Array<number>(30).fill(200));
    const breakers = p.metrics.events.filter((e) => e.startsWith('breaker'));
    assert.deepEqual(breakers, [`breaker ${AUTHORITY} ${key} open success-rate`]);
    // 50 % < 80 % once 10 responses are in: it tripped at the 11th and got nothing after.
    assert.equal(flaky.seen.length, 11);
  });

  it('ejects a 503 endpoint for as long as its Retry-After asks, past the backoff, then probes it once', async () => {
    const busy = await cleanups.upstream(failWith(503, { 'retry-after': '1' }));
    const good = await cleanups.upstream();
    const p = await cleanups.proxy([busy, good], accrualParams({ backoff: { minMs: 100, maxMs: 100, jitter: 0 } }));
    const key = `127.0.0.1:${busy.port}`;
    await untilSeen(p.port, busy, 7);
    const trippedAt = performance.now();
    assert.ok(p.metrics.events.includes(`breaker ${AUTHORITY} ${key} open consecutive-failures`));
    // Well past the 100 ms backoff, inside the 1 s the server asked for: no probe.
    while (performance.now() - trippedAt < 600) await send(p.port);
    assert.equal(busy.seen.length, 7, 'no traffic while Retry-After holds');
    await sleep(1200 - (performance.now() - trippedAt));
    await sequential(p.port, 10);
    assert.equal(busy.seen.length, 8, 'one probe after the Retry-After');
    assert.ok(p.metrics.events.includes(`breaker ${AUTHORITY} ${key} open probe-failed`));
  });

  it('when every endpoint is ejected, panic mode still sends to them: the client gets the upstream’s answer, not a 503', async () => {
    const a = await cleanups.upstream(failWith(500));
    const b = await cleanups.upstream(failWith(500));
    const p = await cleanups.proxy([a, b], accrualParams({ backoff: { minMs: 5000, maxMs: 5000, jitter: 0 } }));
    assert.deepEqual(await sequential(p.port, 7), Array<number>(7).fill(500));
    await waitFor(() => p.route.status().breakers.every((s) => s.state === 'open'), 'both breakers open');
    assert.equal(p.route.status().breakers.length, 2);
    const before = a.seen.length + b.seen.length;
    const res = await send(p.port);
    assert.equal(res.status, 500, 'the upstream’s own answer');
    assert.equal(res.headers['l5d-proxy-error'], undefined);
    assert.equal(a.seen.length + b.seen.length, before + 2, 'sent, and retried, to ejected endpoints');
  });

  it('with panic mode off (threshold 100 %), all endpoints ejected is answered 503 WEFT_E_BALANCE_ALL_EJECTED and nothing is sent', async () => {
    const a = await cleanups.upstream(failWith(500));
    const b = await cleanups.upstream(failWith(500));
    const p = await cleanups.proxy([a, b], accrualParams({ backoff: { minMs: 5000, maxMs: 5000, jitter: 0 } }, 100));
    await sequential(p.port, 7);
    await waitFor(() => p.route.status().breakers.every((s) => s.state === 'open'), 'both breakers open');
    const before = a.seen.length + b.seen.length;
    const res = await send(p.port);
    assert.equal(res.status, 503);
    assert.equal(res.headers['l5d-proxy-error'], 'WEFT_E_BALANCE_ALL_EJECTED');
    assert.equal(a.seen.length + b.seen.length, before);
  });

  it('/status describes failure accrual as configured: both triggers by default, "off" when both are off', async () => {
    const u = await cleanups.upstream();
    const byDefault = await cleanups.proxy([u]);
    assert.ok(byDefault.route.status().stack.includes('failure-accrual (7 in a row, success < 0.8 over 10 s)'), byDefault.route.status().stack.join(' → '));
    const off = await cleanups.proxy([u], routeParams({ accrual: { consecutiveFailures: 0, successRate: undefined } }));
    assert.ok(off.route.status().stack.includes('failure-accrual (off)'), off.route.status().stack.join(' → '));
  });
});
