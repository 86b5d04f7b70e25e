// Failure accrual on the live route over real sockets: an endpoint is ejected by consecutive
// failures (refused connects or 5xx), by its success rate, or for as long as its Retry-After asks;
// it gets no traffic while ejected, is probed after the backoff and closed when healthy; and when
// every endpoint is failing the balancer's panic mode still sends (or, panic off, says why not).
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AUTHORITY, Cleanups, closedPort, ok, routeParams, send, sleep, waitFor, type Behaviour, type Upstream } from './harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

/** Fixed ejection time of `accrualParams`: short, to keep the tests quick, yet long enough to send requests within it on a busy machine. */
const EJECT_MS = 1000;

/** Round robin makes every request's first attempt land on the failing endpoint; ejections last EJECT_MS. */
function accrualParams(accrual: Parameters<typeof routeParams>[0]['accrual'] = {}, panicThresholdPercent = 50) {
  return routeParams({
    balance: { algorithm: 'round-robin', panic: { panicThresholdPercent, maxEffort: 5 } },
    accrual: { backoff: { minMs: EJECT_MS, maxMs: EJECT_MS, jitter: 0 }, ...accrual },
  });
}

/**
 * Sequential requests made while an ejection that began no earlier than `since` surely lasts
 * (until `since` + 80 % of EJECT_MS), at most `max` of them; their statuses.
 */
async function whileEjected(since: number, max: number, request: () => Promise<number>): Promise<number[]> {
  const statuses: number[] = [];
  while (statuses.length < max && performance.now() < since + 0.8 * EJECT_MS) statuses.push(await request());
  assert.ok(statuses.length >= 3, `only ${statuses.length} requests fit in the ejection: machine too busy`);
  return statuses;
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

    // The breaker opened on the 7th answer, after the upstream saw the 7th request.
    const trippedNoEarlierThan = bad.seen[6]?.at ?? 0;
    const during = await whileEjected(trippedNoEarlierThan, 20, async () => (await send(p.port)).status);
    assert.ok(during.every((s) => s === 200));
    assert.equal(bad.seen.length, 7, 'no traffic while ejected');

    bad.behaviour = ok();
    await sleep(trippedNoEarlierThan + EJECT_MS + 100 - performance.now());
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
    let lastSentAt = 0;
    for (let i = 0; !p.metrics.events.includes(opened); i++) {
      assert.ok(i < 16, `not ejected after ${i} requests`);
      lastSentAt = performance.now();
      assert.equal((await send(p.port, { method: 'POST', body: 'x' })).status, 200);
    }

    const connects = p.pool.connects;
    const during = await whileEjected(lastSentAt, 20, async () => (await send(p.port, { method: 'POST', body: 'x' })).status);
    assert.ok(during.every((s) => s === 200));
    assert.equal(p.pool.connects, connects, 'no connection attempt to the ejected endpoint (the live one is reused)');

    const revived = await cleanups.upstream(ok(), dead.port);
    await sleep(lastSentAt + EJECT_MS + 100 - performance.now());
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
    // The breaker opened between the upstream's 7th request and its answer reaching the client.
    const trippedAfter = busy.seen[6]?.at ?? 0;
    const trippedBefore = performance.now();
    assert.ok(p.metrics.events.includes(`breaker ${AUTHORITY} ${key} open consecutive-failures`));
    // Past the 100 ms backoff, inside the 1 s the server asked for: no probe.
    let last = 0;
    while (performance.now() < trippedAfter + 800) {
      last = performance.now();
      await send(p.port);
    }
    assert.ok(last > trippedBefore + 150, 'requests went out after the backoff had passed');
    assert.equal(busy.seen.length, 7, 'no traffic while Retry-After holds');
    await sleep(trippedBefore + 1200 - performance.now());
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
