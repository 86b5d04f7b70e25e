// The outbound route stack over real sockets: retries, body replay and timeouts as Linkerd's proxy
// tests state them, end to end from an HTTP client through serveHttp1 and the route to upstreams.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import type { HttpRouteParams } from '../../../../agent/proxy/outbound-http.ts';
import { httpRouteParams } from '../../../../agent/proxy/outbound-http.ts';
import { delayed, ok, ProxyUnderTest, send, Upstream } from './harness.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

async function upstream(behaviour = ok()): Promise<Upstream> {
  const u = await new Upstream(behaviour).start();
  cleanups.push(() => u.close());
  return u;
}

async function proxy(endpoints: Upstream[], params: HttpRouteParams = httpRouteParams): Promise<ProxyUnderTest> {
  const p = await new ProxyUnderTest('svc.default:80', endpoints.map((u) => u.endpoint), params).start();
  cleanups.push(() => p.close());
  return p;
}

function withRetry(params: Partial<HttpRouteParams['retry']['policy']>, deadline?: Partial<HttpRouteParams['deadline']>): HttpRouteParams {
  return {
    ...httpRouteParams,
    retry: { ...httpRouteParams.retry, policy: { ...httpRouteParams.retry.policy, ...params } },
    deadline: { ...httpRouteParams.deadline, ...deadline },
  };
}

describe('outbound route: retries', () => {
  it('retries a 5xx GET once by default and answers with the retry', async () => {
    let n = 0;
    const u = await upstream((req, res, body) => ok(n++ === 0 ? 503 : 200)(req, res, body));
    const p = await proxy([u]);
    const res = await send(p.port, { path: '/a' });
    assert.equal(res.status, 200);
    assert.equal(u.seen.length, 2);
    assert.equal(p.metrics.count('retried'), 1);
  });

  it('does not retry a 5xx POST (not idempotent): the client sees the server’s 503', async () => {
    const u = await upstream(ok(503));
    const p = await proxy([u]);
    const res = await send(p.port, { method: 'POST', body: 'x' });
    assert.equal(res.status, 503);
    assert.equal(u.seen.length, 1);
  });

  it('stops retrying a request at the retry limit (Linkerd: retries per request stop at the limit)', async () => {
    const u = await upstream(ok(500));
    const p = await proxy([u], withRetry({ maxRetries: 3 }));
    const res = await send(p.port, { method: 'PUT', body: 'x' });
    assert.equal(res.status, 500);
    assert.equal(u.seen.length, 4, 'one attempt and three retries, no more');
    assert.equal(p.metrics.count('not-retried svc.default:80 limit'), 1);
  });

  it('replays a 64 KiB body on a retry, byte for byte', async () => {
    let n = 0;
    const u = await upstream((req, res, body) => ok(n++ === 0 ? 502 : 200, body.toString('base64').slice(0, 16))(req, res, body));
    const p = await proxy([u]);
    const body = Buffer.alloc(64 * 1024, 7);
    const res = await send(p.port, { method: 'PUT', body });
    assert.equal(res.status, 200);
    assert.deepEqual(u.seen.map((s) => s.bodyBytes), [65_536, 65_536]);
  });

  it('does not retry a body of 64 KiB + 1 byte (Linkerd: too large to replay)', async () => {
    const u = await upstream(ok(502));
    const p = await proxy([u]);
    const res = await send(p.port, { method: 'PUT', body: Buffer.alloc(64 * 1024 + 1, 7) });
    assert.equal(res.status, 502);
    assert.equal(u.seen.length, 1);
    assert.equal(p.metrics.count('not-retried svc.default:80 body-too-large'), 1);
  });

  it('does not retry a chunked body that grows past 64 KiB, and replays a small chunked one', async () => {
    const u = await upstream(ok(502));
    const p = await proxy([u]);
    const big = await send(p.port, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' }, body: Buffer.alloc(70_000, 1) });
    assert.equal(big.status, 502);
    assert.equal(u.seen.length, 1);
    const small = await send(p.port, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' }, body: Buffer.alloc(1000, 1) });
    assert.equal(small.status, 502);
    assert.deepEqual(u.seen.slice(1).map((s) => s.bodyBytes), [1000, 1000]);
  });

  it('retries a refused connection on another endpoint, even for a POST', async () => {
    const dead = await upstream();
    await dead.close();
    const live = await upstream();
    const p = await proxy([dead, live]);
    for (let i = 0; i < 10; i++) {
      const res = await send(p.port, { method: 'POST', body: 'x' });
      assert.equal(res.status, 200, `request ${i}`);
    }
    assert.equal(live.seen.length, 10);
  });

  it('per-try 400 ms within a total 800 ms against a 500 ms server ends in 504 (Linkerd)', async () => {
    const u = await upstream(delayed(500));
    const p = await proxy([u], withRetry({ perTryTimeoutMs: 400, maxRetries: 5 }, { routeTimeoutMs: 800 }));
    const started = performance.now();
    const res = await send(p.port);
    const took = performance.now() - started;
    assert.equal(res.status, 504);
    assert.match(String(res.headers['l5d-proxy-error']), /DEADLINE|TIMEOUT/);
    assert.equal(u.seen.length, 2, 'the first try timed out at 400 ms, the retry was cut by the total at 800 ms');
    assert.ok(took >= 750 && took < 2000, `ended at the total timeout, took ${Math.round(took)} ms`);
  });

  it('propagates the remaining deadline downstream, reduced by the time spent', async () => {
    const u = await upstream();
    const p = await proxy([u]);
    await send(p.port, { headers: { 'weft-deadline': '2000' } });
    const sent = Number(u.seen[0]?.headers['weft-deadline']);
    assert.ok(sent > 1500 && sent <= 2000, `weft-deadline downstream ${sent}`);
  });

  it('answers a request whose incoming deadline passes with 504 and cancels the upstream request', async () => {
    const u = await upstream(delayed(2000));
    const p = await proxy([u]);
    let closed = 0;
    u.server.on('request', (_req, res: ServerResponse) => res.on('close', () => closed++));
    const res = await send(p.port, { headers: { 'weft-deadline': '200' } });
    assert.equal(res.status, 504);
    assert.equal(res.headers['l5d-proxy-error'], 'WEFT_E_RESILIENCE_DEADLINE_EXCEEDED');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(closed, 1, 'the upstream saw its request cancelled');
  });
});
