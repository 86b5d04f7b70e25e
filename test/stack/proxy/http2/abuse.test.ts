// Bad input on the wire: floods and resets that a well-behaved client library never sends, written
// by hand (test/support/h2-frames.ts). Each must cost the attacker its session, not weft its memory,
// and a well-behaved session on the same listener must keep working.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, it } from 'node:test';
import { HttpBody } from '../../../../agent/proxy/http/body.ts';
import { HttpHeaders } from '../../../../agent/proxy/http/headers.ts';
import { HttpResponse, type HttpRequest } from '../../../../agent/proxy/http/message.ts';
import { http2ServerParams } from '../../../../agent/proxy/http2/params.ts';
import type { CallContext, Service } from '../../../../agent/stack/service.ts';
import { ErrorCode, FrameCollector, FrameType, getRequest, headerFrames, ping, PREFACE, rstStream, settings } from '../../../support/h2-frames.ts';
import { h2request, h2session, listenHttp2, type Listener } from './harness.ts';

/** Answers after `delayMs` unless the caller goes away; counts calls and aborts. */
class SlowService implements Service<HttpRequest, HttpResponse> {
  calls = 0;
  aborted = 0;
  call(_req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    this.calls++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(new HttpResponse(200, new HttpHeaders(), HttpBody.from('ok'))), 50);
      cx.signal.addEventListener(
        'abort',
        () => {
          this.aborted++;
          clearTimeout(timer);
          reject(new Error('aborted'));
        },
        { once: true },
      );
    });
  }
}

/** The client preface, its SETTINGS, and the ACK of the server's (which nghttp2 waits for to apply its limits). */
const HELLO = Buffer.concat([PREFACE, settings(), settings([], true)]);

async function rawClient(port: number): Promise<{ socket: Socket; frames: FrameCollector }> {
  const socket = netConnect(port, '127.0.0.1');
  await once(socket, 'connect');
  const frames = new FrameCollector(socket);
  return { socket, frames };
}

/** Opens `count` streams and resets each at once (CVE-2023-44487). */
function rapidResets(count: number, firstId = 1): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = firstId + i * 2;
    parts.push(getRequest(id, `/r${i}`), rstStream(id, ErrorCode.CANCEL));
  }
  return Buffer.concat(parts);
}

// Fields under nghttp2's 64 KiB per-field cap (a bigger one is a COMPRESSION_ERROR for the whole
// session) whose sum is over maxHeaderListSize.
const big: ReadonlyArray<readonly [string, string]> = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/big'],
  [':authority', 'weft.test'],
  ['x-big1', 'a'.repeat(30_000)],
  ['x-big2', 'a'.repeat(30_000)],
  ['x-big3', 'a'.repeat(30_000)],
];

