import assert from 'node:assert/strict';
import { once } from 'node:events';
import { constants, type ClientHttp2Session } from 'node:http2';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WeftError } from '../../../../agent/errors.ts';
import { HttpBody, readBody } from '../../../../agent/proxy/http/body.ts';
import { HttpHeaders } from '../../../../agent/proxy/http/headers.ts';
import { HttpResponse, type HttpRequest } from '../../../../agent/proxy/http/message.ts';
import { serveHttp2 } from '../../../../agent/proxy/http2/server-connection.ts';
import type { CallContext, Service } from '../../../../agent/stack/service.ts';
import { collect, h2request, h2session, listenHttp2, type Listener } from './harness.ts';

/** A service whose behaviour each test sets. */
class Scripted implements Service<HttpRequest, HttpResponse> {
  handler: (req: HttpRequest, cx: CallContext) => Promise<HttpResponse> = () => Promise.resolve(new HttpResponse(200));
  call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    return this.handler(req, cx);
  }
}

describe('http2 server transport', () => {
  const service = new Scripted();
  let listener: Listener;
  let session: ClientHttp2Session;

  before(async () => {
    listener = await listenHttp2(service);
    session = h2session(listener.port);
  });
  after(async () => {
    session.close();
    await listener.close();
  });

  it('maps a stream to an HttpRequest: pseudo-headers to fields, protocol HTTP/2, te: trailers kept', async () => {
    let seen: HttpRequest | undefined;
    service.handler = (req) => {
      seen = req;
      return Promise.resolve(new HttpResponse(200, new HttpHeaders(['x-r', '1']), HttpBody.from('ok')));
    };
    const res = await h2request(session, { ':method': 'GET', ':path': '/a?b=1', ':authority': 'svc.ns:8080', te: 'trailers', 'x-a': ['1', '2'] });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
    assert.equal(res.headers['x-r'], '1');
    assert.ok(seen);
    assert.equal(seen.protocol, 'HTTP/2');
    assert.equal(seen.method, 'GET');
    assert.equal(seen.scheme, 'http');
    assert.equal(seen.authority, 'svc.ns:8080');
    assert.equal(seen.path, '/a?b=1');
    assert.deepEqual(seen.headers.getAll('x-a'), ['1', '2']);
    assert.equal(seen.headers.get('te'), 'trailers');
    assert.equal(seen.headers.list.some((f) => f.startsWith(':')), false);
  });

  it('drops connection-specific fields a service put in its response', async () => {
    service.handler = () =>
      Promise.resolve(new HttpResponse(200, new HttpHeaders(['connection', 'close', 'keep-alive', 'timeout=5', 'transfer-encoding', 'chunked', 'upgrade', 'x', 'x-kept', 'yes']), HttpBody.from('x')));
    const res = await h2request(session, { ':path': '/' });
    assert.equal(res.status, 200);
    for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade']) assert.equal(res.headers[name], undefined, name);
    assert.equal(res.headers['x-kept'], 'yes');
  });

  it('passes request trailers to body.end and writes response trailers', async () => {
    let requestTrailers: HttpHeaders | undefined;
    service.handler = (req) =>
      new Promise((resolve) => {
        const chunks: Buffer[] = [];
        req.body.pipeTo({
          onData: (c) => chunks.push(Buffer.from(c)) > 0,
          onEnd: (t) => {
            requestTrailers = t;
            const body = new HttpBody(undefined);
            body.push(Buffer.concat(chunks));
            body.end(new HttpHeaders(['grpc-status', '0', 'x-t', 'a', 'x-t', 'b']));
            resolve(new HttpResponse(200, new HttpHeaders(['content-type', 'application/grpc']), body));
          },
          onError: () => {},
        });
      });
    const res = await h2request(session, { ':method': 'POST', ':path': '/echo' }, 'payload', { 'x-req-trailer': 'v' });
    assert.equal(res.body.toString(), 'payload');
    assert.equal(requestTrailers?.get('x-req-trailer'), 'v');
    assert.equal(res.trailers?.['grpc-status'], '0');
    assert.equal(res.trailers?.['x-t'], 'a, b'); // Node's client joins repeats
  });

  it('an empty body with trailers is answered (gRPC trailers-only); an ended empty body is one HEADERS frame with END_STREAM', async () => {
    service.handler = () => {
      const body = new HttpBody(0);
      body.end(new HttpHeaders(['grpc-status', '5', 'grpc-message', 'nope']));
      return Promise.resolve(new HttpResponse(200, new HttpHeaders(['content-type', 'application/grpc']), body));
    };
    const a = await h2request(session, { ':method': 'POST', ':path': '/x' }, '');
    assert.equal(a.status, 200);
    assert.equal(a.trailers?.['grpc-status'], '5');
    assert.equal(a.trailers?.['grpc-message'], 'nope');
    service.handler = () => Promise.resolve(new HttpResponse(200, new HttpHeaders(['grpc-status', '5']), HttpBody.empty()));
    const b = await h2request(session, { ':method': 'POST', ':path': '/x' }, '');
    assert.equal(b.headers['grpc-status'], '5');
    assert.ok((b.flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0, 'HEADERS carried END_STREAM');
  });

  it('streams several MB each way with backpressure: the proxy holds a bounded amount', async () => {
    let body: HttpBody | undefined;
    // Echo: the request body is the response body, so a slow reader stops the uploader.
    service.handler = (req) => {
      body = req.body;
      return Promise.resolve(new HttpResponse(200, new HttpHeaders(), req.body));
    };
    const size = 8 * 1024 * 1024;
    const payload = Buffer.alloc(size, 7);
    const stream = session.request({ ':method': 'POST', ':path': '/echo' });
    let got = 0;
    let paused = false;
    const done = new Promise<void>((resolve, reject) => {
      stream.on('response', () => {
        // Read slowly at first: the echo must stall rather than buffer.
        stream.pause();
        paused = true;
        setTimeout(() => {
          paused = false;
          stream.resume();
        }, 300);
      });
      stream.on('data', (c: Buffer) => {
        got += c.length;
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.end(payload);
    await done;
    assert.equal(paused, false);
    assert.equal(got, size);
    assert.ok(body);
    assert.ok(body.maxBuffered <= 1024 * 1024, `held ${body.maxBuffered} bytes`);
  });

  it('answers a service error with 502 and l5d-proxy-error', async () => {
    service.handler = () => Promise.reject(new WeftError('WEFT_E_TEST_DOWN', 'upstream down'));
    const res = await h2request(session, { ':path': '/' });
    assert.equal(res.status, 502);
    assert.equal(res.headers['l5d-proxy-error'], 'WEFT_E_TEST_DOWN');
    service.handler = () => Promise.reject(new WeftError('WEFT_E_TEST_SHED', 'shed', { flags: { rejected: true } }));
    assert.equal((await h2request(session, { ':path': '/' })).status, 503);
  });

  it('a client RST_STREAM aborts the call: the service sees its signal abort', async () => {
    let aborted: Promise<unknown> | undefined;
    const started = Promise.withResolvers<void>();
    service.handler = (_req, cx) => {
      aborted = once(cx.signal, 'abort');
      started.resolve();
      return new Promise(() => {});
    };
    const stream = session.request({ ':path': '/slow' });
    stream.on('error', () => {});
    await started.promise;
    stream.close(constants.NGHTTP2_CANCEL);
    await aborted;
  });

  it('carries many concurrent streams on one session', async () => {
    service.handler = (req) => new Promise((resolve) => setTimeout(() => resolve(new HttpResponse(200, new HttpHeaders(), HttpBody.from(req.path))), 20));
    const before = listener.connections.length;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => h2request(session, { ':path': `/${i}` })));
    results.forEach((r, i) => assert.equal(r.body.toString(), `/${i}`));
    assert.equal(listener.connections.length, before);
  });
});

describe('http2 server transport, prefix', () => {
  it('replays bytes protocol detection already read before the session reads the socket', async () => {
    const service: Service<HttpRequest, HttpResponse> = {
      call: (req) => readBody(req.body).then((b) => new HttpResponse(200, new HttpHeaders(), HttpBody.from(`${req.path} ${b.length}`))),
    };
    const server = createServer((socket: Socket) => {
      // What detection does: read the first bytes, stop reading, hand them over with the socket.
      socket.once('data', (first: Buffer) => {
        socket.pause();
        serveHttp2(socket, service, undefined, { prefix: first });
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    assert.ok(address !== null && typeof address !== 'string');
    const session = h2session(address.port);
    try {
      const res = await collect(session.request({ ':method': 'POST', ':path': '/p' }).end('abc'));
      assert.equal(res.body.toString(), '/p 3');
    } finally {
      session.close();
      server.close();
    }
  });
});
