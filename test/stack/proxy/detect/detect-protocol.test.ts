// detectProtocol on real loopback sockets: a listener runs detection on each accepted connection the
// way the outbound handler will, and real clients (raw net, node:http2, node:tls) connect to it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { H2_PREFACE } from '../../../../agent/proxy/detect/classify.ts';
import { type DetectCounters, type DetectOutcome, type DetectResult, detectProtocol } from '../../../../agent/proxy/detect/detect-protocol.ts';
import { type DetectParams, withDetectParams } from '../../../../agent/proxy/detect/params.ts';
import { type Clock, systemClock } from '../../../../agent/time/clock.ts';

/** A clock whose timers fire only when the test says so: detection can never time out by accident. */
function manualClock() {
  const timers: { ms: number; fn: () => void; cancelled: boolean }[] = [];
  const clock: Clock = {
    now: () => 0,
    setTimer(ms, fn) {
      const t = { ms, fn, cancelled: false };
      timers.push(t);
      return () => {
        t.cancelled = true;
      };
    },
  };
  return { clock, timers };
}

function countingCounters() {
  const counts = new Map<string, number>();
  const counters: DetectCounters = {
    count(outcome: DetectOutcome, dstPort: number) {
      const key = `${outcome}@${dstPort}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    },
  };
  return { counters, counts };
}

interface Detection {
  readonly result: DetectResult;
  readonly socket: net.Socket;
}

/** A listener that runs detectProtocol on every connection it accepts, as if the client dialled dstPort. */
async function detectingServer(params: DetectParams, clock: Clock, dstPort = 80) {
  const { counters, counts } = countingCounters();
  const waiting: ((d: Detection) => void)[] = [];
  const ready: Detection[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    void detectProtocol(socket, dstPort, params, clock, counters).then((result) => {
      // The caller's own handler, installed after detection, as the outbound handler does.
      socket.on('error', () => undefined);
      const d = { result, socket };
      const w = waiting.shift();
      if (w === undefined) ready.push(d);
      else w(d);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    counts,
    next: (): Promise<Detection> => {
      const d = ready.shift();
      return d === undefined ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve(d);
    },
    connect: (): net.Socket => {
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      c.on('error', () => undefined);
      c.setNoDelay(true);
      return c;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Reads what is left on a detected socket until the client's FIN: what the caller would forward after the prefix. */
async function rest(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.resume();
  if (!socket.readableEnded) await once(socket, 'end');
  return Buffer.concat(chunks);
}

function assertLeftPaused(socket: net.Socket): void {
  assert.equal(socket.isPaused(), true, 'socket left paused');
  assert.equal(socket.listenerCount('data'), 0, 'no data listener left behind');
}

describe('detectProtocol on loopback sockets', { timeout: 20_000 }, () => {
  it('detects an HTTP/1 request, and prefix + what follows is byte-identical to what the client sent', async () => {
    const { clock, timers } = manualClock();
    const s = await detectingServer(withDetectParams({}), clock);
    try {
      const sent = Buffer.from('POST /orders?id=7 HTTP/1.1\r\nHost: orders.svc\r\nContent-Length: 5\r\n\r\nhello', 'latin1');
      const c = s.connect();
      c.end(sent);
      const { result, socket } = await s.next();
      assert.deepEqual(result.protocol, { kind: 'http1', method: 'POST', minor: 1, targetForm: 'origin' });
      assertLeftPaused(socket);
      assert.ok(result.prefix.length > 0);
      assert.deepEqual(Buffer.concat([result.prefix, await rest(socket)]), sent);
      assert.equal(timers[0]?.cancelled, true, 'the detection timer is cancelled once decided');
      assert.deepEqual([...s.counts], [['http1@80', 1]]);
    } finally {
      s.close();
    }
  });

  it('detects the HTTP/2 preface a real node:http2 client sends', async () => {
    const { clock } = manualClock();
    const s = await detectingServer(withDetectParams({}), clock);
    try {
      const session = http2.connect(`http://127.0.0.1:${s.port}`);
      session.on('error', () => undefined);
      const { result } = await s.next();
      session.destroy();
      assert.deepEqual(result.protocol, { kind: 'http2' });
      assert.deepEqual(result.prefix.subarray(0, H2_PREFACE.length), H2_PREFACE);
      assert.deepEqual([...s.counts], [['http2@80', 1]]);
    } finally {
      s.close();
    }
  });

  describe('TLS', () => {
    let dir = '';
    let key = Buffer.alloc(0);
    let cert = Buffer.alloc(0);
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'weft-detect-'));
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
        '-subj', '/CN=api.default.svc', '-addext', 'subjectAltName=DNS:api.default.svc',
      ], { stdio: 'ignore' });
      key = readFileSync(join(dir, 'key.pem'));
      cert = readFileSync(join(dir, 'cert.pem'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('reads SNI and ALPN from a real ClientHello, and replaying the prefix lets the handshake with the real server complete', async () => {
      const { clock } = manualClock();
      const s = await detectingServer(withDetectParams({}), clock, 443);
      const tlsServer = tls.createServer({ key, cert, ALPNProtocols: ['h2'] }, (conn) => conn.end('hi from tls'));
      tlsServer.listen(0, '127.0.0.1');
      await once(tlsServer, 'listening');
      try {
        const client = tls.connect({
          port: s.port, host: '127.0.0.1', servername: 'api.default.svc', ALPNProtocols: ['h2', 'http/1.1'], ca: cert,
        });
        client.on('error', () => undefined);
        const { result, socket } = await s.next();
        assert.deepEqual(result.protocol, { kind: 'tls', hello: 'parsed', sni: 'api.default.svc', alpn: ['h2', 'http/1.1'] });
        assertLeftPaused(socket);
        // Splice the way the proxy will: prefix first, then the paused socket, both ways.
        const upstream = net.connect((tlsServer.address() as net.AddressInfo).port, '127.0.0.1');
        upstream.on('error', () => undefined);
        await once(upstream, 'connect');
        upstream.write(result.prefix);
        socket.pipe(upstream);
        upstream.pipe(socket);
        await once(client, 'secureConnect');
        assert.equal(client.alpnProtocol, 'h2');
        const chunks: Buffer[] = [];
        client.on('data', (c: Buffer) => chunks.push(c));
        await once(client, 'end');
        assert.equal(Buffer.concat(chunks).toString(), 'hi from tls');
        client.destroy();
        upstream.destroy();
        assert.deepEqual([...s.counts], [['tls@443', 1]]);
      } finally {
        tlsServer.close();
        s.close();
      }
    });
  });

  it('a server-first port resolves at once with nothing read, and the client’s later bytes are still there', async () => {
    const { clock, timers } = manualClock();
    const s = await detectingServer(withDetectParams({ serverFirstPorts: new Set([3306]) }), clock, 3306);
    try {
      const c = s.connect();
      const { result, socket } = await s.next();
      assert.deepEqual(result.protocol, { kind: 'opaque', reason: 'server-first-port' });
      assert.equal(result.prefix.length, 0);
      assert.equal(timers.length, 0, 'no detection timer was even started');
      assert.equal(socket.bytesRead, 0);
      c.end('client speaks after the greeting');
      assert.equal((await rest(socket)).toString(), 'client speaks after the greeting');
      assert.deepEqual([...s.counts], [['opaque-server-first-port@3306', 1]]);
    } finally {
      s.close();
    }
  });

  it('a silent client hits the (small, real) timeout and goes opaque with what it sent so far', async () => {
    const s = await detectingServer(withDetectParams({ timeoutMs: 30 }), systemClock, 5000);
    try {
      const silent = s.connect();
      const first = await s.next();
      assert.deepEqual(first.result.protocol, { kind: 'opaque', reason: 'timeout' });
      assert.equal(first.result.prefix.length, 0);
      assertLeftPaused(first.socket);

      const partial = s.connect();
      partial.write('GET /slo');
      const second = await s.next();
      assert.deepEqual(second.result.protocol, { kind: 'opaque', reason: 'timeout' });
      assert.equal(second.result.prefix.toString(), 'GET /slo');
      partial.end('w HTTP/1.1\r\n\r\n');
      assert.equal(Buffer.concat([second.result.prefix, await rest(second.socket)]).toString(), 'GET /slow HTTP/1.1\r\n\r\n');
      silent.destroy();
      assert.deepEqual([...s.counts], [['opaque-timeout@5000', 2]]);
    } finally {
      s.close();
    }
  });

  it('a client that streams undecidable bytes is cut off at the bound, opaque, with nothing lost', async () => {
    const { clock } = manualClock();
    const params = withDetectParams({ maxPeekBytes: 4096, maxRequestLineBytes: 8192 });
    const s = await detectingServer(params, clock);
    try {
      const sent = Buffer.alloc(200_000, 0x61);
      const c = s.connect();
      c.end(sent);
      const { result, socket } = await s.next();
      assert.deepEqual(result.protocol, { kind: 'opaque', reason: 'bound' });
      assert.ok(result.prefix.length >= params.maxPeekBytes, 'decided only once the bound was read');
      assert.ok(result.prefix.length < sent.length, 'did not read the whole stream to decide');
      assert.deepEqual(Buffer.concat([result.prefix, await rest(socket)]), sent);
      assert.deepEqual([...s.counts], [['opaque-bound@80', 1]]);
    } finally {
      s.close();
    }
  });

  it('bytes arriving one at a time are gathered and decided as the whole', async () => {
    const { clock } = manualClock();
    const s = await detectingServer(withDetectParams({}), clock);
    try {
      const sent = Buffer.from('GET /one/byte/at/a/time HTTP/1.1\r\nHost: a\r\n\r\n', 'latin1');
      const c = s.connect();
      let decided: Detection | undefined;
      const detection = s.next().then((d) => (decided = d));
      let written = 0;
      while (decided === undefined && written < sent.length) {
        // Each byte flushed to the kernel, then a pause, so the listener reads it on its own.
        await new Promise((r) => c.write(sent.subarray(written, written + 1), r));
        written += 1;
        await new Promise((r) => setTimeout(r, 2));
        await nextTurn();
      }
      const { result, socket } = await detection;
      assert.deepEqual(result.protocol, { kind: 'http1', method: 'GET', minor: 1, targetForm: 'origin' });
      c.end(sent.subarray(written));
      assert.deepEqual(Buffer.concat([result.prefix, await rest(socket)]), sent);
    } finally {
      s.close();
    }
  });

  it('a client that resets mid-detection resolves as client-closed reset, never an unhandled error', async () => {
    const { clock } = manualClock();
    const s = await detectingServer(withDetectParams({}), clock);
    try {
      const c = s.connect();
      c.write('GET /abandon');
      await once(c, 'connect');
      await new Promise((r) => setTimeout(r, 20));
      c.resetAndDestroy();
      const { result } = await s.next();
      assert.equal(result.protocol.kind, 'client-closed');
      assert.equal(result.protocol.kind === 'client-closed' ? result.protocol.how : '', 'reset');
      assert.deepEqual([...s.counts], [['client-reset@80', 1]]);
    } finally {
      s.close();
    }
  });

  it('a client that half-closes mid-detection resolves as client-closed eof with what it sent', async () => {
    const { clock } = manualClock();
    const s = await detectingServer(withDetectParams({}), clock);
    try {
      const c = s.connect();
      c.end('HELO');
      const { result } = await s.next();
      assert.deepEqual(result.protocol, { kind: 'client-closed', how: 'eof' });
      assert.equal(result.prefix.toString(), 'HELO');
      c.destroy();
      assert.deepEqual([...s.counts], [['client-eof@80', 1]]);
    } finally {
      s.close();
    }
  });
});
