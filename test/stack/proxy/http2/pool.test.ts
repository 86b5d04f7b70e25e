import assert from 'node:assert/strict';
import { once } from 'node:events';
import { constants, createServer as createH2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { connect as netConnect, createServer as createNetServer, type Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { isWeftError, type WeftError } from '../../../../agent/errors.ts';
import { HttpBody, readBody } from '../../../../agent/proxy/http/body.ts';
import { HttpHeaders } from '../../../../agent/proxy/http/headers.ts';
import { HttpRequest, type HttpResponse } from '../../../../agent/proxy/http/message.ts';
import { Http2Pool, http2PoolParams } from '../../../../agent/proxy/http2/pool.ts';
import type { CallContext, Service } from '../../../../agent/stack/service.ts';
import { freePort } from '../../../support/net.ts';
import { h2request, h2session, listenHttp2 } from './harness.ts';

type Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

async function upstream(settings: { maxConcurrentStreams?: number } = {}): Promise<{ server: Http2Server; port: number; set(h: Handler): void; kill(): void }> {
  let handler: Handler = (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok');
  };
  const server = createH2Server({ settings });
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {}); // a reset stream errors on this side too
    handler(stream, headers);
  });
  server.on('sessionError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address !== 'string');
  return {
    server,
    port: address.port,
    set(h) {
      handler = h;
    },
    kill() {
      server.close();
      for (const session of sessions) session.destroy();
    },
  };
}

function poolTo(params = http2PoolParams): Http2Pool<number> {
  return new Http2Pool<number>(params, { connector: (port) => netConnect(port, '127.0.0.1'), keyOf: (port) => `127.0.0.1:${port}` });
}

function cx(signal: AbortSignal = new AbortController().signal): CallContext {
  return { deadline: undefined, signal };
}

function get(path = '/', body?: HttpBody): HttpRequest {
  const req = new HttpRequest(body === undefined ? 'GET' : 'POST', 'http', 'svc.test', path, new HttpHeaders(), body);
  req.protocol = 'HTTP/2';
  return req;
}

