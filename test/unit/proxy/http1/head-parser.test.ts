import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HeadParser } from '../../../../agent/proxy/http1/head-parser.ts';
import { http1Params } from '../../../../agent/proxy/http1/params.ts';
import {
  cutsArb,
  headView,
  latin1,
  parseHead,
  parsePieces,
  parseText,
  requestSpecArb,
  requestText,
  split,
} from './arbitraries.ts';

const rejectCode = (text: string, side: 'request' | 'response' = 'request') => {
  const r = parseText(text, side);
  return r.kind === 'reject' ? [r.status, r.code] : r.kind;
};

describe('HeadParser: request heads', () => {
  it('parses method, target, version and fields in order, values without OWS, and reports where the head ends', () => {
    const text = 'POST /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Pad: \t v  w \t\r\nContent-Length: 5\r\n\r\nhello';
    const r = parsePieces('request', [latin1(text)]);
    assert.equal(r.result.kind, 'head');
    assert.equal(r.end, text.length - 5);
    if (r.result.kind !== 'head') return;
    const v = headView(r.result.head);
    assert.equal(v.method, 'POST');
    assert.equal(v.target, '/a/b?c=d');
    assert.equal(v.targetForm, 'origin');
    assert.equal(v.minor, 1);
    assert.deepEqual(v.fields, [
      ['Host', 'example.com'],
      ['X-Empty', ''],
      ['X-Pad', 'v  w'],
      ['Content-Length', '5'],
    ]);
    assert.equal(v.body, 'length');
    assert.equal(v.contentLength, 5);
    assert.equal(v.keepAlive, true);
    assert.equal(v.bytes, text.slice(0, -5));
  });

  it('finds fields by name without regard to case and keeps the case as sent', () => {
    const head = parseHead('GET / HTTP/1.1\r\nhOsT: a\r\nX-Thing: 1\r\nx-thing: 2\r\n\r\n');
    assert.equal(head.host, 'a');
    assert.equal(head.get('x-thing'), '1');
    assert.equal(head.indexOf('x-thing', 2), 2);
    assert.equal(head.name(0), 'hOsT');
    assert.equal(head.get('absent'), undefined);
  });

  it('keeps obs-text bytes in values as latin1 characters', () => {
    const head = parseHead('GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9 \xff\r\n\r\n');
    assert.equal(head.get('x'), 'caf\xe9 \xff');
  });

  it('recognises the four request-target forms (RFC 9112 §3.2)', () => {
    assert.equal(parseHead('GET /x HTTP/1.1\r\nHost: a\r\n\r\n').targetForm, 'origin');
    assert.equal(parseHead('GET http://a.example:8080/x?y HTTP/1.1\r\nHost: a\r\n\r\n').targetForm, 'absolute');
    assert.equal(parseHead('CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n').targetForm, 'authority');
    assert.equal(parseHead('CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n').targetForm, 'authority');
    assert.equal(parseHead('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n').targetForm, 'asterisk');
  });

  it('refuses a target form the method does not allow', () => {
    assert.deepEqual(rejectCode('GET * HTTP/1.1\r\nHost: a\r\n\r\n'), [400, 'WEFT_E_HTTP1_BAD_TARGET']);
    assert.deepEqual(rejectCode('CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n'), [400, 'WEFT_E_HTTP1_BAD_TARGET']);
    assert.deepEqual(rejectCode('CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n'), [400, 'WEFT_E_HTTP1_BAD_TARGET']);
    assert.deepEqual(rejectCode('CONNECT a.example: HTTP/1.1\r\nHost: a\r\n\r\n'), [400, 'WEFT_E_HTTP1_BAD_TARGET']);
    assert.deepEqual(rejectCode('CONNECT a.example:70000 HTTP/1.1\r\nHost: a\r\n\r\n'), [400, 'WEFT_E_HTTP1_BAD_TARGET']);
    assert.deepEqual(rejectCode('CONNECT a@b:443 HTTP/1.1\r\nHost: a\r\n\r\n'), [400, 'WEFT_E_HTTP1_BAD_TARGET']);
    assert.deepEqual(rejectCode('GET 1http://x HTTP/1.1\r\nHost: a\r\n\r\n'), [400, 'WEFT_E_HTTP1_BAD_TARGET']);
  });

  it('skips empty lines before a request-line (RFC 9112 §2.2) but not bare LFs', () => {
    const head = parseHead('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(head.bytes.toString('latin1'), 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.deepEqual(rejectCode('\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'), [400, 'WEFT_E_HTTP1_BARE_LF']);
    assert.deepEqual(rejectCode('\rGET / HTTP/1.1\r\nHost: a\r\n\r\n'), [400, 'WEFT_E_HTTP1_BARE_CR']);
  });

  it('takes any token as a method, case kept (methods are case-sensitive, RFC 9110 §9.1)', () => {
    assert.equal(parseHead('PATCH / HTTP/1.1\r\nHost: a\r\n\r\n').method, 'PATCH');
    assert.equal(parseHead('M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n').method, 'M-SEARCH');
    assert.equal(parseHead('get / HTTP/1.1\r\nHost: a\r\n\r\n').method, 'get');
  });
});

describe('HeadParser: refusals, each with its status and code', () => {
  const cases: [string, string, number, string][] = [
    ['double space in request-line', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_REQUEST_LINE'],
    ['no version (HTTP/0.9)', 'GET /\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_REQUEST_LINE'],
    ['trailing space after version', 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_VERSION'],
    ['lowercase version name', 'GET / http/1.1\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_VERSION'],
    ['two-digit minor', 'GET / HTTP/1.10\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_VERSION'],
    ['letter for minor', 'GET / HTTP/1.x\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_VERSION'],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505, 'WEFT_E_HTTP1_UNSUPPORTED_VERSION'],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 505, 'WEFT_E_HTTP1_UNSUPPORTED_VERSION'],
    ['HTTP/0.9 spelled out', 'GET / HTTP/0.9\r\nHost: a\r\n\r\n', 505, 'WEFT_E_HTTP1_UNSUPPORTED_VERSION'],
    ['method with a separator', 'GE(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_METHOD'],
    ['tab in target', 'GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_TARGET'],
    ['non-ASCII in target', 'GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_TARGET'],
    ['NUL in target', 'GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_TARGET'],
    ['bare LF ending the request-line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['bare LF ending a field line', 'GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['bare LF as the blank line', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['bare CR in the request-line', 'GET /\r HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_CR'],
    ['bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_CR'],
    ['bare CR in a name', 'GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_CR'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  b\r\n\r\n', 400, 'WEFT_E_HTTP1_OBS_FOLD'],
    ['obs-fold with a tab', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n', 400, 'WEFT_E_HTTP1_OBS_FOLD'],
    ['whitespace before the first field line', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n', 400, 'WEFT_E_HTTP1_OBS_FOLD'],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400, 'WEFT_E_HTTP1_WHITESPACE_BEFORE_COLON'],
    ['tab before colon', 'GET / HTTP/1.1\r\nHost\t: a\r\n\r\n', 400, 'WEFT_E_HTTP1_WHITESPACE_BEFORE_COLON'],
    ['space inside a name', 'GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_NAME'],
    ['empty name', 'GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_NAME'],
    ['line without colon', 'GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_NAME'],
    ['separator in a name', 'GET / HTTP/1.1\r\nHost: a\r\nX(Y): b\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_NAME'],
    ['non-ASCII in a name', 'GET / HTTP/1.1\r\nHost: a\r\nX\xe9: b\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_NAME'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_VALUE'],
    ['DEL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_VALUE'],
    ['vertical tab in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_VALUE'],
    ['missing Host in HTTP/1.1', 'GET / HTTP/1.1\r\nX: a\r\n\r\n', 400, 'WEFT_E_HTTP1_MISSING_HOST'],
    ['two Host lines', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'WEFT_E_HTTP1_DUPLICATE_HOST'],
    ['two Host lines in HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n', 400, 'WEFT_E_HTTP1_DUPLICATE_HOST'],
    ['Host with a path', 'GET / HTTP/1.1\r\nHost: a.example/x\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_HOST'],
    ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@a.example\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_HOST'],
    ['Host with inner space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_HOST'],
    ['Connection not a token list', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: "close"\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CONNECTION'],
  ];
  for (const [name, text, status, code] of cases) {
    it(`${name} → ${status} ${code}`, () => assert.deepEqual(rejectCode(text), [status, code]));
  }

  it('an HTTP/1.0 request may omit Host', () => {
    assert.equal(parseHead('GET / HTTP/1.0\r\n\r\n').host, undefined);
  });

  it('stays refused after a refusal until reset', () => {
    const parser = new HeadParser('request');
    const bad = parser.feed(latin1('GET / HTTP/1.1\nHost: a\r\n\r\n'));
    assert.equal(bad.kind, 'reject');
    assert.equal(parser.feed(latin1('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), bad);
    parser.reset();
    assert.equal(parser.feed(latin1('GET / HTTP/1.1\r\nHost: a\r\n\r\n')).kind, 'head');
  });
});

describe('HeadParser: limits', () => {
  const params = { ...http1Params, maxRequestLineBytes: 64, maxHeadBytes: 256, maxFields: 4 };
  const requestLine = (length: number) => `GET /${'a'.repeat(length - 'GET / HTTP/1.1'.length)} HTTP/1.1`;

  it('accepts a request-line of exactly maxRequestLineBytes and refuses one byte more with 414', () => {
    assert.equal(requestLine(64).length, 64);
    assert.equal(parsePieces('request', [latin1(`${requestLine(64)}\r\nHost: a\r\n\r\n`)], undefined, params).result.kind, 'head');
    const r = parsePieces('request', [latin1(`${requestLine(65)}\r\nHost: a\r\n\r\n`)], undefined, params).result;
    assert.deepEqual(r.kind === 'reject' && [r.status, r.code], [414, 'WEFT_E_HTTP1_REQUEST_LINE_TOO_LONG']);
  });

  it('refuses an overlong request-line before it ends (414 while the line is still arriving)', () => {
    const parser = new HeadParser('request', params);
    assert.equal(parser.feed(latin1(`GET /${'a'.repeat(40)}`)).kind, 'incomplete');
    const r = parser.feed(latin1('a'.repeat(40)));
    assert.deepEqual(r.kind === 'reject' && [r.status, r.code], [414, 'WEFT_E_HTTP1_REQUEST_LINE_TOO_LONG']);
  });

  it('accepts a head of exactly maxHeadBytes and refuses one byte more with 431', () => {
    const base = 'GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n';
    const exact = base.replace('X: ', `X: ${'v'.repeat(256 - base.length)}`);
    assert.equal(exact.length, 256);
    assert.equal(parsePieces('request', [latin1(exact)], undefined, params).result.kind, 'head');
    const over = exact.replace('X: ', 'X: v');
    const r = parsePieces('request', [latin1(over)], undefined, params).result;
    assert.deepEqual(r.kind === 'reject' && [r.status, r.code], [431, 'WEFT_E_HTTP1_HEAD_TOO_LARGE']);
  });

  it('refuses a head as soon as it can no longer fit (431 at maxHeadBytes received without its end)', () => {
    const parser = new HeadParser('request', params);
    const start = 'GET / HTTP/1.1\r\nHost: a\r\n';
    assert.equal(parser.feed(latin1(start)).kind, 'incomplete');
    assert.equal(parser.feed(latin1(`X: ${'v'.repeat(256 - start.length - 4)}`)).kind, 'incomplete');
    assert.equal(parser.pendingBytes, 255);
    const r = parser.feed(latin1('v'));
    assert.deepEqual(r.kind === 'reject' && [r.status, r.code], [431, 'WEFT_E_HTTP1_HEAD_TOO_LARGE']);
  });

  it('accepts maxFields field lines and refuses one more with 431', () => {
    const head = (n: number) => `GET / HTTP/1.1\r\nHost: a\r\n${'X: y\r\n'.repeat(n - 1)}\r\n`;
    assert.equal(parsePieces('request', [latin1(head(4))], undefined, params).result.kind, 'head');
    const r = parsePieces('request', [latin1(head(5))], undefined, params).result;
    assert.deepEqual(r.kind === 'reject' && [r.status, r.code], [431, 'WEFT_E_HTTP1_TOO_MANY_FIELDS']);
  });

  it('counts the bytes of an incomplete head for the 408 decision, and none between messages', () => {
    const parser = new HeadParser('request');
    assert.equal(parser.pendingBytes, 0);
    parser.feed(latin1('\r\n'));
    assert.equal(parser.pendingBytes, 2);
    parser.feed(latin1('GET / HT'));
    assert.equal(parser.pendingBytes, 10);
    const r = parser.feed(latin1('TP/1.1\r\nHost: a\r\n\r\n'));
    assert.equal(r.kind, 'head');
    assert.equal(parser.pendingBytes, 0);
  });

  it('looks at each byte a bounded number of times however the head is cut (no rescans)', () => {
    // One byte at a time through a 60 KiB head: quadratic rescanning would take ~2·10^9 steps; the
    // parser does it in linear time. Asserted by outcome, not by timing: it must finish and parse.
    const value = 'v'.repeat(60 * 1024);
    const text = `GET / HTTP/1.1\r\nHost: a\r\nX: ${value}\r\n\r\n`;
    const parser = new HeadParser('request');
    const buf = latin1(text);
    let result = parser.feed(buf.subarray(0, 1));
    for (let i = 1; i < buf.length && result.kind === 'incomplete'; i++) result = parser.feed(buf.subarray(i, i + 1));
    assert.equal(result.kind, 'head');
    if (result.kind === 'head') assert.equal(result.head.get('x'), value);
  });
});

describe('HeadParser: properties', () => {
  it('any valid request head parses to what was generated', () => {
    fc.assert(
      fc.property(requestSpecArb, (spec) => {
        const head = parseHead(requestText(spec));
        const v = headView(head);
        assert.equal(v.method, spec.method);
        assert.equal(v.target, spec.target);
        assert.equal(v.minor, spec.minor);
        assert.deepEqual(
          v.fields,
          spec.fields.map((f) => [f.name, f.value]),
        );
        assert.equal(v.body, spec.body.kind);
        if (spec.body.kind === 'length') assert.equal(v.contentLength, spec.body.length);
        const keepAlive = spec.connection === 'close' ? false : spec.minor === 1 || spec.connection === 'keep-alive';
        assert.equal(v.keepAlive, keepAlive);
      }),
      { numRuns: 500 },
    );
  });

  it('a valid head split at any byte boundaries parses as it does in one piece', () => {
    fc.assert(
      fc.property(requestSpecArb, fc.string({ maxLength: 20 }), cutsArb, (spec, tail, cuts) => {
        const head = requestText(spec);
        const whole = latin1(head + tail);
        const one = parsePieces('request', [whole]);
        const many = parsePieces('request', split(whole, cuts));
        assert.equal(one.result.kind, 'head');
        assert.equal(many.result.kind, 'head');
        if (one.result.kind !== 'head' || many.result.kind !== 'head') return;
        assert.equal(one.end, head.length);
        assert.equal(many.end, head.length);
        assert.deepEqual(headView(many.result.head), headView(one.result.head));
      }),
      { numRuns: 500 },
    );
  });

  it('garbage never throws and every call decides or asks for more; a head always consumes bytes', () => {
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      // Near misses: valid heads with a few bytes overwritten.
      fc
        .tuple(requestSpecArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
        .map(([spec, edits]) => {
          const b = latin1(requestText(spec));
          for (const [at, byte] of edits) b[at % b.length] = byte;
          return b;
        }),
    );
    fc.assert(
      fc.property(fc.constantFrom<'request' | 'response'>('request', 'response'), garbage, cutsArb, (side, bytes, cuts) => {
        const parser = new HeadParser(side, { ...http1Params, maxHeadBytes: 512, maxRequestLineBytes: 128 });
        for (const piece of split(bytes, cuts)) {
          let pos = 0;
          // Each iteration either consumes bytes (a head), or ends this piece; so this terminates.
          for (;;) {
            const r = parser.feed(piece, pos);
            assert.ok(r.kind === 'incomplete' || r.kind === 'head' || r.kind === 'reject');
            if (r.kind === 'reject') {
              assert.ok([400, 414, 431, 501, 502, 505].includes(r.status));
              return;
            }
            if (r.kind === 'incomplete') break;
            assert.ok(r.end > pos && r.end <= piece.length);
            pos = r.end;
          }
          assert.ok(parser.pendingBytes <= 512);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('any bytes get the same answer however they are cut: the same head, or the same refusal', () => {
    const params = { ...http1Params, maxHeadBytes: 200, maxRequestLineBytes: 60, maxFields: 6 };
    const answer = (side: 'request' | 'response', pieces: Buffer[]) => {
      const { result, end } = parsePieces(side, pieces, undefined, params);
      if (result.kind === 'head') return { end, head: headView(result.head) };
      return result.kind === 'reject' ? result.code : result.kind;
    };
    const near = fc
      .tuple(requestSpecArb, fc.array(fc.tuple(fc.nat(), fc.constantFrom(0, 9, 10, 13, 32, 58, 127, 200, 65)), { maxLength: 3 }))
      .map(([spec, edits]) => {
        const b = latin1(requestText(spec));
        for (const [at, byte] of edits) b[at % b.length] = byte;
        return b;
      });
    fc.assert(
      fc.property(
        fc.constantFrom<'request' | 'response'>('request', 'response'),
        fc.oneof(near, fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))),
        cutsArb,
        (side, bytes, cuts) => {
          assert.deepEqual(answer(side, split(bytes, cuts)), answer(side, [bytes]));
        },
      ),
      { numRuns: 1500 },
    );
  });

  describe('a head with an injected ambiguity is refused, however it is cut', () => {
    const injected = (
      mutate: (text: string, at: number) => string,
      expected: (spec: { minor: 0 | 1 }) => [number, string],
    ) =>
      fc.assert(
        fc.property(requestSpecArb, fc.nat(), cutsArb, (spec, at, cuts) => {
          const text = mutate(requestText(spec), at);
          const r = parsePieces('request', split(latin1(text), cuts)).result;
          assert.equal(r.kind, 'reject', text);
          if (r.kind === 'reject') assert.deepEqual([r.status, r.code], expected(spec), JSON.stringify(text));
        }),
        { numRuns: 300 },
      );

    // Every CRLF of the head, the blank line's included.
    const lineEnds = (text: string) => [...text.matchAll(/\r\n/g)].map((m) => m.index);

    it('a bare LF in place of any CRLF → 400 BARE_LF', () =>
      injected(
        (text, at) => {
          const ends = lineEnds(text);
          const i = ends[at % ends.length] as number;
          return `${text.slice(0, i)}\n${text.slice(i + 2)}`;
        },
        () => [400, 'WEFT_E_HTTP1_BARE_LF'],
      ));

    it('a bare LF inside any line → 400 BARE_LF', () =>
      injected(
        (text, at) => {
          const i = at % (text.length - 4); // anywhere before the final blank line
          const j = text[i - 1] === '\r' ? i + 1 : i; // not right after a CR (that would make a CRLF)
          return `${text.slice(0, j)}\n${text.slice(j)}`;
        },
        () => [400, 'WEFT_E_HTTP1_BARE_LF'],
      ));

    it('an obs-fold continuation after any field line → 400 OBS_FOLD', () =>
      injected(
        (text, at) => {
          const ends = lineEnds(text).slice(0, -1); // after the request-line or any field line
          const i = (ends[at % ends.length] as number) + 2;
          return `${text.slice(0, i)}${at % 2 === 0 ? ' ' : '\t'}folded\r\n${text.slice(i)}`;
        },
        () => [400, 'WEFT_E_HTTP1_OBS_FOLD'],
      ));

    it('Content-Length and Transfer-Encoding together → 400 TE_AND_CL (TE_IN_HTTP10 in 1.0)', () =>
      injected(
        (text, at) => {
          const without = text.replace(/\r\n(content-length|transfer-encoding):[^\r]*/gi, '');
          const ends = lineEnds(without).slice(0, -1);
          const i = (ends[at % ends.length] as number) + 2;
          const both = at % 2 === 0 ? 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n' : 'Transfer-Encoding: chunked\r\nContent-Length: 0\r\n';
          return `${without.slice(0, i)}${both}${without.slice(i)}`;
        },
        (spec) => (spec.minor === 1 ? [400, 'WEFT_E_HTTP1_TE_AND_CL'] : [400, 'WEFT_E_HTTP1_TE_IN_HTTP10']),
      ));
  });
});