describe('http2 server under abuse', () => {
  const service = new SlowService();
  let listener: Listener;
  const params = { ...http2ServerParams, prefaceTimeoutMs: 300, maxClientResetsPerWindow: 100 };

  before(async () => {
    listener = await listenHttp2(service, params);
  });
  after(() => listener.close());

  it('a rapid reset flood gets GOAWAY(ENHANCE_YOUR_CALM) and loses its session; another session keeps working', async () => {
    const good = h2session(listener.port);
    try {
      assert.equal((await h2request(good, { ':path': '/before' })).status, 200);
      const { socket, frames } = await rawClient(listener.port);
      socket.write(Buffer.concat([HELLO, rapidResets(1000)]));
      await frames.until(() => frames.closed, 10_000, 'close');
      const goaway = frames.goaway();
      assert.ok(goaway, 'a GOAWAY was sent');
      assert.equal(goaway.payload.readUInt32BE(4), ErrorCode.ENHANCE_YOUR_CALM);
      assert.ok(listener.connections.some((c) => c.closeReason === 'WEFT_E_HTTP2_RAPID_RESET'));
      // The upstream calls of reset streams were cancelled, not left running.
      assert.equal(service.aborted, service.calls - 1);
      assert.equal((await h2request(good, { ':path': '/after' })).status, 200);
    } finally {
      good.close();
    }
  });

  it('with the default params, a rapid reset flood costs the client its session, in one write or paced', async () => {
    const defaults = await listenHttp2(new SlowService());
    try {
      // In one write, nghttp2 sees all streams before Node runs their close handlers: past
      // maxConcurrentStreams they are refused, and maxSessionRejectedStreams closes the session
      // (GOAWAY INTERNAL_ERROR) before weft's counter runs. Either way the session is gone.
      const burst = await rawClient(defaults.port);
      burst.socket.write(Buffer.concat([HELLO, rapidResets(1000)]));
      await burst.frames.until(() => burst.frames.closed, 10_000, 'close');
      assert.ok(burst.frames.goaway(), 'a GOAWAY was sent');
      // Paced under the concurrency limit, it is weft's windowed counter that closes it.
      const paced = await rawClient(defaults.port);
      paced.socket.write(HELLO);
      for (let i = 0; i < 40 && !paced.frames.closed; i++) {
        paced.socket.write(rapidResets(25, 1 + i * 50));
        await new Promise((r) => setTimeout(r, 5));
      }
      await paced.frames.until(() => paced.frames.closed, 10_000, 'close');
      assert.equal(paced.frames.goaway()?.payload.readUInt32BE(4), ErrorCode.ENHANCE_YOUR_CALM);
    } finally {
      await defaults.close();
    }
  });

  it('a PING flood closes the session (nghttp2 flood detection)', async () => {
    const { socket, frames } = await rawClient(listener.port);
    const pings = Buffer.concat(Array.from({ length: 50_000 }, () => ping()));
    socket.write(Buffer.concat([HELLO, pings]));
    await frames.until(() => frames.closed, 10_000, 'close');
    assert.ok(frames.goaway(), 'a GOAWAY was sent');
  });

  it('a SETTINGS flood closes the session, and so does one SETTINGS frame with too many entries', async () => {
    const flood = await rawClient(listener.port);
    flood.socket.write(Buffer.concat([HELLO, ...Array.from({ length: 50_000 }, () => settings([[4, 65_535]]))]));
    await flood.frames.until(() => flood.frames.closed, 10_000, 'close');
    const wide = await rawClient(listener.port);
    wide.socket.write(Buffer.concat([HELLO, settings(Array.from({ length: 100 }, (_, i) => [1 + (i % 6), 100] as const))]));
    await wide.frames.until(() => wide.frames.closed, 10_000, 'close');
    const goaway = wide.frames.goaway();
    assert.ok(goaway);
    assert.equal(goaway.payload.readUInt32BE(4), ErrorCode.ENHANCE_YOUR_CALM);
  });

  it('an oversized header block is refused, and the session goes on', async () => {
    const { socket, frames } = await rawClient(listener.port);
    socket.write(Buffer.concat([HELLO, headerFrames(1, big), getRequest(3, '/small')]));
    // Stream 1 is refused (RST_STREAM, or a 431); stream 3 on the same session is answered.
    await frames.until(() => frames.frames.some((f) => f.streamId === 3 && f.type === FrameType.HEADERS) || frames.closed, 10_000, 'answer on stream 3');
    const one = frames.frames.filter((f) => f.streamId === 1);
    const refused = one.some((f) => f.type === FrameType.RST_STREAM) || one.some((f) => f.type === FrameType.HEADERS);
    assert.ok(refused, `stream 1 got ${JSON.stringify(one.map((f) => f.type))}`);
    assert.equal(one.some((f) => f.type === FrameType.DATA && f.payload.toString() === 'ok'), false, 'stream 1 was not served');
    assert.ok(frames.frames.some((f) => f.streamId === 3 && f.type === FrameType.HEADERS), 'stream 3 was answered');
    socket.destroy();
  });

  it('an oversized header block from a client that never acknowledged our SETTINGS gets 431 from weft', async () => {
    const { socket, frames } = await rawClient(listener.port);
    const calls = service.calls;
    socket.write(Buffer.concat([PREFACE, settings(), headerFrames(1, big)]));
    await frames.until(() => frames.frames.some((f) => f.streamId === 1 && f.type === FrameType.HEADERS) || frames.closed, 10_000, 'answer on stream 1');
    await frames.until(() => frames.frames.some((f) => f.streamId === 1 && f.type === FrameType.DATA && f.payload.length > 0) || frames.closed, 10_000, 'body on stream 1');
    // The head is HPACK-compressed; the body of weft's refusal is plain.
    const body = Buffer.concat(frames.frames.filter((f) => f.streamId === 1 && f.type === FrameType.DATA).map((f) => f.payload)).toString();
    assert.match(body, /header list is larger than 65536 bytes/);
    assert.equal(service.calls, calls, 'the service never saw it');
    socket.destroy();
  });

  it('a connection that sends no preface is closed after prefaceTimeoutMs; so is one that stops mid-preface or never acknowledges our SETTINGS', async () => {
    const silent = await rawClient(listener.port);
    const partial = await rawClient(listener.port);
    partial.socket.write(PREFACE.subarray(0, 10));
    const unacked = await rawClient(listener.port);
    unacked.socket.write(Buffer.concat([PREFACE, settings()]));
    await silent.frames.until(() => silent.frames.closed, 5_000, 'close');
    await partial.frames.until(() => partial.frames.closed, 5_000, 'close');
    await unacked.frames.until(() => unacked.frames.closed, 5_000, 'close');
    assert.ok(listener.connections.some((c) => c.closeReason === 'WEFT_E_HTTP2_PREFACE_TIMEOUT'));
  });

  it('garbage instead of a preface closes the connection', async () => {
    const { socket, frames } = await rawClient(listener.port);
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await frames.until(() => frames.closed, 5_000, 'close');
  });

  it('the heap stays flat over repeated floods', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const round = async (): Promise<void> => {
      const a = await rawClient(listener.port);
      a.socket.write(Buffer.concat([HELLO, rapidResets(300)]));
      const b = await rawClient(listener.port);
      b.socket.write(Buffer.concat([HELLO, ...Array.from({ length: 5_000 }, () => ping())]));
      await a.frames.until(() => a.frames.closed, 10_000, 'close');
      await b.frames.until(() => b.frames.closed, 10_000, 'close');
    };
    for (let i = 0; i < 5; i++) await round(); // warm up
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 40; i++) await round();
    await new Promise((r) => setTimeout(r, 100));
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(grown < 20 * 1024 * 1024, `heap grew ${grown} bytes`);
    // The listener's list of connections is the test's own; what the transport held is gone.
    assert.ok(listener.connections.every((c) => c.closed || c.openStreams < params.maxConcurrentStreams));
  });
});

describe('http2 server idle sessions', () => {
  it('closes a session with no open stream after idleTimeoutMs', async () => {
    const listener = await listenHttp2(new SlowService(), { ...http2ServerParams, idleTimeoutMs: 200 });
    const session = h2session(listener.port);
    try {
      assert.equal((await h2request(session, { ':path': '/' })).status, 200);
      const closed = once(session, 'close');
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('session not closed within 10 s')), 10_000))]);
      assert.ok(listener.connections.some((c) => c.closeReason === 'WEFT_E_HTTP2_IDLE'));
    } finally {
      session.destroy();
      await listener.close();
    }
  });
});
