// detectProtocol over an in-memory stream, where each chunk is certainly its own read: any way the
// client's bytes are cut, the answer is the classifier's answer for the whole, and the prefix is
// exactly the reads up to the deciding one (the rest stays unread in the stream).
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { H2_PREFACE, classify } from '../../../../agent/proxy/detect/classify.ts';
import { type DetectOutcome, type DetectResult, detectOutcomeOf, detectOutcomes, detectProtocol } from '../../../../agent/proxy/detect/detect-protocol.ts';
import { detectParams, withDetectParams } from '../../../../agent/proxy/detect/params.ts';
import type { Clock } from '../../../../agent/time/clock.ts';
import { clientHello, helloSpecArb } from './hello-bytes.ts';

const neverClock: Clock = { now: () => 0, setTimer: () => () => undefined };

function fakeSocket(): Duplex {
  return new Duplex({ read() {}, write(_chunk, _enc, cb) { cb(); } });
}

function cut(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  return out;
}

async function run(chunks: readonly Buffer[], end = true): Promise<{ result: DetectResult; stream: Duplex; counted: DetectOutcome[] }> {
  const stream = fakeSocket();
  const counted: DetectOutcome[] = [];
  let result: DetectResult | undefined;
  const detection = detectProtocol(stream as unknown as Socket, 80, detectParams, neverClock, { count: (o) => counted.push(o) }).then((r) => {
    result = r;
  });
  for (const c of chunks) {
    if (result !== undefined) {
      stream.push(c);
      continue;
    }
    stream.push(c);
    await nextTurn();
  }
  if (end) stream.push(null);
  await detection;
  return { result: result as DetectResult, stream, counted };
}

const validStarts = fc.oneof(
  fc.constant(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])])),
  fc.constantFrom('GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'DELETE /x/y?z HTTP/1.0\r\n\r\n').map((s) => Buffer.from(s, 'latin1')),
  helloSpecArb.filter((s) => (s.recordSize ?? 1 << 14) > 64).map((s) => clientHello(s)),
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)),
);

describe('detectProtocol: any cut of the client bytes', () => {
  it('decides as classify decides the whole, with the reads up to the deciding one as the prefix', async () => {
    await fc.assert(
      fc.asyncProperty(validStarts, fc.array(fc.nat(), { maxLength: 12 }), async (bytes, cuts) => {
        const chunks = cut(bytes, cuts);
        const { result, stream, counted } = await run(chunks);
        const whole = classify(bytes);
        let deciding = -1;
        for (let i = 0, acc = 0; i < chunks.length; i++) {
          acc += (chunks[i] as Buffer).length;
          if (classify(bytes.subarray(0, acc)).kind !== 'need-more') {
            deciding = acc;
            break;
          }
        }
        if (whole.kind === 'need-more') {
          // The client stopped (FIN) before anything decided.
          assert.deepEqual(result.protocol, { kind: 'client-closed', how: 'eof' });
          assert.deepEqual(result.prefix, bytes);
        } else {
          assert.deepEqual(result.protocol, whole);
          assert.deepEqual(result.prefix, bytes.subarray(0, deciding));
          // What came after the deciding read is still in the stream, unread.
          const left: Buffer[] = [];
          let chunk: Buffer | null;
          while ((chunk = stream.read() as Buffer | null) !== null) left.push(chunk);
          assert.deepEqual(Buffer.concat([result.prefix, ...left]), bytes);
        }
        assert.deepEqual(counted, [detectOutcomeOf(result.protocol)]);
      }),
      { numRuns: 80 },
    );
  });

  it('an error on the socket while waiting resolves as client-closed reset with its code', async () => {
    const stream = fakeSocket();
    const detection = detectProtocol(stream as unknown as Socket, 80, detectParams, neverClock, { count: () => undefined });
    stream.push(Buffer.from('GET /'));
    await nextTurn();
    stream.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    const r = await detection;
    assert.deepEqual(r.protocol, { kind: 'client-closed', how: 'reset', code: 'ECONNRESET' });
    assert.equal(r.prefix.toString(), 'GET /');
  });

  it('the timer firing decides opaque timeout with what was read, and later bytes stay unread', async () => {
    let fire: (() => void) | undefined;
    let timeoutAsked = 0;
    const clock: Clock = {
      now: () => 0,
      setTimer(ms, fn) {
        timeoutAsked = ms;
        fire = fn;
        return () => undefined;
      },
    };
    const stream = fakeSocket();
    const detection = detectProtocol(stream as unknown as Socket, 80, withDetectParams({ timeoutMs: 250 }), clock, { count: () => undefined });
    stream.push(Buffer.from('GET /'));
    await nextTurn();
    assert.equal(timeoutAsked, 250);
    fire?.();
    const r = await detection;
    assert.deepEqual(r.protocol, { kind: 'opaque', reason: 'timeout' });
    assert.equal(r.prefix.toString(), 'GET /');
    stream.push(Buffer.from('late'));
    assert.equal((stream.read() as Buffer).toString(), 'late');
  });

  it('every outcome has a counter name', () => {
    const all: Parameters<typeof detectOutcomeOf>[0][] = [
      { kind: 'http1', method: 'GET', minor: 1, targetForm: 'origin' },
      { kind: 'http2' },
      { kind: 'tls', hello: 'parsed' },
      { kind: 'opaque', reason: 'unrecognized' },
      { kind: 'opaque', reason: 'http1-refused' },
      { kind: 'opaque', reason: 'bound' },
      { kind: 'opaque', reason: 'timeout' },
      { kind: 'opaque', reason: 'server-first-port' },
      { kind: 'client-closed', how: 'eof' },
      { kind: 'client-closed', how: 'reset' },
    ];
    assert.deepEqual(all.map(detectOutcomeOf), [...detectOutcomes]);
  });
});
