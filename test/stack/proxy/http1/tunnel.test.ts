// Upgrade (WebSocket-style) and CONNECT through the HTTP/1.1 transport over loopback:
// client → serveHttp1 → service → Http1Pool → upstream, with the 101 / 2xx turning both connections
// into one tunnel. Assertions are about bytes, order, half-closes, resets and connection counts.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { WeftError } from '../../../../agent/errors.ts';
import { HttpResponse, type HttpRequest } from '../../../../agent/proxy/http/message.ts';
import { Http1Pool, http1PoolParams } from '../../../../agent/proxy/http1/pool.ts';
import { serveHttp1, type Http1ServerConnection } from '../../../../agent/proxy/http1/server-connection.ts';
import type { TunnelResult } from '../../../../agent/proxy/http1/tunnel.ts';
import type { Service } from '../../../../agent/stack/service.ts';

const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups) cleanup();
});

async function listen(server: Server | HttpServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return port;
}

interface Proxy {
  readonly port: number;
  readonly pool: Http1Pool<number>;
  readonly calls: HttpRequest[];
  readonly connections: Http1ServerConnection[];
  readonly tunnels: TunnelResult[];
  /** Resolves with the next tunnel's result. */
  tunnelEnded(): Promise<TunnelResult>;
}

/** The proxy under test: serveHttp1 with service.call = (req, cx) => pool.request(upstream, req, cx). */
async function proxy(upstreamPort: number, override?: Service<HttpRequest, HttpResponse>['call']): Promise<Proxy> {
  const pool = new Http1Pool<number>(http1PoolParams, { connector: (port) => connect(port, '127.0.0.1'), keyOf: (port) => `127.0.0.1:${port}` });
  const calls: HttpRequest[] = [];
  const service: Service<HttpRequest, HttpResponse> = {
    call(req, cx) {
      calls.push(req);
      return override !== undefined ? override(req, cx) : pool.request(upstreamPort, req, cx);
    },
  };
  const connections: Http1ServerConnection[] = [];
  const tunnels: TunnelResult[] = [];
  const waiting: ((r: TunnelResult) => void)[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    connections.push(
      serveHttp1(socket, service, undefined, {
        onTunnelEnd: (r) => {
          tunnels.push(r);
          waiting.shift()?.(r);
        },
      }),
    );
  });
  const port = await listen(server);
  cleanups.push(() => pool.destroy());
  return { port, pool, calls, connections, tunnels, tunnelEnded: () => new Promise((r) => waiting.push(r)) };
}

/** A client socket that keeps everything it reads. */
class Client {
  readonly socket: Socket;
  readonly chunks: Buffer[] = [];
  ended = false;
  error: NodeJS.ErrnoException | undefined;
  #waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    this.socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.#wake();
    });
    this.socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    this.socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e;
      this.#wake();
    });
    this.socket.on('close', () => this.#wake());
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.bytes.toString('latin1');
  }

  /** Waits until `test` holds of what was read (or the socket closed). */
  async until(test: (c: Client) => boolean): Promise<void> {
    while (!test(this)) {
      if (this.socket.destroyed) assert.fail(`closed before the condition held; read ${JSON.stringify(this.text.slice(0, 500))}`);
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  /** What came after the first head that `status` starts. */
  after(status: string): Buffer {
    const bytes = this.bytes;
    const at = bytes.indexOf(status);
    const end = bytes.indexOf('\r\n\r\n', at);
    return end < 0 ? Buffer.alloc(0) : bytes.subarray(end + 4);
  }
}

/**
 * A raw upstream: reads a head, hands it and the socket to `onHead` with the bytes that came after
 * it (the tunnel's early data), and never parses anything else.
 */
async function rawUpstream(onHead: (socket: Socket, head: string, rest: Buffer) => void): Promise<{ port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const head = buf.toString('latin1', 0, end + 4);
      heads.push(head);
      onHead(socket, head, buf.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  });
  return { port: await listen(server), heads };
}

const WS_REQUEST =
  'GET /chat HTTP/1.1\r\nHost: chat.svc\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Sec-WebSocket-Version: 13\r\nKeep-Alive: timeout=5\r\n\r\n';
