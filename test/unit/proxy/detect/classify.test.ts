import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Classification, type ClassifyLimits, H2_PREFACE, classify } from '../../../../agent/proxy/detect/classify.ts';
import { detectParams } from '../../../../agent/proxy/detect/params.ts';
import { clientHello, helloMessage, helloSpecArb, records, sniExtension } from './hello-bytes.ts';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const small = { maxPeekBytes: 256, maxRequestLineBytes: 64 } as const;

/** Every prefix of `bytes` is need-more or the whole's answer: the answer cannot depend on how reads were cut. */
function assertPrefixStable(bytes: Uint8Array, limits: ClassifyLimits = detectParams): Classification {
  const whole = classify(bytes, limits);
  for (let k = 0; k <= bytes.length; k++) {
    const part = classify(bytes.subarray(0, k), limits);
    if (part.kind !== 'need-more') assert.deepEqual(part, whole, `prefix of ${k} bytes decided differently from the whole`);
  }
  return whole;
}

describe('classify: HTTP/2 prior knowledge', () => {
  it('recognizes the exact preface, and waits on every strict prefix of it', () => {
    assert.deepEqual(classify(H2_PREFACE), { kind: 'http2' });
    for (let k = 0; k < H2_PREFACE.length; k++) assert.deepEqual(classify(H2_PREFACE.subarray(0, k)), { kind: 'need-more' }, `prefix ${k}`);
    assert.deepEqual(classify(Buffer.concat([H2_PREFACE, latin1('\x00\x00\x00\x04\x00')])), { kind: 'http2' });
  });

  it('treats a preface that goes wrong after the request line as opaque, not http2 or http1', () => {
    const r = classify(latin1('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'));
    assert.equal(r.kind, 'opaque');
    // "HTTP/2.0" is a version the http1 layer does not speak.
    assert.deepEqual(r, { kind: 'opaque', reason: 'http1-refused', http1Code: 'WEFT_E_HTTP1_UNSUPPORTED_VERSION' });
  });
});

