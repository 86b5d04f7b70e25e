// The upstream pool on its own: which failures it marks safe to retry, and per-endpoint idle limits.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { isWeftError } from '../../../../agent/errors.ts';
import { HttpBody, readBody } from '../../../../agent/proxy/http/body.ts';
import { HttpRequest } from '../../../../agent/proxy/http/message.ts';
import { Http1Pool, http1PoolParams } from '../../../../agent/proxy/http1/pool.ts';

const servers: Server[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** A raw upstream: answers the first request on each connection, then closes on the second without a word. */
async function answersOnce(): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket);
    let n = 0;
    socket.on('data', () => {
      if (n++ === 0) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      else socket.destroy();
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function pool(maxIdle = http1PoolParams.maxIdlePerEndpoint): Http1Pool<number> {
  return new Http1Pool<number>({ ...http1PoolParams, maxIdlePerEndpoint: maxIdle }, { connector: (port) => connect(port, '127.0.0.1'), keyOf: (port) => `127.0.0.1:${port}` });
}

const cx = (): { deadline: undefined; signal: AbortSignal } => ({ deadline: undefined, signal: new AbortController().signal });

describe('Http1Pool', () => {
  it('marks a silent close of a reused connection retryable for an idempotent bodiless request only', async () => {
    const port = await answersOnce();
    const p = pool();
    const first = await p.request(port, new HttpRequest('GET', 'http', 'up', '/'), cx());
    assert.equal((await readBody(first.body)).toString(), 'ok');
    assert.equal(p.idleCount(`127.0.0.1:${port}`), 1);
    await assert.rejects(p.request(port, new HttpRequest('GET', 'http', 'up', '/'), cx()), (e: unknown) => {
      assert.ok(isWeftError(e));
      assert.equal(e.code, 'WEFT_E_HTTP_STALE_CONNECTION');
      assert.equal(e.flags.retryable, true);
      return true;
    });

    const again = await p.request(port, new HttpRequest('GET', 'http', 'up', '/'), cx());
    await readBody(again.body);
    await assert.rejects(p.request(port, new HttpRequest('POST', 'http', 'up', '/', undefined, HttpBody.from('x')), cx()), (e: unknown) => {
      assert.ok(isWeftError(e));
      assert.equal(e.code, 'WEFT_E_HTTP_UPSTREAM_RESET');
      assert.notEqual(e.flags.retryable, true);
      return true;
    });
    p.destroy();
  });

  it('keeps at most maxIdlePerEndpoint idle connections', async () => {
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => socket.write('HTTP/1.1 204 No Content\r\n\r\n'));
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const p = pool(2);
    const responses = await Promise.all([1, 2, 3, 4].map(() => p.request(port, new HttpRequest('GET', 'http', 'up', '/'), cx())));
    assert.equal(p.connects, 4);
    await Promise.all(responses.map((r) => readBody(r.body)));
    assert.equal(p.idleCount(`127.0.0.1:${port}`), 2);
    // The balancer closes an endpoint's service when the endpoint leaves: its idle connections go.
    const service = p.service(port);
    await service.close?.();
    assert.equal(p.idleCount(`127.0.0.1:${port}`), 0);
    p.destroy();
  });

  it('a 2xx to CONNECT hands the socket over as the tunnel, bytes after the head first; a refused CONNECT leaves the connection pooled', async () => {
    const heads: string[] = [];
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', (d: Buffer) => {
        const head = d.toString('latin1');
        heads.push(head);
        if (head.startsWith('CONNECT denied:1 ')) socket.write('HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n');
        else if (head.startsWith('CONNECT ')) socket.write('HTTP/1.1 200 Connection Established\r\ncontent-length: 99\r\n\r\nserver-first');
        else socket.write(`tunnel got ${head}`);
      });
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const p = pool();
    const refused = await p.request(port, new HttpRequest('CONNECT', 'http', 'denied:1', ''), cx());
    assert.equal(refused.status, 407);
    assert.equal(refused.tunnel, undefined);
    await readBody(refused.body);
    assert.equal(p.idleCount(`127.0.0.1:${port}`), 1);

    const req = new HttpRequest('CONNECT', 'http', 'db:5432', '');
    req.upgrade = 'CONNECT';
    const res = await p.request(port, req, cx());
    assert.equal(res.status, 200);
    assert.equal(heads[1], 'CONNECT db:5432 HTTP/1.1\r\nhost: db:5432\r\n\r\n');
    // The reused connection became the tunnel: it left the pool; the 200's content-length meant nothing.
    assert.equal(p.size, 0);
    assert.equal(p.connects, 1);
    const tunnel = res.tunnel;
    assert.ok(tunnel !== undefined);
    assert.equal(await readBody(res.body).then((b) => b.length), 0);
    const got: Buffer[] = [];
    // The tunnel is handed over paused, so nothing is lost before its owner reads it.
    tunnel.on('data', (d: Buffer) => got.push(d));
    tunnel.resume();
    tunnel.write('ping');
    for (let i = 0; i < 1000 && Buffer.concat(got).toString() !== 'server-firsttunnel got ping'; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(Buffer.concat(got).toString(), 'server-firsttunnel got ping');
    tunnel.destroy();
    p.destroy();
  });

  it('closes a connection that was busy when its endpoint left discovery once its exchange ends, instead of idling it', async () => {
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => setTimeout(() => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'), 50));
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const p = pool();
    const busy = p.request(port, new HttpRequest('GET', 'http', 'up', '/'), cx());
    await new Promise((r) => setTimeout(r, 10));
    p.closeEndpoint(port);
    const res = await busy;
    assert.equal((await readBody(res.body)).toString(), 'ok');
    for (let i = 0; i < 50 && p.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(p.idleCount(`127.0.0.1:${port}`), 0, 'not kept idle');
    assert.equal(p.size, 0, 'closed');
    // The endpoint comes back: its connections are pooled again.
    await readBody((await p.request(port, new HttpRequest('GET', 'http', 'up', '/'), cx())).body);
    await new Promise((r) => setImmediate(r));
    assert.equal(p.idleCount(`127.0.0.1:${port}`), 1);
    p.destroy();
  });
});
