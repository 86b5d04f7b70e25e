// The HTTP/1.1 transport end to end over loopback: a client → Http1ServerConnection → a Service
// using the Http1Pool → an upstream node:http server. Every assertion is about bytes, order,
// connection counts or abort propagation; none is about time.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Agent, createServer as createHttpServer, request, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { isWeftError } from '../../../../agent/errors.ts';
import { BODY_HIGH_WATER, type HttpBody } from '../../../../agent/proxy/http/body.ts';
import type { HttpRequest, HttpResponse } from '../../../../agent/proxy/http/message.ts';
import { Http1Pool, http1PoolParams } from '../../../../agent/proxy/http1/pool.ts';
import { http1ServerParams, serveHttp1, type Http1ServerParams } from '../../../../agent/proxy/http1/server-connection.ts';
import type { CallContext, Service } from '../../../../agent/stack/service.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Chain {
  readonly port: number;
  readonly upstreamPort: number;
  /** Connections the upstream accepted. */
  upstreamConnections: number;
  readonly pool: Http1Pool<number>;
  /** Every request the proxy's service saw, with its context. */
  readonly calls: { req: HttpRequest; cx: CallContext; res?: HttpResponse }[];
  readonly errors: unknown[];
  close(): Promise<void>;
}

const open: Chain[] = [];
after(async () => {
  for (const chain of open) await chain.close();
});

async function listen(server: Server | HttpServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function chain(handler: Handler, params: Partial<Http1ServerParams> = {}, upstreamPortOverride?: number): Promise<Chain> {
  const upstream = createHttpServer(handler);
  upstream.keepAliveTimeout = 60_000;
  const upstreamPort = await listen(upstream);
  const pool = new Http1Pool<number>(http1PoolParams, {
    connector: (port) => connect(port, '127.0.0.1'),
    keyOf: (port) => `127.0.0.1:${port}`,
  });
  const calls: Chain['calls'] = [];
  const errors: unknown[] = [];
  const target = upstreamPortOverride ?? upstreamPort;
  const service: Service<HttpRequest, HttpResponse> = {
    async call(req, cx) {
      const call: Chain['calls'][number] = { req, cx };
      calls.push(call);
      const res = await pool.request(target, req, cx);
      call.res = res;
      return res;
    },
  };
  const sockets = new Set<Socket>();
  const proxy = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveHttp1(socket, service, { ...http1ServerParams, ...params }, { onServiceError: (e) => errors.push(e) });
  });
  const port = await listen(proxy);
  const result: Chain = {
    port,
    upstreamPort,
    upstreamConnections: 0,
    pool,
    calls,
    errors,
    async close() {
      pool.destroy();
      for (const s of sockets) s.destroy();
      upstream.closeAllConnections();
      await Promise.all([new Promise((r) => proxy.close(r)), new Promise((r) => upstream.close(r))]);
    },
  };
  upstream.on('connection', () => result.upstreamConnections++);
  open.push(result);
  return result;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface Got {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

function send(port: number, options: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | Buffer[]; agent?: Agent }): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers ?? {}, agent: options.agent ?? false },
      (res) => {
        readAll(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject);
      },
    );
    req.on('error', reject);
    const body = options.body;
    if (Array.isArray(body)) for (const b of body) req.write(b);
    else if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Writes raw bytes, reads until the proxy closes the connection. */