describe('classify: HTTP/1 request line', () => {
  it('decides from the request line alone, before any header arrives', () => {
    assert.deepEqual(classify(latin1('GET /index.html HTTP/1.1\r\n')), { kind: 'http1', method: 'GET', minor: 1, targetForm: 'origin' });
    assert.deepEqual(classify(latin1('POST http://a.b/c HTTP/1.0\r\nHost: x\r\n')), { kind: 'http1', method: 'POST', minor: 0, targetForm: 'absolute' });
    assert.deepEqual(classify(latin1('CONNECT db.svc:5432 HTTP/1.1\r\n')), { kind: 'http1', method: 'CONNECT', minor: 1, targetForm: 'authority' });
    assert.deepEqual(classify(latin1('OPTIONS * HTTP/1.1\r\n')), { kind: 'http1', method: 'OPTIONS', minor: 1, targetForm: 'asterisk' });
    assert.deepEqual(classify(latin1('PURGE-X /a HTTP/1.1\r\n')), { kind: 'http1', method: 'PURGE-X', minor: 1, targetForm: 'origin' });
  });

  it('waits while the line is a valid prefix, up to its CRLF', () => {
    for (const s of ['G', 'GET', 'GET ', 'GET /a', 'GET /a HTTP/1.', 'GET /a HTTP/1.1', 'GET /a HTTP/1.1\r', '\r\n', '\r\nGET']) {
      assert.deepEqual(classify(latin1(s)), { kind: 'need-more' }, JSON.stringify(s));
    }
  });

  it('skips empty lines before the request line, as the http1 head parser does', () => {
    assert.deepEqual(classify(latin1('\r\n\r\nGET / HTTP/1.1\r\n')), { kind: 'http1', method: 'GET', minor: 1, targetForm: 'origin' });
  });

  it('sends a line that tries to be HTTP/1 and breaks the strict rules to opaque, naming the rule', () => {
    const cases: [string, string][] = [
      ['GET /a HTTP/1.1\n', 'WEFT_E_HTTP1_BARE_LF'],
      ['GET  /a HTTP/1.1\r\n', 'WEFT_E_HTTP1_BAD_REQUEST_LINE'],
      ['GET /a HTTP/2.0\r\n', 'WEFT_E_HTTP1_UNSUPPORTED_VERSION'],
      ['GET /a\x00b HTTP/1.1\r\n', 'WEFT_E_HTTP1_BAD_TARGET'],
      ['GET /a http/1.1\r\n', 'WEFT_E_HTTP1_BAD_VERSION'],
      ['GET * HTTP/1.1\r\n', 'WEFT_E_HTTP1_BAD_TARGET'],
    ];
    for (const [line, code] of cases) {
      assert.deepEqual(classify(latin1(line)), { kind: 'opaque', reason: 'http1-refused', http1Code: code }, JSON.stringify(line));
    }
  });

  it('sends bytes that never form "method SP" to opaque as unrecognized', () => {
    for (const s of ['\x00\x01\x02', 'SSH-2.0-OpenSSH_9.6\r\n', '*1\r\n$4\r\nPING\r\n', 'PING\r\n', ' GET / HTTP/1.1\r\n', '\r\r', '\n']) {
      assert.deepEqual(classify(latin1(s)), { kind: 'opaque', reason: 'unrecognized' }, JSON.stringify(s));
    }
  });

  it('gives up on a request line longer than maxRequestLineBytes at a fixed position: opaque bound', () => {
    const line = `GET /${'a'.repeat(100)} HTTP/1.1\r\n`;
    assert.deepEqual(classify(latin1(line.slice(0, small.maxRequestLineBytes + 1)), small), { kind: 'need-more' });
    assert.deepEqual(classify(latin1(line.slice(0, small.maxRequestLineBytes + 2)), small), { kind: 'opaque', reason: 'bound' });
    assert.deepEqual(classify(latin1(line), small), { kind: 'opaque', reason: 'bound' });
    // A line of exactly the limit is still HTTP/1.
    const fits = `GET /${'a'.repeat(small.maxRequestLineBytes - 14)} HTTP/1.1`;
    assert.equal(fits.length, small.maxRequestLineBytes);
    assert.equal(classify(latin1(`${fits}\r\n`), small).kind, 'http1');
  });

  it('any prefix of a valid request decides as the whole or waits', () => {
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'X-CUSTOM');
    const path = fc.stringMatching(/^\/[a-zA-Z0-9._~!$&'()*+,;=:@/?%-]{0,60}$/);
    fc.assert(
      fc.property(method, path, fc.constantFrom('1.0', '1.1'), fc.string({ maxLength: 40 }), (m, p, v, rest) => {
        const bytes = latin1(`${m} ${p} HTTP/${v}\r\n${rest}`);
        const r = assertPrefixStable(bytes);
        assert.deepEqual(r, { kind: 'http1', method: m, minor: v === '1.0' ? 0 : 1, targetForm: 'origin' });
      }),
    );
  });
});

describe('classify: TLS ClientHello', () => {
  it('reads SNI (lower-cased) and ALPN in the client order from a whole hello', () => {
    const bytes = clientHello({ sni: 'API.Default.svc.cluster.local', alpn: ['h2', 'http/1.1'] });
    assert.deepEqual(classify(bytes), { kind: 'tls', hello: 'parsed', sni: 'api.default.svc.cluster.local', alpn: ['h2', 'http/1.1'] });
  });

  it('waits for the whole hello, not just the record header', () => {
    const bytes = clientHello({ sni: 'a.svc' });
    for (const k of [1, 5, 6, 9, 40, bytes.length - 1]) assert.deepEqual(classify(bytes.subarray(0, k)), { kind: 'need-more' }, `prefix ${k}`);
  });

  it('parses a hello with no extensions, and one without SNI or ALPN', () => {
    assert.deepEqual(classify(clientHello({ noExtensions: true })), { kind: 'tls', hello: 'parsed' });
    assert.deepEqual(classify(clientHello({ extra: [[43, Buffer.from([2, 3, 4])]] })), { kind: 'tls', hello: 'parsed' });
  });

  it('reassembles a hello split over several handshake records', () => {
    const bytes = clientHello({ sni: 'split.svc', alpn: ['h2'], recordSize: 7 });
    assert.deepEqual(classify(bytes), { kind: 'tls', hello: 'parsed', sni: 'split.svc', alpn: ['h2'] });
  });

  it('a hello cut into more than 64 records is TLS but malformed: no walk over thousands of tiny records', () => {
    const msg = helloMessage({ sni: 'a.svc' });
    assert.deepEqual(classify(records(msg, Math.ceil(msg.length / 64))), { kind: 'tls', hello: 'parsed', sni: 'a.svc' });
    const tooMany = records(msg, Math.floor((msg.length - 1) / 64));
    assert.ok(tooMany.length >= 65 * 5 + msg.length, 'at least 65 records');
    assert.deepEqual(classify(tooMany), { kind: 'tls', hello: 'malformed' });
  });

  it('leaves SNI out when the name is not a DNS host name (IP literal, trailing dot, bad byte)', () => {
    for (const name of ['10.0.0.1', 'a.svc.', 'a..b', 'a b', '', 'x'.repeat(64)]) {
      assert.deepEqual(classify(clientHello({ sni: name, alpn: ['h2'] })), { kind: 'tls', hello: 'parsed', alpn: ['h2'] }, JSON.stringify(name));
    }
  });

  it('malformed insides are TLS without SNI, never a throw', () => {
    const dup = helloMessage({ sni: 'a.svc', extra: [[0, sniExtension('b.svc').subarray(4)]] });
    assert.deepEqual(classify(records(dup)), { kind: 'tls', hello: 'malformed' });
    const badAlpn = helloMessage({ extra: [[16, Buffer.from([0, 1, 0])]] });
    assert.deepEqual(classify(records(badAlpn)), { kind: 'tls', hello: 'malformed' });
    // Extensions length that overruns the message.
    const msg = helloMessage({ sni: 'a.svc' });
    const bad = Buffer.from(msg);
    const extLenAt = 4 + 2 + 32 + 1 + 32 + 2 + 6 + 2;
    bad.writeUInt16BE(bad.readUInt16BE(extLenAt) + 1, extLenAt);
    assert.deepEqual(classify(records(bad)), { kind: 'tls', hello: 'malformed' });
    // A session id longer than 32.
    assert.deepEqual(classify(clientHello({ sessionIdLength: 33 })), { kind: 'tls', hello: 'malformed' });
    // A second record that is not a handshake record.
    const two = clientHello({ sni: 'a.svc', recordSize: 10 });
    two[15] = 23;
    assert.deepEqual(classify(two), { kind: 'tls', hello: 'malformed' });
  });

  it('is not TLS when the record header is not a handshake record carrying a ClientHello', () => {
    const ok = clientHello({ sni: 'a.svc' });
    const variants: [number, number][] = [[1, 2], [2, 5], [3, 0x40], [5, 2]];
    for (const [at, value] of variants) {
      const b = Buffer.from(ok);
      b[at] = value;
      assert.deepEqual(classify(b), { kind: 'opaque', reason: 'unrecognized' }, `byte ${at} = ${value}`);
    }
    const zeroLength = Buffer.from(ok);
    zeroLength.writeUInt16BE(0, 3);
    assert.deepEqual(classify(zeroLength), { kind: 'opaque', reason: 'unrecognized' });
  });

  it('a hello longer than the peek bound is TLS, truncated, decided at the bound', () => {
    const bytes = clientHello({ sni: 'big.svc', extra: [[21, Buffer.alloc(600)]] });
    assert.deepEqual(classify(bytes.subarray(0, small.maxPeekBytes - 1), small), { kind: 'need-more' });
    assert.deepEqual(classify(bytes.subarray(0, small.maxPeekBytes), small), { kind: 'tls', hello: 'truncated' });
    assert.deepEqual(classify(bytes, small), { kind: 'tls', hello: 'truncated' });
  });

  it('any prefix of a valid hello of any shape decides as the whole or waits, and the whole carries its SNI and ALPN', () => {
    fc.assert(
      fc.property(helloSpecArb, (spec) => {
        const bytes = clientHello(spec);
        const r = assertPrefixStable(bytes);
        const recordCount = Math.ceil(helloMessage(spec).length / (spec.recordSize ?? 1 << 14));
        if (recordCount > 64) {
          assert.deepEqual(r, { kind: 'tls', hello: 'malformed' });
          return;
        }
        const expected = {
          kind: 'tls',
          hello: 'parsed',
          ...(spec.sni === undefined ? {} : { sni: spec.sni }),
          ...(spec.alpn === undefined ? {} : { alpn: spec.alpn }),
        };
        assert.deepEqual(r, expected);
      }),
      { numRuns: 60 },
    );
  });
});

describe('classify: arbitrary bytes', () => {
  it('never throws, is stable under extension, and never waits at or past the bound', () => {
    const starts = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from([22, 3, 1]), b])),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([H2_PREFACE.subarray(0, 10), b])),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([latin1('GET /'), b])),
      fc.string({ maxLength: 300 }).map((s) => latin1(`GET /${s}`)),
      helloSpecArb.chain((spec) => {
        const hello = clientHello(spec);
        return fc.tuple(fc.nat(hello.length - 1), fc.integer({ min: 0, max: 255 })).map(([at, v]) => {
          const b = Buffer.from(hello);
          b[at] = v;
          return b;
        });
      }),
    );
    fc.assert(
      fc.property(starts, (bytes) => {
        assertPrefixStable(bytes, small);
        if (bytes.length >= small.maxPeekBytes) assert.notEqual(classify(bytes, small).kind, 'need-more');
      }),
      { numRuns: 300 },
    );
  });

  it('at the bound, undecided non-TLS bytes are opaque bound', () => {
    assert.deepEqual(classify(Buffer.alloc(small.maxPeekBytes, 0x61), { maxPeekBytes: small.maxPeekBytes, maxRequestLineBytes: 1000 }), {
      kind: 'opaque',
      reason: 'bound',
    });
  });
});
