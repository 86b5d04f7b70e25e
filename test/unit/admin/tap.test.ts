import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { AdminServer } from '../../../agent/admin/server.ts';
import { tapHandler } from '../../../agent/admin/tap.ts';
import { responseChannel } from '../../../agent/telemetry/tap.ts';
import type { ProxyResponseEvent } from '../../../agent/telemetry/tap.ts';

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function event(over: Partial<ProxyResponseEvent> = {}): ProxyResponseEvent {
  return {
    id: 1, time: '2026-11-23T00:00:00.000Z', source: 'shop/client-0', authority: 'web.shop:80', route: 'shop/web:http', dstNamespace: 'shop', dstService: 'web',
    method: 'GET', path: '/', protocol: 'HTTP/1.1', traceId: undefined, status: 200, grpcStatus: undefined, classification: 'success',
    durationMs: 3, upstream: '10.0.0.5:8080', error: undefined, ...over,
  };
}

async function start(buffer = 1024): Promise<string> {
  const server = new AdminServer({ address: '127.0.0.1', port: 0, provider: { status: () => ({}), readiness: () => ({ ready: true, reasons: [] }) } });
  servers.push(server);
  server.router.get('/tap', tapHandler({ subscription: { buffer }, maxSessions: 2 }));
  return (await server.listen()).url;
}

function open(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const until = performance.now() + 3000;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function lines(res: IncomingMessage): { all: () => unknown[]; ended: Promise<void> } {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => (text += chunk));
  // Whole lines only: a chunk may end mid-line.
  const whole = (): string[] => text.split('\n').slice(0, -1).filter((l) => l !== '');
  return { all: () => whole().map((l) => JSON.parse(l) as unknown), ended: new Promise((resolve) => res.on('end', resolve)) };
}

describe('GET /tap', () => {
  it('streams matching requests as JSON lines and ends after max', async () => {
    const url = await start();
    const res = await open(`${url}/tap?status=5xx&max=2`);
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] ?? '', /application\/x-ndjson/);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    const got = lines(res);
    await waitFor(() => responseChannel.hasSubscribers, 'the tap to subscribe');
    responseChannel.publish(event({ id: 1, status: 200 }));
    responseChannel.publish(event({ id: 2, status: 503, error: 'WEFT_E_X' }));
    responseChannel.publish(event({ id: 3, status: 502 }));
    responseChannel.publish(event({ id: 4, status: 500 }));
    await got.ended;
    assert.deepEqual(got.all().map((e) => (e as ProxyResponseEvent).id), [2, 3]);
    assert.equal(responseChannel.hasSubscribers, false);
  });

  it('a client that leaves ends its subscription', async () => {
    const url = await start();
    const res = await open(`${url}/tap`);
    await waitFor(() => responseChannel.hasSubscribers, 'the tap to subscribe');
    res.destroy();
    await waitFor(() => !responseChannel.hasSubscribers, 'the tap to unsubscribe');
  });

  it('a reader that does not read gets drops counted; publishing never waits for it', async () => {
    const url = await start(8);
    const res = await open(`${url}/tap`);
    res.pause();
    await waitFor(() => responseChannel.hasSubscribers, 'the tap to subscribe');
    const big = 'x'.repeat(16 * 1024);
    const started = performance.now();
    // Enough to fill the socket buffers, then the bounded buffer, then drop.
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 20; i++) responseChannel.publish(event({ id: round * 20 + i, path: `/${big}` }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(performance.now() - started < 2000);
    const got = lines(res);
    res.resume();
    await waitFor(() => got.all().some((l) => typeof (l as { dropped?: number }).dropped === 'number'), 'a dropped line');
    const dropped = got.all().map((l) => (l as { dropped?: number }).dropped).filter((d) => d !== undefined);
    assert.ok((dropped.at(-1) ?? 0) > 0);
    res.destroy();
  });

  it('a bad filter is a 400 with the reason', async () => {
    const url = await start();
    const res = await fetch(`${url}/tap?status=9xx`);
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /status must be a code \(503\) or a class \(5xx\)/);
  });

  it('more taps than allowed at once is a 503', async () => {
    const url = await start();
    const a = await open(`${url}/tap`);
    const b = await open(`${url}/tap`);
    const c = await fetch(`${url}/tap`);
    assert.equal(c.status, 503);
    a.destroy();
    b.destroy();
  });

  it('closing the admin server ends open taps at once', async () => {
    const url = await start();
    const res = await open(`${url}/tap`);
    const got = lines(res);
    const started = performance.now();
    await servers.splice(0)[0]?.close();
    await got.ended;
    assert.ok(performance.now() - started < 1000);
  });
});
