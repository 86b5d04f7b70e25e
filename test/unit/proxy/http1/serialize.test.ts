import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isWeftError } from '../../../../agent/errors.ts';
import { MessageReader } from '../../../../agent/proxy/http1/message-reader.ts';
import { refusalResponse } from '../../../../agent/proxy/http1/refusal-response.ts';
import { rejection, rejectionError, http1Reasons, type Http1ErrorCode } from '../../../../agent/proxy/http1/rejection.ts';
import { encodeFieldLines, serializeHead, type SerializeOptions } from '../../../../agent/proxy/http1/serialize.ts';
import { fieldArb, headView, latin1, parseHead, requestSpecArb, requestText, valueArb } from './arbitraries.ts';

const GET = { method: 'GET', upgrade: false };
const ser = (text: string, options: SerializeOptions = {}, side: 'request' | 'response' = 'request', request = GET) =>
  serializeHead(parseHead(text, side, request), options).toString('latin1');

describe('serializeHead: hop-by-hop fields (RFC 9110 §7.6.1)', () => {
  const request =
    'GET /p?q HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop, x_under, host\r\nKeep-Alive: timeout=5\r\n' +
    'Proxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\nx-hop: 1\r\nX_Under: 2\r\nX-Keep: 3\r\n' +
    'Proxy-Authorization: Basic eA==\r\nX-Keep: 4\r\n\r\n';

  it('drops Connection and what it names, Keep-Alive, Proxy-Connection, TE and an Upgrade that is not one; keeps Host and the rest in order', () => {
    assert.equal(ser(request), 'GET /p?q HTTP/1.1\r\nHost: a\r\nX-Keep: 3\r\nProxy-Authorization: Basic eA==\r\nX-Keep: 4\r\n\r\n');
  });

  it('drops Proxy-Authorization only when the credentials were for weft', () => {
    assert.equal(ser(request, { proxyAuthIsOurs: true }), 'GET /p?q HTTP/1.1\r\nHost: a\r\nX-Keep: 3\r\nX-Keep: 4\r\n\r\n');
    assert.equal(
      ser('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n', { proxyAuthIsOurs: true }, 'response'),
      'HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n',
    );
  });

  it('forwards an h2c upgrade without HTTP2-Settings, so the server stays on HTTP/1.1 (RFC 7540 §3.2.1)', () => {
    assert.equal(
      ser('GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n'),
      'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nconnection: upgrade\r\n\r\n',
    );
  });

  it('keeps Upgrade on an upgrade request and its 101, with connection: upgrade', () => {
    assert.equal(
      ser('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTE: trailers\r\nSec-WebSocket-Key: k\r\n\r\n', { connection: 'close' }),
      'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nconnection: upgrade\r\n\r\n',
    );
    assert.equal(
      ser('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n', {}, 'response', { method: 'GET', upgrade: true }),
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nconnection: upgrade\r\n\r\n',
    );
  });
});