async function rejection(promise: Promise<unknown>): Promise<WeftError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isWeftError(error), `not a WeftError: ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

describe('Http2Pool', () => {
  let up: Awaited<ReturnType<typeof upstream>>;
  let pool: Http2Pool<number>;
  before(async () => {
    up = await upstream();
  });
  afterEach(() => pool.destroy());
  after(() => up.server.close());

  it('multiplexes concurrent requests on one session', async () => {
    pool = poolTo();
    up.set((stream, headers) => {
      stream.respond({ ':status': 200 });
      setTimeout(() => stream.end(String(headers[':path'])), 10);
    });
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => pool.request(up.port, get(`/${i}`), cx())));
    const bodies = await Promise.all(responses.map((r) => readBody(r.body)));
    bodies.forEach((b, i) => assert.equal(b.toString(), `/${i}`));
    assert.equal(pool.connects, 1);
    assert.equal(pool.size, 1);
  });

  it("opens another session when the server's maxConcurrentStreams is reached", async () => {
    const small = await upstream({ maxConcurrentStreams: 2 });
    pool = poolTo();
    try {
      await readBody((await pool.request(small.port, get(), cx())).body); // SETTINGS learnt
      small.set((stream) => {
        stream.respond({ ':status': 200 });
        setTimeout(() => stream.end('x'), 50);
      });
      const responses = await Promise.all(Array.from({ length: 6 }, () => pool.request(small.port, get(), cx())));
      await Promise.all(responses.map((r) => readBody(r.body)));
      assert.ok(pool.connects >= 3, `connects ${pool.connects}`);
    } finally {
      small.server.close();
    }
  });

  it('sends the request body and trailers and reads the response body and trailers', async () => {
    pool = poolTo();
    let seenTrailers: IncomingHttpHeaders | undefined;
    up.set((stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('trailers', (t: IncomingHttpHeaders) => {
        seenTrailers = t;
      });
      stream.on('end', () => {
        stream.respond({ ':status': 201, 'x-te': String(headers.te) }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.concat(chunks));
      });
    });
    const body = new HttpBody(undefined);
    body.push(Buffer.from('hello '));
    body.push(Buffer.from('world'));
    body.end(new HttpHeaders(['x-req-trailer', 'v']));
    const req = get('/echo', body);
    req.headers.add('te', 'trailers').add('connection', 'close');
    const res = await pool.request(up.port, req, cx());
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-te'), 'trailers');
    const ended = Promise.withResolvers<HttpHeaders | undefined>();
    const chunks: Buffer[] = [];
    res.body.pipeTo({ onData: (c) => chunks.push(Buffer.from(c)) > 0, onEnd: ended.resolve, onError: ended.reject });
    const trailers = await ended.promise;
    assert.equal(Buffer.concat(chunks).toString(), 'hello world');
    assert.equal(trailers?.get('grpc-status'), '0');
    assert.equal(seenTrailers?.['x-req-trailer'], 'v');
  });

  it('a trailers-only answer (HEADERS with END_STREAM) is a response with an ended empty body', async () => {
    pool = poolTo();
    up.set((stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5' }, { endStream: true }));
    const res = await pool.request(up.port, get(), cx());
    assert.equal(res.headers.get('grpc-status'), '5');
    assert.equal(res.body.length, 0);
    assert.equal((await readBody(res.body)).length, 0);
  });

  it('a failed connect is a retryable WEFT_E_HTTP2_CONNECT', async () => {
    pool = poolTo();
    const port = await freePort();
    const error = await rejection(pool.request(port, get(), cx()));
    assert.equal(error.code, 'WEFT_E_HTTP2_CONNECT');
    assert.equal(error.flags.retryable, true);
  });

  it('a server that accepts TCP but never sends SETTINGS fails the connect after connectTimeoutMs, retryable; a caller can leave sooner', async () => {
    const accepted = new Set<Socket>();
    const silent = createNetServer((socket) => {
      accepted.add(socket);
      socket.on('error', () => {});
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const address = silent.address();
    assert.ok(address !== null && typeof address !== 'string');
    pool = poolTo({ ...http2PoolParams, connectTimeoutMs: 200 });
    try {
      const error = await rejection(pool.request(address.port, get(), cx()));
      assert.equal(error.code, 'WEFT_E_HTTP2_CONNECT');
      assert.equal(error.flags.retryable, true);
      const controller = new AbortController();
      const pending = rejection(pool.request(address.port, get(), cx(controller.signal)));
      controller.abort();
      const left = await pending;
      assert.equal(left.flags.interrupted, true);
    } finally {
      silent.close();
      for (const socket of accepted) socket.destroy();
    }
  });

  it('REFUSED_STREAM is retryable; another reset is not', async () => {
    pool = poolTo();
    up.set((stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM));
    const refused = await rejection(pool.request(up.port, get(), cx()));
    assert.equal(refused.code, 'WEFT_E_HTTP2_REFUSED_STREAM');
    assert.equal(refused.flags.retryable, true);
    up.set((stream) => stream.close(constants.NGHTTP2_INTERNAL_ERROR));
    const reset = await rejection(pool.request(up.port, get(), cx()));
    assert.equal(reset.code, 'WEFT_E_HTTP2_STREAM_RESET');
    assert.notEqual(reset.flags.retryable, true);
  });

  it('a session that got GOAWAY is replaced by a new one', async () => {
    pool = poolTo();
    up.set((stream) => {
      stream.respond({ ':status': 200 });
      stream.end('x');
      stream.session?.close();
    });
    await readBody((await pool.request(up.port, get(), cx())).body);
    await new Promise((r) => setTimeout(r, 50));
    up.set((stream) => {
      stream.respond({ ':status': 200 });
      stream.end('y');
    });
    const res = await pool.request(up.port, get(), cx());
    assert.equal((await readBody(res.body)).toString(), 'y');
    assert.equal(pool.connects, 2);
  });

  it('an aborted caller resets the upstream stream with CANCEL', async () => {
    pool = poolTo();
    const rst = Promise.withResolvers<number>();
    up.set((stream) => {
      stream.respond({ ':status': 200 });
      stream.write('partial');
      stream.on('close', () => rst.resolve(stream.rstCode));
    });
    const controller = new AbortController();
    const res = await pool.request(up.port, get(), cx(controller.signal));
    const failed = rejection(readBody(res.body));
    controller.abort();
    assert.equal(await rst.promise, constants.NGHTTP2_CANCEL);
    const error = await failed;
    assert.equal(error.flags.interrupted, true);
  });

  it('closes a session left idle for idleTimeoutMs', async () => {
    pool = poolTo({ ...http2PoolParams, idleTimeoutMs: 50 });
    up.set((stream) => {
      stream.respond({ ':status': 200 });
      stream.end('x');
    });
    await readBody((await pool.request(up.port, get(), cx())).body);
    assert.equal(pool.size, 1);
    const deadline = Date.now() + 5000;
    while (pool.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(pool.size, 0);
  });
});

describe('http2 proxy: serveHttp2 → Http2Pool → upstream', () => {
  it('streams 8 MB each way through the proxy holding a bounded amount, and answers 502 when the upstream is gone', async () => {
    const up = await upstream();
    const pool = poolTo();
    const bodies: HttpBody[] = [];
    const proxy: Service<HttpRequest, HttpResponse> = {
      call: async (req, callCx) => {
        bodies.push(req.body);
        const res = await pool.request(up.port, req, callCx);
        bodies.push(res.body);
        return res;
      },
    };
    const listener = await listenHttp2(proxy);
    const session = h2session(listener.port);
    try {
      up.set((stream) => {
        stream.respond({ ':status': 200 });
        stream.pipe(stream); // echo, with Node's own backpressure
      });
      const size = 8 * 1024 * 1024;
      const res = await h2request(session, { ':method': 'POST', ':path': '/echo' }, Buffer.alloc(size, 1));
      assert.equal(res.status, 200);
      assert.equal(res.body.length, size);
      for (const body of bodies) assert.ok(body.maxBuffered <= 1024 * 1024, `held ${body.maxBuffered}`);

      up.kill();
      await new Promise((r) => setTimeout(r, 50));
      const gone = await h2request(session, { ':path': '/' });
      assert.equal(gone.status, 502);
      assert.equal(gone.headers['l5d-proxy-error'], 'WEFT_E_HTTP2_CONNECT');
    } finally {
      session.close();
      await listener.close();
      pool.destroy();
    }
  });
});

describe('http2 proxy: cancellation and upstream failures', () => {
  let up: Awaited<ReturnType<typeof upstream>>;
  let pool: Http2Pool<number>;
  let listener: Awaited<ReturnType<typeof listenHttp2>>;
  before(async () => {
    up = await upstream();
    pool = poolTo();
    listener = await listenHttp2({ call: (req, callCx) => pool.request(up.port, req, callCx) });
  });
  after(async () => {
    pool.destroy();
    await listener.close();
    up.kill();
  });

  it("a client's RST_STREAM cancels the upstream stream (RST_STREAM CANCEL) through the proxy", async () => {
    const seen = Promise.withResolvers<number>();
    const started = Promise.withResolvers<void>();
    up.set((stream) => {
      stream.on('close', () => seen.resolve(stream.rstCode));
      started.resolve();
    });
    const session = h2session(listener.port);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/slow' });
      stream.on('error', () => {});
      stream.write('part of a body');
      await started.promise;
      stream.close(constants.NGHTTP2_CANCEL);
      assert.equal(await seen.promise, constants.NGHTTP2_CANCEL);
    } finally {
      session.close();
    }
  });

  it('a client that drops its connection cancels every upstream stream it had open', async () => {
    const closed: number[] = [];
    const allClosed = Promise.withResolvers<void>();
    let started = 0;
    const allStarted = Promise.withResolvers<void>();
    up.set((stream) => {
      stream.respond({ ':status': 200 });
      stream.write('x');
      if (++started === 5) allStarted.resolve();
      stream.on('close', () => {
        closed.push(stream.rstCode);
        if (closed.length === 5) allClosed.resolve();
      });
    });
    const session = h2session(listener.port);
    for (let i = 0; i < 5; i++) session.request({ ':path': `/${i}` }).on('error', () => {});
    await allStarted.promise;
    session.destroy();
    await allClosed.promise;
    assert.deepEqual(closed, Array(5).fill(constants.NGHTTP2_CANCEL));
  });

  it('an upstream that refuses the stream is answered 502 with l5d-proxy-error', async () => {
    up.set((stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM));
    const session = h2session(listener.port);
    try {
      const res = await h2request(session, { ':path': '/' });
      assert.equal(res.status, 502);
      assert.equal(res.headers['l5d-proxy-error'], 'WEFT_E_HTTP2_REFUSED_STREAM');
    } finally {
      session.close();
    }
  });

  it('an upstream reset inside the response body reaches the client as a reset, not a short answer', async () => {
    up.set((stream) => {
      stream.respond({ ':status': 200 });
      // destroy() resets without the END_STREAM that close() sends first.
      stream.write('half', () => setTimeout(() => stream.destroy(new Error('upstream broke')), 20));
    });
    const session = h2session(listener.port);
    try {
      await assert.rejects(h2request(session, { ':path': '/' }));
    } finally {
      session.close();
    }
  });
});