const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('http1 Upgrade through the proxy', () => {
  it('relays a WebSocket upgrade: 101 with its protocol, early data and server-first bytes in order, then bytes both ways', async () => {
    let upstreamGot = Buffer.alloc(0);
    let gotAll!: () => void;
    const allArrived = new Promise<void>((r) => (gotAll = r));
    const payload = randomBytes(1024 * 1024);
    const upstream = await rawUpstream((socket, _head, rest) => {
      // Server-first bytes in the same write as the 101: the pool's socket must hand them over.
      socket.write(`${SWITCH}server-first|`);
      upstreamGot = Buffer.concat([upstreamGot, rest]);
      socket.on('data', (d: Buffer) => {
        upstreamGot = Buffer.concat([upstreamGot, d]);
        if (upstreamGot.length === 6 + payload.length) {
          gotAll();
          socket.write(payload); // and as much back
        }
      });
    });
    const p = await proxy(upstream.port);
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    // Early data right behind the head, in the same write.
    client.socket.write(`${WS_REQUEST}early!`);
    await client.until((c) => c.after('HTTP/1.1 101').length >= 'server-first|'.length);
    const head = client.text.slice(0, client.text.indexOf('\r\n\r\n') + 4);
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(head, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
    assert.match(head, /\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n$/);
    assert.doesNotMatch(head, /content-length|transfer-encoding/i);
    assert.equal(client.after('HTTP/1.1 101').toString('latin1'), 'server-first|');

    client.socket.write(payload);
    await allArrived;
    assert.equal(upstreamGot.subarray(0, 6).toString(), 'early!');
    assert.equal(sha(upstreamGot.subarray(6)), sha(payload));
    await client.until((c) => c.after('HTTP/1.1 101').length === 'server-first|'.length + payload.length);
    assert.equal(sha(client.after('HTTP/1.1 101').subarray('server-first|'.length)), sha(payload));

    // The upstream saw an upgrade request: its protocol, connection: upgrade, the end-to-end fields, no Keep-Alive.
    const upstreamHead = upstream.heads[0] as string;
    assert.match(upstreamHead, /^GET \/chat HTTP\/1\.1\r\nhost: chat\.svc\r\n/);
    assert.match(upstreamHead, /\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n/);
    assert.match(upstreamHead, /\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n$/);
    assert.doesNotMatch(upstreamHead, /keep-alive/i);
    assert.equal(p.calls[0]?.upgrade, 'websocket');
    // The switched connection left the pool for good.
    assert.equal(p.pool.size, 0);
    assert.equal(p.connections[0]?.switched, true);
    client.socket.destroy();
  });

  it("a real WebSocket client (Node's) completes its handshake through the proxy and exchanges messages", async () => {
    // A minimal RFC 6455 server: the handshake, and an echo of short text frames (client frames are masked).
    const upstream = await rawUpstream((socket, head, rest) => {
      const key = /\r\nsec-websocket-key: ([^\r]+)\r\n/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      let buf = rest;
      const frames = (d: Buffer): void => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 6) {
          const opcode = (buf[0] as number) & 0x0f;
          const len = (buf[1] as number) & 0x7f; // short frames only: this test sends nothing longer
          if (buf.length < 6 + len) return;
          const mask = buf.subarray(2, 6);
          const payload = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ (mask[i % 4] as number)));
          buf = buf.subarray(6 + len);
          if (opcode === 0x8) {
            socket.end(Buffer.from([0x88, 0]));
            return;
          }
          socket.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload]));
        }
      };
      socket.on('data', frames);
    });
    const p = await proxy(upstream.port);
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/chat`);
    const messages: string[] = [];
    const two = new Promise<void>((resolve, reject) => {
      ws.onmessage = (e: MessageEvent) => {
        messages.push(String(e.data));
        if (messages.length === 2) resolve();
      };
      ws.onerror = () => reject(new Error('websocket error'));
    });
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error('websocket handshake failed'));
    });
    ws.send('hello');
    ws.send('again');
    await two;
    assert.deepEqual(messages, ['hello', 'again']);
    assert.equal(p.calls[0]?.upgrade, 'websocket');
    ws.close();
  });

  it('loses no byte and parses none as HTTP however the client cuts its request, early data and tunnel bytes', async () => {
    const received: Buffer[] = [];
    let upstreamDone!: () => void;
    let done = new Promise<void>((r) => (upstreamDone = r));
    const upstream = await rawUpstream((socket, _head, rest) => {
      socket.write(SWITCH);
      let got = rest;
      const finish = (): void => {
        received.push(got);
        upstreamDone();
        socket.end();
      };
      socket.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
      socket.on('end', finish);
    });
    const p = await proxy(upstream.port);
    // Tunnel bytes that look like HTTP requests: the tunnel must pass them, not the parser.
    const tunnelBytes = Buffer.from('GET /not-http HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff binary tail', 'latin1');
    const stream = Buffer.concat([Buffer.from(WS_REQUEST, 'latin1'), tunnelBytes]);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 10 }), async (cuts) => {
        const at = [0, ...cuts.sort((x, y) => x - y), stream.length];
        const client = new Client(p.port);
        await once(client.socket, 'connect');
        for (let i = 0; i + 1 < at.length; i++) {
          client.socket.write(stream.subarray(at[i], at[i + 1]));
          await new Promise((r) => setImmediate(r));
        }
        client.socket.end();
        await done;
        done = new Promise<void>((r) => (upstreamDone = r));
        await client.until((c) => c.ended);
        assert.equal((received.pop() as Buffer).toString('latin1'), tunnelBytes.toString('latin1'));
        assert.match(client.text, /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\n$/);
        client.socket.destroy();
      }),
      { numRuns: 25 },
    );
    assert.equal(p.calls.length, 25);
  });

  it('carries half-closes both ways through the tunnel, and reports the tunnel closed cleanly', async () => {
    let upstreamSaw = '';
    const upstream = await rawUpstream((socket) => {
      socket.write(SWITCH);
      socket.on('data', (d: Buffer) => (upstreamSaw += d.toString()));
      socket.on('end', () => {
        // The client finished sending; this direction still flows, then ends too.
        socket.end(`after your FIN I read ${upstreamSaw}`);
      });
    });
    const p = await proxy(upstream.port);
    const ended = p.tunnelEnded();
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    client.socket.write(WS_REQUEST);
    await client.until((c) => c.text.includes('\r\n\r\n'));
    client.socket.end('last words');
    await client.until((c) => c.ended);
    assert.equal(client.after('HTTP/1.1 101').toString(), 'after your FIN I read last words');
    const result = await ended;
    assert.equal(result.ending, 'closed');
    assert.equal(result.clientBytes, 'last words'.length);
    assert.equal(result.upstreamBytes, 'after your FIN I read last words'.length);
  });

  it('delivers a server that says its piece and closes in the same breath as the 101: bytes, then the FIN', async () => {
    const upstream = await rawUpstream((socket) => {
      socket.end(`${SWITCH}goodbye`);
    });
    const p = await proxy(upstream.port);
    const ended = p.tunnelEnded();
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    client.socket.write(WS_REQUEST);
    await client.until((c) => c.ended);
    assert.equal(client.after('HTTP/1.1 101').toString(), 'goodbye');
    // Half-closed, not reset: the client can still send, and ends the tunnel with its own FIN.
    client.socket.end();
    const result = await ended;
    assert.equal(result.ending, 'closed');
    assert.equal(result.upstreamBytes, 'goodbye'.length);
  });

  it('turns an upstream reset inside the tunnel into a reset of the client', async () => {
    const upstream = await rawUpstream((socket) => {
      socket.write(SWITCH);
      socket.once('data', () => socket.resetAndDestroy());
    });
    const p = await proxy(upstream.port);
    const ended = p.tunnelEnded();
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    client.socket.write(WS_REQUEST);
    await client.until((c) => c.text.includes('\r\n\r\n'));
    client.socket.write('boom');
    await client.until((c) => c.socket.destroyed);
    assert.equal(client.error?.code, 'ECONNRESET');
    assert.equal(client.ended, false);
    assert.equal((await ended).ending, 'upstream-reset');
  });

  it('turns a client reset inside the tunnel into a reset of the upstream', async () => {
    let upstreamError!: (code: string | undefined) => void;
    const upstreamReset = new Promise<string | undefined>((r) => (upstreamError = r));
    const upstream = await rawUpstream((socket) => {
      socket.write(SWITCH);
      socket.on('error', (e: NodeJS.ErrnoException) => upstreamError(e.code));
      socket.on('end', () => upstreamError('clean FIN'));
    });
    const p = await proxy(upstream.port);
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    client.socket.write(WS_REQUEST);
    await client.until((c) => c.text.includes('\r\n\r\n'));
    client.socket.resetAndDestroy();
    assert.equal(await upstreamReset, 'ECONNRESET');
  });

  it('a declined upgrade (200) is an ordinary response: the bytes after it are the next request, on the same connections', async () => {
    let upstreamConnections = 0;
    const upstream = createHttpServer((req, res) => {
      res.setHeader('x-upgrade-seen', String(req.headers.upgrade));
      res.end(`plain ${req.url}`);
    });
    upstream.on('connection', () => upstreamConnections++);
    const p = await proxy(await listen(upstream));
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    // The next request rides right behind the upgrade request: it must wait for the answer, then
    // be read as HTTP since the switch did not happen.
    client.socket.write(`${WS_REQUEST}GET /next HTTP/1.1\r\nHost: chat.svc\r\nConnection: close\r\n\r\n`);
    await client.until((c) => c.ended);
    const responses = client.text.split(/(?=HTTP\/1\.1 )/);
    assert.equal(responses.length, 2, client.text);
    assert.match(responses[0] as string, /^HTTP\/1\.1 200 [^]*x-upgrade-seen: websocket\r\n[^]*plain \/chat$/);
    assert.doesNotMatch(responses[0] as string, /connection: close/);
    assert.match(responses[1] as string, /^HTTP\/1\.1 200 [^]*plain \/next$/);
    assert.equal(p.connections[0]?.switched, false);
    assert.equal(upstreamConnections, 1, 'the declined upgrade left the upstream connection reusable');
  });

  it('refuses a 101 that arrives without a tunnel (a layer made it up) with 502', async () => {
    const p = await proxy(0, () => Promise.resolve(new HttpResponse(101)));
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    client.socket.write(WS_REQUEST);
    await client.until((c) => c.text.endsWith('without a tunnel\n'));
    assert.match(client.text, /^HTTP\/1\.1 502 [^]*l5d-proxy-error: WEFT_E_HTTP_BAD_SWITCH\r\n/);
    assert.equal(p.connections[0]?.switched, false);
  });
});

describe('http1 CONNECT through the proxy', () => {
  /** An upstream that is itself a CONNECT proxy (Node's 'connect' event) in front of a TCP echo server. */
  async function connectChain(): Promise<{ proxy: Proxy; echoPort: number; upstreamRequests: string[] }> {
    const echo = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
      socket.on('end', () => socket.end());
      socket.on('error', () => {});
    });
    const echoPort = await listen(echo);
    const upstreamRequests: string[] = [];
    const upstream = createHttpServer((_req, res) => res.end('not a tunnel'));
    upstream.on('connect', (req, socket: Socket, head: Buffer) => {
      upstreamRequests.push(`${req.method} ${req.url} ${req.headers.host}`);
      if (req.url !== `127.0.0.1:${echoPort}`) {
        socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 9\r\n\r\nforbidden');
        return;
      }
      const target = connect(echoPort, '127.0.0.1', () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) target.write(head);
        target.pipe(socket);
        socket.pipe(target);
      });
      target.on('error', () => socket.destroy());
      socket.on('error', () => target.destroy());
    });
    const p = await proxy(await listen(upstream));
    return { proxy: p, echoPort, upstreamRequests };
  }

  it('opens a tunnel to a TCP echo server: early data first, then bytes both ways', async () => {
    const { proxy: p, echoPort, upstreamRequests } = await connectChain();
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    client.socket.write(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: 127.0.0.1:${echoPort}\r\nProxy-Connection: keep-alive\r\n\r\nearly`);
    await client.until((c) => c.after('HTTP/1.1 200').toString().includes('echo:early'));
    assert.match(client.text, /^HTTP\/1\.1 200 OK\r\n\r\necho:early/);
    client.socket.write('GET / HTTP/1.1\r\n\r\n'); // bytes that look like HTTP are the tunnel's, never parsed
    await client.until((c) => c.after('HTTP/1.1 200').toString().endsWith('echo:GET / HTTP/1.1\r\n\r\n'));
    assert.deepEqual(upstreamRequests, [`CONNECT 127.0.0.1:${echoPort} 127.0.0.1:${echoPort}`]);
    const req = p.calls[0];
    assert.deepEqual([req?.method, req?.upgrade, req?.authority, req?.path, p.calls.length], ['CONNECT', 'CONNECT', `127.0.0.1:${echoPort}`, '', 1]);
    const ended = p.tunnelEnded();
    client.socket.end();
    await client.until((c) => c.ended);
    assert.equal((await ended).ending, 'closed');
  });

  it('carries a FIN sent right behind the CONNECT and its early data through the tunnel, rather than taking it for a client gone away', async () => {
    const { proxy: p, echoPort } = await connectChain();
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    client.socket.end(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: 127.0.0.1:${echoPort}\r\n\r\nonly this`);
    await client.until((c) => c.ended);
    assert.match(client.text, /^HTTP\/1\.1 200 OK\r\n\r\necho:only this$/);
  });

  it('relays a refused CONNECT (403 from the upstream) and closes: the bytes after it are never read as a request', async () => {
    const { proxy: p } = await connectChain();
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    client.socket.write('CONNECT 10.0.0.1:5432 HTTP/1.1\r\nHost: 10.0.0.1:5432\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n');
    await client.until((c) => c.ended);
    assert.match(client.text, /^HTTP\/1\.1 403 Forbidden\r\n[^]*connection: close\r\n\r\nforbidden$/);
    assert.equal(p.calls.length, 1);
  });

  it('answers a CONNECT the stack cannot serve with 502 and closes', async () => {
    const p = await proxy(0, () => Promise.reject(new WeftError('WEFT_E_HTTP_CONNECT', 'no route to 10.0.0.1:5432')));
    const client = new Client(p.port);
    await once(client.socket, 'connect');
    client.socket.write('CONNECT 10.0.0.1:5432 HTTP/1.1\r\nHost: 10.0.0.1:5432\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n');
    await client.until((c) => c.ended);
    assert.match(client.text, /^HTTP\/1\.1 502 Bad Gateway\r\nl5d-proxy-error: WEFT_E_HTTP_CONNECT\r\n[^]*connection: close\r\n\r\nno route to 10\.0\.0\.1:5432\n$/);
    assert.equal(p.calls.length, 1);
  });
});
