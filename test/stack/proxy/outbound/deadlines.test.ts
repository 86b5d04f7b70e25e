// Deadlines on the live route over real sockets, beyond retries.test.ts: each incoming deadline
// header bounds an HTTP/1.1 request, a header can only shorten the route's timeout, an unreadable
// one is ignored, and the default route timeout (10 s) is in the stack /status shows.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { parseGrpcTimeout } from '../../../../agent/resilience/deadline.ts';
import { AUTHORITY, Cleanups, delayed, ok, routeParams, send, waitFor } from './harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

/** An l5d-ctx-deadline set now, expiring in `ms` (ns since the epoch). */
function l5dDeadline(ms: number): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  return `${now} ${now + BigInt(ms) * 1_000_000n}`;
}

async function timedOut(headers: Record<string, string>, budgetMs: number): Promise<void> {
  const u = await cleanups.upstream(delayed(5000));
  const p = await cleanups.proxy([u]);
  const started = performance.now();
  const res = await send(p.port, { headers });
  const took = performance.now() - started;
  assert.equal(res.status, 504);
  assert.equal(res.headers['l5d-proxy-error'], 'WEFT_E_RESILIENCE_DEADLINE_EXCEEDED');
  assert.ok(took >= budgetMs - 20 && took < budgetMs + 1500, `answered after ${Math.round(took)} ms for a ${budgetMs} ms deadline`);
  await waitFor(() => u.arrived[0]?.abortedAt !== undefined, 'the upstream request cancelled', 2000);
  // Unlike a client that leaves, a deadline answers the client: the 504 is counted.
  assert.ok(p.metrics.events.includes(`response ${AUTHORITY} 504 WEFT_E_RESILIENCE_DEADLINE_EXCEEDED`), p.metrics.events.join('\n'));
}

describe('outbound route: deadlines', () => {
  it('an incoming grpc-timeout bounds an HTTP/1.1 request: 504 when it passes, and the upstream request is cancelled', async () => {
    await timedOut({ 'grpc-timeout': '300m' }, 300);
  });

  it('an incoming l5d-ctx-deadline (Linkerd 1) bounds the request: 504 when it passes', async () => {
    await timedOut({ 'l5d-ctx-deadline': l5dDeadline(300) }, 300);
  });

  it('the remaining time of an l5d-ctx-deadline goes downstream as weft-deadline', async () => {
    const u = await cleanups.upstream();
    const p = await cleanups.proxy([u]);
    assert.equal((await send(p.port, { headers: { 'l5d-ctx-deadline': l5dDeadline(3000) } })).status, 200);
    const sent = Number(u.seen[0]?.headers['weft-deadline']);
    assert.ok(sent > 2000 && sent <= 3000, `weft-deadline downstream ${sent}`);
  });

  it('a grpc-timeout forwarded on HTTP/1.1 never gives the next hop more time than is left', async () => {
    let n = 0;
    // The first attempt takes 400 ms and fails; the retry must not carry the original 3 s.
    const u = await cleanups.upstream((req, res, body) => (n++ === 0 ? delayed(400, 503) : ok())(req, res, body));
    const p = await cleanups.proxy([u]);
    assert.equal((await send(p.port, { headers: { 'grpc-timeout': '3S' } })).status, 200);
    const downstream = u.seen.map((s) => {
      const parsed = parseGrpcTimeout(String(s.headers['grpc-timeout']));
      return parsed.kind === 'ok' ? parsed.value : Number.NaN;
    });
    assert.equal(downstream.length, 2);
    assert.ok((downstream[0] ?? Number.NaN) <= 3000, `first attempt: grpc-timeout ${downstream[0]} ms`);
    assert.ok((downstream[1] ?? Number.NaN) <= 2600, `retry after 400 ms: grpc-timeout ${downstream[1]} ms`);
  });

  it('a deadline header can only shorten the route timeout, never extend it', async () => {
    const u = await cleanups.upstream(delayed(5000));
    const p = await cleanups.proxy([u], routeParams({ deadline: { routeTimeoutMs: 300 } }));
    const started = performance.now();
    const res = await send(p.port, { headers: { 'weft-deadline': '60000', 'grpc-timeout': '60S', 'l5d-ctx-deadline': l5dDeadline(60_000) } });
    const took = performance.now() - started;
    assert.equal(res.status, 504);
    assert.ok(took < 1800, `the route's 300 ms held (${Math.round(took)} ms)`);
  });

  it('malformed deadline headers are ignored: the request still works, bounded by the route timeout', async () => {
    const u = await cleanups.upstream();
    const p = await cleanups.proxy([u]);
    const res = await send(p.port, { headers: { 'grpc-timeout': 'soon', 'l5d-ctx-deadline': 'garbage', 'weft-deadline': '-5' } });
    assert.equal(res.status, 200);
    const sent = Number(u.seen[0]?.headers['weft-deadline']);
    assert.ok(sent > 9000 && sent <= 10_000, `the route's 10 s went downstream: weft-deadline ${sent}`);
  });

  it('the route stack in /status shows each layer in order, with the default 10 s route timeout', async () => {
    const u = await cleanups.upstream();
    const p = await cleanups.proxy([u]);
    const stack = p.route.status().stack;
    const order = ['metrics', 'load-shed', 'deadline', 'retry', 'balance', 'failure-accrual', 'endpoint'];
    assert.deepEqual(stack.map((role) => order.find((name) => role.startsWith(name))), order, stack.join(' → '));
    assert.ok(stack.includes('deadline (route 10000 ms)'), stack.join(' → '));
  });
});
