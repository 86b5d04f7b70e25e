import assert from 'node:assert/strict';
import { request as httpRequest, Agent } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { AdminServer, adminServerParams } from '../../../agent/admin/server.ts';
import type { AdminServerParams } from '../../../agent/admin/server.ts';
import type { AdminProvider } from '../../../agent/admin/core-routes.ts';
import { AdminRouter, textResponse } from '../../../agent/admin/router.ts';

class FakeProvider implements AdminProvider {
  ready = true;
  reasons: string[] = [];
  statusValue: unknown = { agent: { version: '0.1.0' }, pods: [{ name: 'web', cgroupId: 42n }] };
  failStatus = false;
  failReadiness = false;
  status(): unknown {
    if (this.failStatus) throw new Error('status exploded');
    return this.statusValue;
  }
  readiness(): { ready: boolean; reasons: string[] } {
    if (this.failReadiness) throw new Error('inventory gone');
    return { ready: this.ready, reasons: this.reasons };
  }
}

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function start(provider = new FakeProvider(), params?: AdminServerParams): Promise<{ server: AdminServer; url: string; provider: FakeProvider }> {
  const server = new AdminServer({ address: '127.0.0.1', port: 0, provider, ...(params === undefined ? {} : { params }) });
  servers.push(server);
  const bound = await server.listen();
  return { server, url: bound.url, provider };
}

