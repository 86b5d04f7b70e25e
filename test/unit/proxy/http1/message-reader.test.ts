import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeChunk, lastChunk } from '../../../../agent/proxy/http1/chunked-encoder.ts';
import type { ResponseContext } from '../../../../agent/proxy/http1/framing.ts';
import { MessageReader } from '../../../../agent/proxy/http1/message-reader.ts';
import type { Http1Side } from '../../../../agent/proxy/http1/rejection.ts';
import { cutsArb, latin1, requestSpecArb, requestText, split } from './arbitraries.ts';

type Event = string;

/**
 * Drives a reader over pieces and records what it saw: "head <start line>", "data <bytes>" (adjacent
 * data merged), "end", "tunnel <rest of input>", "error <status> <code>". `requests` answers responses.
 */
function events(side: Http1Side, pieces: readonly Buffer[], requests: readonly ResponseContext[] = []): Event[] {
  const reader = new MessageReader(side);
  const out: Event[] = [];
  let answering = 0;
  let data = '';
  const flush = () => {
    if (data !== '') out.push(`data ${data}`);
    data = '';
  };
  for (const [k, piece] of pieces.entries()) {
    let pos = 0;
    for (;;) {
      const step = reader.next(piece, pos, requests[answering]);
      if (step === 'more') {
        assert.equal(reader.offset, piece.length);
        break;
      }
      if (step === 'data') {
        data += piece.toString('latin1', reader.dataStart, reader.dataEnd);
        pos = reader.offset;
        continue;
      }
      flush();
      if (step === 'head') {
        const head = reader.head;
        assert.ok(head !== undefined);
        out.push(`head ${head.bytes.toString('latin1', 0, head.bytes.indexOf('\r\n'))}`);
        if (side === 'response' && head.status >= 200) answering++;
      } else if (step === 'end') {
        const trailers = reader.trailers;
        out.push(trailers === undefined ? 'end' : `end trailers ${trailers.toString('latin1')}`);
      } else if (step === 'tunnel') {
        out.push(`tunnel ${Buffer.concat([piece.subarray(reader.offset), ...pieces.slice(k + 1)]).toString('latin1')}`);
        return out;
      } else {
        out.push(`error ${reader.rejection?.status} ${reader.rejection?.code}`);
        return out;
      }
      assert.ok(reader.offset >= pos);
      pos = reader.offset;
    }
  }
  flush();
  return out;
}

const pipelined =
  'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n' +
  'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
  'POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n' +
  '\r\n' + // a stray CRLF after a body, which RFC 9112 §2.2 says to skip
  'GET /4 HTTP/1.0\r\n\r\n';
const pipelinedEvents = [
  'head GET /1 HTTP/1.1',
  'end',
  'head POST /2 HTTP/1.1',
  'data hello',
  'end',
  'head POST /3 HTTP/1.1',
  'data abcde',
  'end trailers T: v\r\n',
  'head GET /4 HTTP/1.0',
  'end',
];