async function raw(port: number, ...parts: (string | Buffer)[]): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  for (const p of parts) socket.write(p);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('http1 transport: client → server-connection → pool → upstream', () => {
  it('relays a GET: method, path, end-to-end headers and the body arrive intact', async () => {
    const c = await chain((req, res) => {
      res.setHeader('x-seen', `${req.method} ${req.url} ${String(req.headers['x-a'])} ${req.headers.host}`);
      res.end('hello');
    });
    const got = await send(c.port, { path: '/p?q=1', headers: { 'x-a': 'b' } });
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), 'hello');
    assert.equal(got.headers['x-seen'], `GET /p?q=1 b 127.0.0.1:${c.port}`);
    assert.equal(c.calls[0]?.req.authority, `127.0.0.1:${c.port}`);
  });

  it('relays POST bodies with content-length and chunked framing, both ways, byte for byte', async () => {
    const c = await chain((req, res) => {
      void readAll(req).then((body) => {
        res.setHeader('x-te', String(req.headers['transfer-encoding']));
        res.setHeader('x-cl', String(req.headers['content-length']));
        res.write(body.subarray(0, 10));
        res.end(body.subarray(10)); // no length: chunked back
      });
    });
    const payload = Buffer.alloc(300_000, 0);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const withLength = await send(c.port, { method: 'POST', headers: { 'content-length': String(payload.length) }, body: payload });
    assert.equal(sha(withLength.body), sha(payload));
    assert.equal(withLength.headers['x-cl'], String(payload.length));
    const chunked = await send(c.port, { method: 'POST', body: [payload.subarray(0, 1000), payload.subarray(1000)] });
    assert.equal(sha(chunked.body), sha(payload));
    assert.equal(chunked.headers['x-te'], 'chunked');
  });

  it('streams large bodies under backpressure: the proxy holds about a high-water mark, not the body', async () => {
    const size = 24 * 1024 * 1024;
    const c = await chain((req, res) => {
      // A slow reader: one chunk per turn of the event loop.
      const hash = createHash('sha256');
      let n = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        n += chunk.length;
        req.pause();
        setImmediate(() => req.resume());
      });
      req.on('end', () => {
        res.setHeader('x-sha', hash.digest('hex'));
        res.setHeader('x-n', String(n));
        // And a large response body, written as fast as the socket lets it.
        const block = Buffer.alloc(64 * 1024, 0x61);
        let left = size / block.length;
        const pump = (): void => {
          while (left > 0) {
            left--;
            if (!res.write(block)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      });
    });
    const block = Buffer.alloc(256 * 1024, 0x5a);
    const blocks = Array.from({ length: size / block.length }, () => block);
    const expected = createHash('sha256');
    for (const b of blocks) expected.update(b);
    const got = await new Promise<{ headers: IncomingMessage['headers']; bytes: number }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: c.port, method: 'POST', path: '/big', agent: false, headers: { 'content-length': String(size) } }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          res.pause();
          setImmediate(() => res.resume());
        });
        res.on('end', () => resolve({ headers: res.headers, bytes }));
        res.on('error', reject);
      });
      req.on('error', reject);
      let i = 0;
      const pump = (): void => {
        while (i < blocks.length) {
          if (!req.write(blocks[i++])) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    assert.equal(got.headers['x-n'], String(size));
    assert.equal(got.headers['x-sha'], expected.digest('hex'));
    assert.equal(got.bytes, size);
    const call = c.calls[0];
    assert.ok(call?.res !== undefined);
    // One socket read (up to 64 KiB) may land on top of a full queue before the producer pauses.
    const bound = BODY_HIGH_WATER + 128 * 1024;
    const reqBody: HttpBody = call.req.body;
    const resBody: HttpBody = call.res.body;
    assert.equal(reqBody.received, size);
    assert.equal(resBody.received, size);
    assert.ok(reqBody.maxBuffered <= bound, `request body buffered ${reqBody.maxBuffered} bytes`);
    assert.ok(resBody.maxBuffered <= bound, `response body buffered ${resBody.maxBuffered} bytes`);
  });

  it('reuses one keep-alive upstream connection for sequential requests', async () => {
    const c = await chain((req, res) => res.end(req.url));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 6; i++) {
      const got = await send(c.port, { path: `/${i}`, agent });
      assert.equal(got.body.toString(), `/${i}`);
    }
    agent.destroy();
    assert.equal(c.upstreamConnections, 1);
    assert.equal(c.pool.connects, 1);
  });

  it('answers pipelined requests in order, on one connection', async () => {
    const c = await chain((req, res) => {
      // The first request is answered last of all if requests were relayed concurrently.
      const delay = req.url === '/1' ? 30 : 0;
      setTimeout(() => res.end(`body${req.url}`), delay);
    });
    const text = await raw(
      c.port,
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    const at = ['body/1', 'body/2', 'body/3'].map((s) => text.indexOf(s));
    assert.ok(at.every((i) => i >= 0), text);
    assert.ok((at[0] as number) < (at[1] as number) && (at[1] as number) < (at[2] as number), text);
    assert.equal(text.match(/HTTP\/1\.1 200/g)?.length, 3);
  });

  it('refuses a malformed request with 400 and l5d-proxy-error, then closes; nothing goes upstream', async () => {
    const c = await chain((_req, res) => res.end('no'));
    const text = await raw(c.port, 'GET / HTTP/1.1\r\nHost: a\r\nx-name : v\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.match(text, /l5d-proxy-error: WEFT_E_HTTP1_WHITESPACE_BEFORE_COLON/);
    assert.equal(c.calls.length, 0);
    assert.equal(c.upstreamConnections, 0);
  });

  it('refuses oversized headers with 431', async () => {
    const c = await chain((_req, res) => res.end('no'));
    const text = await raw(c.port, `GET / HTTP/1.1\r\nHost: a\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    assert.match(text, /^HTTP\/1\.1 431 /);
    assert.match(text, /l5d-proxy-error: WEFT_E_HTTP1_HEAD_TOO_LARGE/);
  });

  it('answers a head that does not finish with 408 and closes', async () => {
    const c = await chain((_req, res) => res.end('no'), { headerTimeoutMs: 50 });
    const text = await raw(c.port, 'GET / HTTP/1.1\r\nHost: a\r\n');
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /l5d-proxy-error: WEFT_E_HTTP_HEADER_TIMEOUT/);
    assert.equal(c.calls.length, 0);
  });

  it('closes an idle keep-alive connection quietly', async () => {
    const c = await chain((_req, res) => res.end('ok'), { idleTimeoutMs: 50 });
    const text = await raw(c.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    // One response, then a quiet close: no 408 after it.
    assert.equal(text.match(/HTTP\/1\.1 /g)?.length, 1);
    assert.match(text, /^HTTP\/1\.1 200 /);
  });

  it('aborts the upstream request when the client disconnects mid-request', async () => {
    let upstreamAborted!: () => void;
    const aborted = new Promise<void>((r) => (upstreamAborted = r));
    let arrived!: () => void;
    const upstreamGotIt = new Promise<void>((r) => (arrived = r));
    const c = await chain((req) => {
      arrived();
      req.on('close', () => upstreamAborted());
      req.on('data', () => {});
    });
    const socket = connect(c.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n0123456789');
    await upstreamGotIt;
    socket.destroy();
    await aborted;
    const call = c.calls[0];
    assert.ok(call !== undefined);
    assert.equal(call.cx.signal.aborted, true);
  });

  it('answers 502 with the reason when the upstream resets before responding', async () => {
    const c = await chain((req) => req.socket.destroy());
    const got = await send(c.port, { path: '/x' });
    assert.equal(got.status, 502);
    assert.equal(got.headers['l5d-proxy-error'], 'WEFT_E_HTTP_UPSTREAM_RESET');
  });

  it('answers 502 with a retryable error when the upstream cannot be reached', async () => {
    const probe = createServer();
    const deadPort = await listen(probe);
    await new Promise((r) => probe.close(r));
    const c = await chain((_req, res) => res.end(), {}, deadPort);
    const got = await send(c.port, {});
    assert.equal(got.status, 502);
    assert.equal(got.headers['l5d-proxy-error'], 'WEFT_E_HTTP_CONNECT');
    const error = c.errors[0];
    assert.ok(isWeftError(error) && error.flags.retryable === true);
  });

  it('frames HEAD, 204 and 304 answers without a body and keeps the connection usable', async () => {
    const c = await chain((req, res) => {
      if (req.url === '/head') {
        res.setHeader('content-length', '5');
        res.end(req.method === 'HEAD' ? undefined : 'hello');
      } else if (req.url === '/204') {
        res.statusCode = 204;
        res.end();
      } else if (req.url === '/304') {
        res.statusCode = 304;
        res.end();
      } else res.end('after');
    });
    const text = await raw(
      c.port,
      'HEAD /head HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\nGET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    const responses = text.split(/(?=HTTP\/1\.1 )/);
    assert.equal(responses.length, 4, text);
    assert.match(responses[0] as string, /^HTTP\/1\.1 200 [^]*\r\n\r\n$/);
    assert.match(responses[0] as string, /\r\ncontent-length: 5\r\n/);
    assert.match(responses[1] as string, /^HTTP\/1\.1 204 [^]*\r\n\r\n$/);
    assert.doesNotMatch(responses[1] as string, /content-length|transfer-encoding/);
    assert.match(responses[2] as string, /^HTTP\/1\.1 304 [^]*\r\n\r\n$/);
    assert.doesNotMatch(responses[2] as string, /transfer-encoding/);
    assert.match(responses[3] as string, /^HTTP\/1\.1 200 [^]*\r\n\r\nafter$/);
  });

  it('sends 100 Continue when the upstream takes the body, then relays it', async () => {
    const c = await chain((req, res) => void readAll(req).then((b) => res.end(`got ${b.toString()}`)));
    const socket = connect(c.port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    let sawContinue!: () => void;
    const continued = new Promise<void>((r) => (sawContinue = r));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (Buffer.concat(chunks).toString().includes('100 Continue')) sawContinue();
    });
    socket.write('POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n');
    await continued;
    socket.write('body');
    await once(socket, 'close');
    const text = Buffer.concat(chunks).toString();
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [^]*got body$/);
  });

  it('answers an HTTP/1.0 client without chunking: a body of unknown length ends with the close', async () => {
    const c = await chain((_req, res) => {
      res.write('part1-');
      res.end('part2');
    });
    const text = await raw(c.port, 'GET / HTTP/1.0\r\nHost: a\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(text, /transfer-encoding/i);
    assert.match(text, /connection: close\r\n\r\npart1-part2$/);
  });

  it('relays trailers of chunked bodies both ways', async () => {
    const c = await chain((req, res) => {
      void readAll(req).then((body) => {
        res.setHeader('x-req-trailer', String(req.trailers['x-sum']));
        res.addTrailers({ 'x-res-sum': 'abc' });
        res.write(body);
        res.end();
      });
    });
    const text = await raw(c.port, 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\n\r\n');
    assert.match(text, /x-req-trailer: 42\r\n/);
    assert.match(text, /transfer-encoding: chunked\r\n[^]*\r\n\r\n3\r\nabc\r\n0\r\nx-res-sum: abc\r\n\r\n$/);
  });

  it('keeps an HTTP/1.0 keep-alive connection open and says so', async () => {
    const c = await chain((req, res) => res.end(`at ${req.url}`));
    const text = await raw(c.port, 'GET /a HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nHost: a\r\n\r\n');
    const responses = text.split(/(?=HTTP\/1\.1 )/);
    assert.equal(responses.length, 2, text);
    assert.match(responses[0] as string, /connection: keep-alive\r\n\r\nat \/a$/);
    assert.match(responses[1] as string, /connection: close\r\n\r\nat \/b$/);
  });

  it('answers 502 when the upstream response cannot be framed, and does not reuse that connection', async () => {
    const bad = createServer((socket) => {
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'));
    });
    const badPort = await listen(bad);
    const c = await chain((_req, res) => res.end(), {}, badPort);
    const got = await send(c.port, {});
    bad.close();
    assert.equal(got.status, 502);
    assert.equal(got.headers['l5d-proxy-error'], 'WEFT_E_HTTP1_TE_AND_CL');
    assert.equal(c.pool.size, 0);
  });

  it('re-frames a read-until-close upstream body as chunked for a keep-alive client', async () => {
    const old = createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.0 200 OK\r\n\r\nuntil-close body'));
    });
    const oldPort = await listen(old);
    const c = await chain((_req, res) => res.end(), {}, oldPort);
    const text = await raw(c.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    old.close();
    const responses = text.split(/(?=HTTP\/1\.1 )/);
    assert.equal(responses.length, 2, text);
    assert.match(responses[0] as string, /transfer-encoding: chunked\r\n\r\n10\r\nuntil-close body\r\n0\r\n\r\n$/);
    assert.doesNotMatch(responses[0] as string, /connection: close/);
  });

  it('aborts the client connection when the upstream resets inside the response body', async () => {
    const c = await chain((_req, res) => {
      res.setHeader('content-length', '100');
      res.write('only part');
      setImmediate(() => res.socket?.destroy());
    });
    const text = await raw(c.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    // The head and the part went out; then the connection was cut rather than finished short.
    assert.match(text, /^HTTP\/1\.1 200 [^]*content-length: 100\r\n[^]*only part$/);
  });

  it('with abortOnClientClose off, answers every request of a client that half-closes after pipelining them', async () => {
    const c = await chain((req, res) => setImmediate(() => res.end(`late answer ${req.url}`)), { abortOnClientClose: false });
    const socket = connect(c.port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.end('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
    await once(socket, 'close');
    assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 200 [^]*late answer \/1HTTP\/1\.1 200 [^]*late answer \/2$/);
  });

  it('aborts the upstream request when the client leaves while waiting for the response', async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    let arrived!: () => void;
    const upstreamGotIt = new Promise<void>((r) => (arrived = r));
    const c = await chain((req, res) => {
      if (req.url === '/after') {
        res.end('fresh');
        return;
      }
      arrived();
      res.on('close', () => upstreamClosed());
    });
    const socket = connect(c.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /wait HTTP/1.1\r\nHost: a\r\n\r\n');
    await upstreamGotIt;
    socket.destroy();
    await closed;
    assert.equal(c.calls[0]?.cx.signal.aborted, true);
    // The abandoned exchange's connection was destroyed, not pooled: the next request connects anew.
    const next = await send(c.port, { path: '/after' });
    assert.equal(next.body.toString(), 'fresh');
    assert.equal(c.pool.connects, 2);
    assert.equal(c.upstreamConnections, 2);
  });

  it('closes a connection that never sends a byte, without an answer', async () => {
    const c = await chain((_req, res) => res.end(), { headerTimeoutMs: 30 });
    const text = await raw(c.port);
    assert.equal(text, '');
  });

  it('gives the same answers however the client cuts its pipelined bytes', async () => {
    const c = await chain((req, res) => {
      void readAll(req).then((body) => res.end(`${req.method} ${req.url} ${body.toString()}|`));
    });
    const stream = Buffer.from(
      'POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
        'POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-t: 1\r\n\r\n' +
        'GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      'latin1',
    );
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), async (cuts) => {
        const at = [0, ...cuts.sort((x, y) => x - y), stream.length];
        const socket = connect(c.port, '127.0.0.1');
        await once(socket, 'connect');
        const chunks: Buffer[] = [];
        socket.on('data', (d: Buffer) => chunks.push(d));
        for (let i = 0; i + 1 < at.length; i++) {
          socket.write(stream.subarray(at[i], at[i + 1]));
          await new Promise((r) => setImmediate(r));
        }
        await once(socket, 'close');
        const bodies = Buffer.concat(chunks)
          .toString('latin1')
          .split(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n/)
          .filter((b) => b.length > 0)
          .map((b) => b.replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$|\r\n$/g, ''));
        assert.deepEqual(bodies.join(''), 'POST /a hello|POST /b abcde|GET /c |');
      }),
      { numRuns: 25 },
    );
  });
});