describe('serializeHead: framing, version, extra fields', () => {
  it('writes the framing once, canonically, after the forwarded fields', () => {
    assert.equal(
      ser('POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nHost: a\r\ncontent-length: 005\r\nX: y\r\n\r\n'),
      'POST / HTTP/1.1\r\nHost: a\r\nX: y\r\ncontent-length: 5\r\n\r\n',
    );
    assert.equal(ser('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked\r\n\r\n'), 'POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n');
    assert.equal(ser('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'), 'POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n');
  });

  it('re-frames when asked: a read-until-close response as chunked, with the Connection option given', () => {
    assert.equal(
      ser('HTTP/1.0 200 OK\r\nX: y\r\n\r\n', { body: 'chunked', connection: 'keep-alive' }, 'response'),
      'HTTP/1.1 200 OK\r\nX: y\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n',
    );
    assert.equal(ser('HTTP/1.1 200 OK\r\nX: y\r\n\r\n', { body: 'length', contentLength: 12 }, 'response'), 'HTTP/1.1 200 OK\r\nX: y\r\ncontent-length: 12\r\n\r\n');
    assert.throws(() => ser('HTTP/1.1 200 OK\r\n\r\n', { body: 'length' }, 'response'), (e) => isWeftError(e) && e.code === 'WEFT_E_HTTP1_SERIALIZE');
  });

  it('keeps Content-Length on a HEAD response and a 304, and drops it from a 204', () => {
    const head = { method: 'HEAD', upgrade: false };
    assert.equal(ser('HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n', {}, 'response', head), 'HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n');
    assert.equal(ser('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 42\r\n\r\n', {}, 'response'), 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\ncontent-length: 42\r\n\r\n');
    assert.equal(ser('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n', {}, 'response'), 'HTTP/1.1 204 No Content\r\n\r\n');
  });

  it("sends weft's own version (RFC 9110 §2.5) and keeps the rest of the start line byte for byte", () => {
    assert.equal(ser('GET http://a/b?c HTTP/1.0\r\n\r\n'), 'GET http://a/b?c HTTP/1.1\r\n\r\n');
    assert.equal(ser('HTTP/1.0 404 Not  Found\r\nContent-Length: 0\r\n\r\n', {}, 'response'), 'HTTP/1.1 404 Not  Found\r\ncontent-length: 0\r\n\r\n');
    assert.equal(ser('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n', {}, 'response'), 'HTTP/1.1 200\r\ncontent-length: 0\r\n\r\n');
  });

  it('appends precomputed extra field lines', () => {
    const extra = encodeFieldLines([
      ['l5d-dst-canonical', 'svc.ns.svc.cluster.local:80'],
      ['Via', ' 1.1 weft '],
    ]);
    assert.equal(extra.toString('latin1'), 'l5d-dst-canonical: svc.ns.svc.cluster.local:80\r\nVia: 1.1 weft\r\n');
    assert.equal(ser('GET / HTTP/1.1\r\nHost: a\r\n\r\n', { extraFields: extra }), `GET / HTTP/1.1\r\nHost: a\r\n${extra.toString('latin1')}\r\n`);
  });

  it('encodeFieldLines refuses header injection and names that are not tokens', () => {
    const refused = (name: string, value: string) =>
      assert.throws(() => encodeFieldLines([[name, value]]), (e) => isWeftError(e) && e.code === 'WEFT_E_HTTP1_BAD_FIELD');
    refused('X', 'a\r\nInjected: yes');
    refused('X', 'a\nb');
    refused('X', 'a\x00');
    refused('X', 'snow \u2603');
    refused('Bad Name', 'v');
    refused('', 'v');
    refused('X:', 'v');
  });
});

describe('serializeHead: properties', () => {
  it('serialize ∘ parse is stable, and forwards exactly the end-to-end fields', () => {
    fc.assert(
      fc.property(requestSpecArb, (spec) => {
        const h1 = parseHead(requestText(spec));
        // A 1.0 request without Host must be given one to go out as 1.1.
        const options: SerializeOptions = h1.host === undefined ? { extraFields: encodeFieldLines([['host', 'added']]) } : {};
        const s1 = serializeHead(h1, options);
        const h2 = parseHead(s1.toString('latin1'));
        const s2 = serializeHead(h2);
        assert.deepEqual(s2, s1);
        const v1 = headView(h1);
        const v2 = headView(h2);
        assert.deepEqual([v2.method, v2.target, v2.minor, v2.body, v2.contentLength], [v1.method, v1.target, 1, v1.body, v1.contentLength]);
        const endToEnd = v1.fields.filter(([name]) => !/^(connection|content-length|transfer-encoding)$/i.test(name));
        const framing: [string, string][] =
          v1.body === 'length' ? [['content-length', String(v1.contentLength)]] : v1.body === 'chunked' ? [['transfer-encoding', 'chunked']] : [];
        const added: [string, string][] = h1.host === undefined ? [['host', 'added']] : [];
        assert.deepEqual(v2.fields, [...endToEnd, ...added, ...framing]);
      }),
      { numRuns: 500 },
    );
  });

  it('responses too: serialize ∘ parse is stable for any status, reason and fields', () => {
    const responseArb = fc.record({
      status: fc.constantFrom(200, 201, 204, 206, 301, 304, 400, 404, 500, 503),
      reason: valueArb,
      minor: fc.constantFrom(0, 1),
      fields: fc.array(fieldArb, { maxLength: 8 }),
      length: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(responseArb, ({ status, reason, minor, fields, length }) => {
        const lines = fields.map((f) => `${f.name}:${f.before}${f.value}${f.after}\r\n`).join('');
        const cl = length === undefined ? '' : `Content-Length: ${length}\r\n`;
        const h1 = parseHead(`HTTP/1.${minor} ${status} ${reason}\r\n${lines}${cl}\r\n`, 'response');
        const s1 = serializeHead(h1);
        const h2 = parseHead(s1.toString('latin1'), 'response');
        assert.deepEqual(serializeHead(h2), s1);
        assert.deepEqual([h2.status, h2.reason, h2.body], [h1.status, h1.reason, h1.body]);
        assert.deepEqual(headView(h2).fields.slice(0, fields.length), fields.map((f) => [f.name, f.value]));
      }),
      { numRuns: 300 },
    );
  });
});

describe('refusals', () => {
  it('every reason has a stable code, a status that RFC 9110 defines, and a 502 for responses', () => {
    for (const code of Object.keys(http1Reasons) as Http1ErrorCode[]) {
      const r = rejection(code, 'request');
      assert.match(r.code, /^WEFT_E_HTTP1_[A-Z0-9_]+$/);
      assert.ok([400, 414, 431, 501, 502, 505].includes(r.status), code);
      assert.equal(rejection(code, 'response').status, 502);
      assert.equal(rejection(code, 'request'), r, 'preallocated');
    }
  });

  it('a refusal response says why: status, l5d-proxy-error, a text body, and connection: close', () => {
    const r = rejection('WEFT_E_HTTP1_TOO_MANY_FIELDS', 'request');
    const bytes = refusalResponse(r);
    const reader = new MessageReader('response');
    assert.equal(reader.next(bytes, 0, GET), 'head');
    const head = reader.head;
    assert.ok(head !== undefined);
    assert.deepEqual([head.status, head.reason, head.get('l5d-proxy-error'), head.keepAlive], [431, 'Request Header Fields Too Large', 'WEFT_E_HTTP1_TOO_MANY_FIELDS', false]);
    assert.equal(reader.next(bytes, reader.offset), 'data');
    assert.equal(bytes.toString('utf8', reader.dataStart, reader.dataEnd), `${r.message}\n`);
    assert.equal(reader.next(bytes, reader.offset), 'end');
    assert.equal(reader.offset, bytes.length);
    assert.equal(refusalResponse(rejection('WEFT_E_HTTP1_BARE_LF', 'response')).toString('latin1', 0, 25), 'HTTP/1.1 502 Bad Gateway\r');
  });

  it('as a WeftError it keeps the code and marks a refused request as rejected, not retryable', () => {
    const e = rejectionError(rejection('WEFT_E_HTTP1_TE_AND_CL', 'request'));
    assert.deepEqual([e.code, e.flags.rejected, e.flags.retryable], ['WEFT_E_HTTP1_TE_AND_CL', true, undefined]);
    assert.match(e.message, /400/);
    assert.equal(latin1('x').length, 1);
  });
});