describe('MessageReader: pipelining', () => {
  it('frames pipelined requests in one buffer, each exactly', () => {
    assert.deepEqual(events('request', [latin1(pipelined)]), pipelinedEvents);
  });

  it('frames them the same however the bytes are cut', () => {
    fc.assert(
      fc.property(cutsArb, (cuts) => assert.deepEqual(events('request', split(latin1(pipelined), cuts)), pipelinedEvents)),
      { numRuns: 300 },
    );
  });

  it('frames any sequence of valid requests with any bodies, however cut', () => {
    const messageArb = fc.tuple(requestSpecArb, fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 9 }));
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 5 }), cutsArb, (messages, cuts) => {
        const parts: Buffer[] = [];
        const expected: Event[] = [];
        for (const [spec0, body, chunkSize] of messages) {
          // Content-Length is the body's; CONNECT-free methods only (see methodArb).
          const length = spec0.body.kind === 'length' ? body.length : 0;
          const spec = {
            ...spec0,
            fields: spec0.fields.map((f) => (/^content-length$/i.test(f.name) ? { ...f, value: String(length) } : f)),
            body: spec0.body.kind === 'length' ? { kind: 'length' as const, length } : spec0.body,
          };
          const text = requestText(spec);
          parts.push(latin1(text));
          expected.push(`head ${text.slice(0, text.indexOf('\r\n'))}`);
          let sent = Buffer.alloc(0);
          if (spec.body.kind === 'length') {
            sent = Buffer.from(body);
            parts.push(sent);
          } else if (spec.body.kind === 'chunked') {
            sent = Buffer.from(body);
            for (let at = 0; at < body.length; at += chunkSize) parts.push(encodeChunk(body, at, Math.min(body.length, at + chunkSize)));
            parts.push(lastChunk());
          }
          if (sent.length > 0) expected.push(`data ${sent.toString('latin1')}`);
          expected.push('end');
        }
        assert.deepEqual(events('request', split(Buffer.concat(parts), cuts)), expected);
      }),
      { numRuns: 300 },
    );
  });

  it('frames the requests before a smuggling attempt, then refuses it', () => {
    const text = 'GET /ok HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX';
    assert.deepEqual(events('request', [latin1(text)]), ['head GET /ok HTTP/1.1', 'end', 'error 400 WEFT_E_HTTP1_TE_AND_CL']);
  });

  it('refuses a chunk-size smuggling attempt in the body (0x, negative, overflow)', () => {
    const head = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';
    assert.deepEqual(events('request', [latin1(`${head}0x5\r\nhello\r\n0\r\n\r\n`)]).at(-1), 'error 400 WEFT_E_HTTP1_BAD_CHUNK_SIZE');
    assert.deepEqual(events('request', [latin1(`${head}-5\r\nhello\r\n0\r\n\r\n`)]).at(-1), 'error 400 WEFT_E_HTTP1_BAD_CHUNK_SIZE');
    assert.deepEqual(events('request', [latin1(`${head}1${'0'.repeat(16)}\r\n`)]).at(-1), 'error 400 WEFT_E_HTTP1_CHUNK_SIZE_OVERFLOW');
  });
});

describe('MessageReader: tunnels, responses and closes', () => {
  it('a CONNECT request becomes a tunnel right after its head', () => {
    const text = 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03\x01GET / HTTP/1.1\r\n';
    assert.deepEqual(events('request', split(latin1(text), [10, 45])), ['head CONNECT a:443 HTTP/1.1', 'tunnel \x16\x03\x01GET / HTTP/1.1\r\n']);
  });

  it('responses: 1xx before the final one, HEAD without a body, then a chunked one, in one buffer', () => {
    const text =
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' +
      'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n';
    const requests = [
      { method: 'POST', upgrade: false },
      { method: 'HEAD', upgrade: false },
      { method: 'GET', upgrade: false },
    ];
    assert.deepEqual(events('response', [latin1(text)], requests), [
      'head HTTP/1.1 100 Continue',
      'end',
      'head HTTP/1.1 200 OK',
      'data ok',
      'end',
      'head HTTP/1.1 200 OK',
      'end',
      'head HTTP/1.1 200 OK',
      'data x',
      'end',
    ]);
  });

  it('a 101 to an upgrade request turns the rest into a tunnel', () => {
    const text = 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello';
    assert.deepEqual(events('response', [latin1(text)], [{ method: 'GET', upgrade: true }]), ['head HTTP/1.1 101 Switching Protocols', 'tunnel \x81\x05hello']);
  });

  it('a close ends a read-until-close response, is idle between messages, and truncates anything else', () => {
    const untilClose = new MessageReader('response');
    const bytes = latin1('HTTP/1.1 200 OK\r\n\r\nbody');
    assert.equal(untilClose.next(bytes, 0, { method: 'GET', upgrade: false }), 'head');
    assert.equal(untilClose.next(bytes, untilClose.offset), 'data');
    assert.equal(untilClose.next(bytes, untilClose.offset), 'more');
    assert.equal(untilClose.close(), 'end');

    const idle = new MessageReader('request');
    assert.equal(idle.close(), 'idle');

    const midHead = new MessageReader('request');
    assert.equal(midHead.next(latin1('GET / HT'), 0), 'more');
    assert.equal(midHead.headBytesPending, 8);
    assert.equal(midHead.close(), 'error');
    assert.equal(midHead.rejection?.code, 'WEFT_E_HTTP1_TRUNCATED');

    const midBody = new MessageReader('request');
    const post = latin1('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc');
    assert.equal(midBody.next(post, 0), 'head');
    assert.equal(midBody.headBytesPending, 0);
    assert.equal(midBody.next(post, midBody.offset), 'data');
    assert.equal(midBody.close(), 'error');
    assert.deepEqual([midBody.rejection?.status, midBody.rejection?.code], [400, 'WEFT_E_HTTP1_TRUNCATED']);
  });
});