describe('admin server', () => {
  it('listens on 127.0.0.1:0 and reports the port it got', async () => {
    const { server, url } = await start();
    const bound = server.address();
    assert.ok(bound !== undefined);
    assert.equal(bound.address, '127.0.0.1');
    assert.equal(bound.family, 4);
    assert.ok(bound.port > 0);
    assert.equal(url, `http://127.0.0.1:${bound.port}`);
  });

  it('GET /status answers the provider status as JSON, bigints as strings, pretty on ?pretty', async () => {
    const { url } = await start();
    const response = await fetch(`${url}/status`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const text = await response.text();
    assert.equal(text, '{"agent":{"version":"0.1.0"},"pods":[{"name":"web","cgroupId":"42"}]}\n');
    const pretty = await (await fetch(`${url}/status?pretty`)).text();
    assert.equal(pretty, `${JSON.stringify({ agent: { version: '0.1.0' }, pods: [{ name: 'web', cgroupId: '42' }] }, null, 2)}\n`);
  });

  it('GET /live answers 200 "live"', async () => {
    const { url } = await start();
    const response = await fetch(`${url}/live`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'live\n');
  });

  it('GET /ready answers 200 when ready and 503 with the reasons when not', async () => {
    const { url, provider } = await start();
    let response = await fetch(`${url}/ready`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ready: true, reasons: [] });
    provider.ready = false;
    provider.reasons = ['inventory not synced yet', 'programs not attached'];
    response = await fetch(`${url}/ready`);
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), { ready: false, reasons: ['inventory not synced yet', 'programs not attached'] });
  });

  it('a readiness check that throws is "not ready" with the error as the reason', async () => {
    const { url, provider } = await start();
    provider.failReadiness = true;
    const response = await fetch(`${url}/ready`);
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), { ready: false, reasons: ['readiness check failed: inventory gone'] });
  });

  it('a status provider that throws gives a 500 JSON error, and the server keeps serving', async () => {
    const { url, provider } = await start();
    provider.failStatus = true;
    const response = await fetch(`${url}/status`);
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), { error: 'GET /status failed: status exploded' });
    assert.equal((await fetch(`${url}/live`)).status, 200);
  });

  it('an unknown path is a 404 JSON error naming the paths that exist', async () => {
    const { url } = await start();
    const response = await fetch(`${url}/nope`);
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(await response.json(), { error: 'no such path: /nope; try /live, /ready, /status' });
  });

  it('another method is a 405 with Allow, and its request body is ignored', async () => {
    const { url } = await start();
    const response = await fetch(`${url}/status`, { method: 'POST', body: 'x'.repeat(100_000) });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET, HEAD');
    assert.deepEqual(await response.json(), { error: 'POST is not allowed on /status; allowed: GET, HEAD' });
  });

  it('HEAD is answered for GET routes, without a body', async () => {
    const { url } = await start();
    const response = await fetch(`${url}/live`, { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '');
  });

  it('routes registered later (as /metrics will be) are served without touching the core', async () => {
    const { server, url } = await start();
    server.router.get('/metrics', () => textResponse(200, 'weft_up 1\n', 'text/plain; version=0.0.4'));
    const response = await fetch(`${url}/metrics`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4');
    assert.equal(await response.text(), 'weft_up 1\n');
    assert.match(((await (await fetch(`${url}/x`)).json()) as { error: string }).error, /\/live, \/metrics, \/ready, \/status/);
  });

  it('a port in use is WEFT_E_ADMIN_BIND saying what to change', async () => {
    const { server } = await start();
    const port = server.address()?.port ?? 0;
    const second = new AdminServer({ address: '127.0.0.1', port, provider: new FakeProvider() });
    await assert.rejects(second.listen(), {
      code: 'WEFT_E_ADMIN_BIND',
      message: `127.0.0.1:${port} is in use: another agent running? set admin.port or WEFT_ADMIN_PORT`,
    });
    await second.close();
  });

  it('an address not on this host is WEFT_E_ADMIN_BIND naming admin.address', async () => {
    // 192.0.2.0/24 is TEST-NET-1: never assigned to a host.
    const server = new AdminServer({ address: '192.0.2.1', port: 0, provider: new FakeProvider() });
    await assert.rejects(server.listen(), { code: 'WEFT_E_ADMIN_BIND', message: /192\.0\.2\.1 is not an address of this host: set admin.address or WEFT_ADMIN_ADDRESS/ });
  });

  it('serves IPv6 loopback and brackets the address in its URL', async () => {
    const server = new AdminServer({ address: '::1', port: 0, provider: new FakeProvider() });
    servers.push(server);
    const bound = await server.listen();
    assert.equal(bound.family, 6);
    assert.equal(bound.url, `http://[::1]:${bound.port}`);
    assert.equal((await fetch(`${bound.url}/live`)).status, 200);
  });

  it('close() closes idle keep-alive connections at once instead of waiting for their timeout', async () => {
    const { server, url } = await start();
    const agent = new Agent({ keepAlive: true });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${url}/live`, { agent }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    assert.equal(Object.values(agent.freeSockets).flat().length, 1, 'the client holds an idle keep-alive socket');
    const started = performance.now();
    await server.close();
    const took = performance.now() - started;
    assert.ok(took < adminServerParams.keepAliveTimeoutMs / 2, `close took ${took} ms`);
    agent.destroy();
  });

  it('a client that never finishes its request head is cut off after the headers timeout', async () => {
    const params = { ...adminServerParams, headersTimeoutMs: 200, requestTimeoutMs: 300, timeoutCheckIntervalMs: 50 };
    const { server } = await start(new FakeProvider(), params);
    const socket = connect(server.address()?.port ?? 0, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /status HTTP/1.1\r\nHost: x\r\n');
    const started = performance.now();
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'close');
    const took = performance.now() - started;
    assert.ok(took < 2_000, `cut off after ${took} ms`);
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 408 /);
  });
});

describe('admin router', () => {
  it('a route registered twice is a wiring error', () => {
    const router = new AdminRouter().get('/status', () => textResponse(200, ''));
    assert.throws(() => router.get('/status', () => textResponse(200, '')), { code: 'WEFT_E_ADMIN_ROUTE' });
    assert.throws(() => router.route('GET', 'status', () => textResponse(200, '')), { code: 'WEFT_E_ADMIN_ROUTE' });
  });

  it('matches exact paths and methods, and lists allowed methods otherwise', () => {
    const router = new AdminRouter().get('/a', () => textResponse(200, 'a')).route('POST', '/b', () => textResponse(200, 'b'));
    assert.equal(router.match('GET', '/a').kind, 'found');
    assert.equal(router.match('head', '/a').kind, 'found');
    assert.deepEqual(router.match('DELETE', '/a'), { kind: 'method-not-allowed', allow: ['GET', 'HEAD'] });
    assert.deepEqual(router.match('GET', '/a/'), { kind: 'not-found' });
    assert.deepEqual(router.paths(), ['/a', '/b']);
  });
});
