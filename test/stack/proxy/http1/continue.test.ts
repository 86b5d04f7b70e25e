// Expect: 100-continue end to end over loopback: client → serveHttp1 → Http1Pool → upstream. weft
// forwards the expectation and attaches the request body (which sends the client its 100) only when
// the upstream asks for it, so an upstream that refuses never makes the client upload.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { HttpRequest, HttpResponse } from '../../../../agent/proxy/http/message.ts';
import { Http1Pool, http1PoolParams, type Http1PoolParams } from '../../../../agent/proxy/http1/pool.ts';
import { serveHttp1 } from '../../../../agent/proxy/http1/server-connection.ts';
import type { Service } from '../../../../agent/stack/service.ts';

const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups) cleanup();
});

async function listen(server: Server | HttpServer): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

async function proxy(upstreamPort: number, params: Partial<Http1PoolParams> = {}): Promise<{ port: number; pool: Http1Pool<number> }> {
  const pool = new Http1Pool<number>({ ...http1PoolParams, ...params }, { connector: (port) => connect(port, '127.0.0.1'), keyOf: (port) => `127.0.0.1:${port}` });
  const service: Service<HttpRequest, HttpResponse> = { call: (req, cx) => pool.request(upstreamPort, req, cx) };
  const server = createServer({ allowHalfOpen: true }, (socket) => serveHttp1(socket, service));
  cleanups.push(() => pool.destroy());
  return { port: await listen(server), pool };
}

/**
 * A well-behaved Expect client (RFC 9110 §10.1.1): sends the head, sends the body only after a 100,
 * and never after a final status. Returns everything it read and whether it sent the body.
 */
async function expectClient(port: number, path: string, body: Buffer): Promise<{ text: string; sentBody: boolean }> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let sentBody = false;
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    const text = Buffer.concat(chunks).toString('latin1');
    if (!sentBody && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
      sentBody = true;
      socket.write(body);
    }
  });
  socket.write(`POST ${path} HTTP/1.1\r\nHost: up\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
  await once(socket, 'close');
  return { text: Buffer.concat(chunks).toString('latin1'), sentBody };
}

/** A raw upstream that reads a head, answers with `answer(head)`, and counts the bytes that follow it. */
async function rawUpstream(answer: (head: string) => string | undefined): Promise<{ port: number; heads: string[]; after: () => Promise<number> }> {
  const heads: string[] = [];
  let afterHead = 0;
  let closed!: () => void;
  const done = new Promise<void>((r) => (closed = r));
  const server = createServer((socket) => {
    let buf = Buffer.alloc(0);
    let head: string | undefined;
    socket.on('data', (d: Buffer) => {
      if (head !== undefined) {
        afterHead += d.length;
        return;
      }
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      head = buf.toString('latin1', 0, end + 4);
      heads.push(head);
      afterHead += buf.length - end - 4;
      const reply = answer(head);
      if (reply !== undefined) socket.write(reply);
    });
    socket.on('close', () => closed());
    socket.on('error', () => {});
  });
  return { port: await listen(server), heads, after: () => done.then(() => afterHead) };
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('http1 Expect: 100-continue end to end', () => {
  for (const [status, reason] of [
    [401, 'Unauthorized'],
    [413, 'Content Too Large'],
    [417, 'Expectation Failed'],
  ] as const) {
    it(`relays an upstream ${status} sent instead of 100: the client never uploads, and nothing reaches the upstream`, async () => {
      const upstream = await rawUpstream(() => `HTTP/1.1 ${status} ${reason}\r\ncontent-length: 7\r\n\r\nrefused`);
      const p = await proxy(upstream.port);
      const got = await expectClient(p.port, '/upload', randomBytes(100_000));
      assert.equal(got.sentBody, false);
      assert.match(got.text, new RegExp(`^HTTP/1\\.1 ${status} [^]*\\r\\nconnection: close\\r\\n\\r\\nrefused$`));
      assert.doesNotMatch(got.text, /100 Continue/);
      // The upstream was asked, and got no byte of the body; weft closed that connection (it was
      // promised a body), so it is not pooled.
      assert.match(upstream.heads[0] as string, /\r\nexpect: 100-continue\r\ncontent-length: 100000\r\n\r\n$/);
      assert.equal(await upstream.after(), 0);
      assert.equal(p.pool.size, 0);
    });
  }

  it('relays the body whole once the upstream asks for it with 100', async () => {
    const upstream = createHttpServer((req, res) => {
      // Node answers 100 itself when the request expects it and no 'checkContinue' listener exists.
      void readAll(req).then((body) => res.end(`${String(req.headers.expect)} ${body.length} ${sha(body)}`));
    });
    const p = await proxy(await listen(upstream));
    const body = randomBytes(300_000);
    const got = await expectClient(p.port, '/upload', body);
    assert.equal(got.sentBody, true);
    assert.match(got.text, new RegExp(`^HTTP/1\\.1 100 Continue\\r\\n\\r\\nHTTP/1\\.1 200 OK\\r\\n[^]*\\r\\n\\r\\n100-continue ${body.length} ${sha(body)}$`));
  });

  it('a checkContinue upstream that accepts only some requests: 100 and the body for one, 403 and no upload for the other', async () => {
    const upstream = createHttpServer();
    upstream.on('checkContinue', (req, res) => {
      if (req.url === '/allowed') {
        res.writeContinue();
        void readAll(req).then((body) => res.end(`stored ${body.length}`));
      } else {
        res.statusCode = 403;
        res.end('no');
      }
    });
    const p = await proxy(await listen(upstream));
    const allowed = await expectClient(p.port, '/allowed', Buffer.alloc(70_000, 1));
    assert.equal(allowed.sentBody, true);
    assert.match(allowed.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [^]*stored 70000$/);
    const denied = await expectClient(p.port, '/denied', Buffer.alloc(70_000, 1));
    assert.equal(denied.sentBody, false);
    assert.match(denied.text, /^HTTP\/1\.1 403 [^]*\r\n\r\nno$/);
  });

  it('sends the body anyway when the upstream never answers the expectation (after expectContinueTimeoutMs)', async () => {
    let upstreamGot = 0;
    let upstreamHead = '';
    // An upstream that ignores Expect and waits for the body, as HTTP/1.0-era servers do; it answers
    // once the whole body is in.
    const server = createServer((socket) => {
      let seen = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        seen = Buffer.concat([seen, d]);
        const end = seen.indexOf('\r\n\r\n');
        if (end >= 0 && seen.length - end - 4 === 5000) {
          upstreamHead = seen.toString('latin1', 0, end);
          upstreamGot = seen.length - end - 4;
          socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        }
      });
    });
    const port = await listen(server);
    const p = await proxy(port, { expectContinueTimeoutMs: 30 });
    const got = await expectClient(p.port, '/slow', Buffer.alloc(5000, 7));
    assert.equal(got.sentBody, true);
    assert.equal(upstreamGot, 5000);
    assert.match(upstreamHead, /\r\nexpect: 100-continue\r\n/);
    assert.match(got.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [^]*\r\n\r\nok$/);
  });
});
