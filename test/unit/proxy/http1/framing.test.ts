import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestAuthority } from '../../../../agent/proxy/http1/authority.ts';
import type { ResponseContext } from '../../../../agent/proxy/http1/framing.ts';
import { parseHead, parseText } from './arbitraries.ts';

const GET: ResponseContext = { method: 'GET', upgrade: false };
const outcome = (text: string, side: 'request' | 'response' = 'request', request: ResponseContext = GET) => {
  const r = parseText(text, side, request);
  if (r.kind === 'reject') return [r.status, r.code];
  if (r.kind === 'head') return [r.head.body, r.head.contentLength];
  return r.kind;
};
const post = (fields: string, version = '1.1') => `POST /x HTTP/${version}\r\nHost: a\r\n${fields}\r\n`;

describe('request framing (RFC 9112 §6.3)', () => {
  it('no Content-Length and no Transfer-Encoding: no body', () => {
    assert.deepEqual(outcome(post('')), ['none', -1]);
  });
  it('Content-Length: that many bytes, 0 included', () => {
    assert.deepEqual(outcome(post('Content-Length: 42\r\n')), ['length', 42]);
    assert.deepEqual(outcome(post('Content-Length: 0\r\n')), ['length', 0]);
    assert.deepEqual(outcome(post('Content-Length: 007\r\n')), ['length', 7]);
    assert.deepEqual(outcome(post('Content-Length: 9007199254740991\r\n')), ['length', 9007199254740991]);
  });
  it('chunked, in any case, with OWS around it', () => {
    assert.deepEqual(outcome(post('Transfer-Encoding: chunked\r\n')), ['chunked', -1]);
    assert.deepEqual(outcome(post('transfer-encoding:\tCHUNKED \r\n')), ['chunked', -1]);
  });
  it('identical Content-Length values are one length (RFC 9110 §8.6), on one line or several', () => {
    assert.deepEqual(outcome(post('Content-Length: 5, 5\r\n')), ['length', 5]);
    assert.deepEqual(outcome(post('Content-Length: 5\r\nContent-Length: 5\r\n')), ['length', 5]);
    assert.deepEqual(outcome(post('Content-Length: 5,5 , 005\r\n')), ['length', 5]);
  });
  it('persistence (RFC 9112 §9.3): 1.1 unless close; 1.0 only with keep-alive', () => {
    const keepAlive = (text: string) => parseHead(text).keepAlive;
    assert.equal(keepAlive(post('')), true);
    assert.equal(keepAlive(post('Connection: close\r\n')), false);
    assert.equal(keepAlive(post('Connection: keep-alive, Close\r\n')), false);
    assert.equal(keepAlive(post('', '1.0')), false);
    assert.equal(keepAlive(post('Connection: Keep-Alive\r\n', '1.0')), true);
    assert.equal(keepAlive(post('Connection: keep-alive\r\nConnection: close\r\n', '1.0')), false);
  });
  it('Expect: 100-continue is noticed in 1.1 and ignored in 1.0 (RFC 9110 §10.1.1)', () => {
    assert.equal(parseHead(post('Expect: 100-Continue\r\nContent-Length: 3\r\n')).expectContinue, true);
    assert.equal(parseHead(post('Expect: 100-continue\r\nContent-Length: 3\r\n', '1.0')).expectContinue, false);
    assert.equal(parseHead(post('Expect: something-else\r\n')).expectContinue, false);
    assert.equal(parseHead(post('')).expectContinue, false);
  });
  it('an upgrade needs Upgrade and the "upgrade" connection option, in 1.1 (RFC 9110 §7.8)', () => {
    const get = (fields: string, version = '1.1') => parseHead(`GET /ws HTTP/${version}\r\nHost: a\r\n${fields}\r\n`);
    assert.equal(get('Connection: Upgrade\r\nUpgrade: websocket\r\n').upgrade, true);
    assert.equal(get('Connection: Upgrade\r\nUpgrade: websocket\r\n').body, 'none');
    assert.equal(get('Upgrade: websocket\r\n').upgrade, false);
    assert.equal(get('Connection: upgrade\r\n').upgrade, false);
    assert.equal(get('Connection: Upgrade\r\nUpgrade: websocket\r\n', '1.0').upgrade, false);
  });
  it('an h2c upgrade request keeps its body framing; the switch waits for the 101', () => {
    const head = parseHead(post('Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 3\r\n'));
    assert.deepEqual([head.upgrade, head.body, head.contentLength], [true, 'length', 3]);
    assert.deepEqual(head.connectionOptions, ['http2-settings']);
  });
  it('CONNECT becomes a tunnel after its head, and may not declare a body', () => {
    assert.deepEqual(outcome('CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n'), ['tunnel', -1]);
    assert.deepEqual(outcome('CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 0\r\n\r\n'), ['tunnel', 0]);
    assert.deepEqual(outcome('CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 5\r\n\r\n'), [400, 'WEFT_E_HTTP1_CONNECT_WITH_BODY']);
    assert.deepEqual(outcome('CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nTransfer-Encoding: chunked\r\n\r\n'), [400, 'WEFT_E_HTTP1_CONNECT_WITH_BODY']);
  });
});

describe('request smuggling shapes are refused with the right status', () => {
  const cases: [string, string, number, string][] = [
    // CL.TE and TE.CL: a front end and a back end each pick a different one of the two.
    ['CL.TE', 'Content-Length: 13\r\nTransfer-Encoding: chunked\r\n', 400, 'WEFT_E_HTTP1_TE_AND_CL'],
    ['TE.CL', 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', 400, 'WEFT_E_HTTP1_TE_AND_CL'],
    ['TE.CL with CL: 0', 'Transfer-Encoding: chunked\r\nContent-Length: 0\r\n', 400, 'WEFT_E_HTTP1_TE_AND_CL'],
    // TE.TE: one side is made not to see the Transfer-Encoding.
    ['TE: xchunked', 'Transfer-Encoding: xchunked\r\n', 501, 'WEFT_E_HTTP1_UNSUPPORTED_TRANSFER_CODING'],
    ['TE: x', 'Transfer-Encoding: x\r\n', 501, 'WEFT_E_HTTP1_UNSUPPORTED_TRANSFER_CODING'],
    ['TE: identity', 'Transfer-Encoding: identity\r\n', 501, 'WEFT_E_HTTP1_UNSUPPORTED_TRANSFER_CODING'],
    ['TE: gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n', 501, 'WEFT_E_HTTP1_UNSUPPORTED_TRANSFER_CODING'],
    ['TE: chunked, identity', 'Transfer-Encoding: chunked, identity\r\n', 400, 'WEFT_E_HTTP1_CHUNKED_NOT_FINAL'],
    ['TE: chunked then x on a second line', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n', 400, 'WEFT_E_HTTP1_CHUNKED_NOT_FINAL'],
    ['TE: chunked, chunked', 'Transfer-Encoding: chunked, chunked\r\n', 400, 'WEFT_E_HTTP1_BAD_TRANSFER_ENCODING'],
    ['TE: chunked on two lines', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', 400, 'WEFT_E_HTTP1_BAD_TRANSFER_ENCODING'],
    ['TE: "chunked" quoted', 'Transfer-Encoding: "chunked"\r\n', 400, 'WEFT_E_HTTP1_BAD_TRANSFER_ENCODING'],
    ['TE: chunked with a parameter', 'Transfer-Encoding: chunked;q=1\r\n', 400, 'WEFT_E_HTTP1_BAD_TRANSFER_ENCODING'],
    ['TE: empty', 'Transfer-Encoding:\r\n', 400, 'WEFT_E_HTTP1_BAD_TRANSFER_ENCODING'],
    ['TE: only commas', 'Transfer-Encoding: , ,\r\n', 400, 'WEFT_E_HTTP1_BAD_TRANSFER_ENCODING'],
    ['TE: chunk ed', 'Transfer-Encoding: chunk ed\r\n', 400, 'WEFT_E_HTTP1_BAD_TRANSFER_ENCODING'],
    ['TE with space before the colon', 'Transfer-Encoding : chunked\r\n', 400, 'WEFT_E_HTTP1_WHITESPACE_BEFORE_COLON'],
    ['TE folded under another field', 'X: y\r\n Transfer-Encoding: chunked\r\n', 400, 'WEFT_E_HTTP1_OBS_FOLD'],
    ['TE on its own folded line', 'Transfer-Encoding:\r\n chunked\r\n', 400, 'WEFT_E_HTTP1_OBS_FOLD'],
    ['TE after a bare LF', 'X: y\nTransfer-Encoding: chunked\r\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['TE with a vertical tab', 'Transfer-Encoding:\x0bchunked\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_VALUE'],
    ['TE with a NUL', 'Transfer-Encoding: chunked\x00\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_VALUE'],
    ['TE name split over two lines', 'Transfer-Encoding\r\n: chunked\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_NAME'],
    // Content-Length games.
    ['duplicate CL, different values', 'Content-Length: 5\r\nContent-Length: 6\r\n', 400, 'WEFT_E_HTTP1_CONTENT_LENGTH_MISMATCH'],
    ['CL list, different values', 'Content-Length: 5, 6\r\n', 400, 'WEFT_E_HTTP1_CONTENT_LENGTH_MISMATCH'],
    ['CL with a plus sign', 'Content-Length: +5\r\n', 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL negative', 'Content-Length: -1\r\n', 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL with an inner space', 'Content-Length: 1 0\r\n', 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL in hex', 'Content-Length: 0x10\r\n', 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL decimal point', 'Content-Length: 5.0\r\n', 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL exponent', 'Content-Length: 1e3\r\n', 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL empty', 'Content-Length:\r\n', 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL only a comma', 'Content-Length: ,\r\n', 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL past 2^53', 'Content-Length: 9007199254740993\r\n', 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL with 30 digits', `Content-Length: ${'9'.repeat(30)}\r\n`, 400, 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH'],
    ['CL with a space before the colon', 'Content-Length : 5\r\n', 400, 'WEFT_E_HTTP1_WHITESPACE_BEFORE_COLON'],
  ];
  for (const [name, fields, status, code] of cases) {
    it(`${name} → ${status}`, () => assert.deepEqual(outcome(post(fields)), [status, code]));
  }

  it('Transfer-Encoding in HTTP/1.0 → 400, with or without Content-Length (RFC 9112 §6.1)', () => {
    assert.deepEqual(outcome(post('Transfer-Encoding: chunked\r\n', '1.0')), [400, 'WEFT_E_HTTP1_TE_IN_HTTP10']);
    assert.deepEqual(outcome(post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', '1.0')), [400, 'WEFT_E_HTTP1_TE_IN_HTTP10']);
  });
});

describe('response framing (RFC 9112 §6.3)', () => {
  const response = (status: string, fields: string, version = '1.1') => `HTTP/${version} ${status}\r\n${fields}\r\n`;
  const res = (status: string, fields: string, request: ResponseContext = GET, version = '1.1') =>
    outcome(response(status, fields, version), 'response', request);

  it('Content-Length, chunked, or read until close', () => {
    assert.deepEqual(res('200 OK', 'Content-Length: 3\r\n'), ['length', 3]);
    assert.deepEqual(res('200 OK', 'Transfer-Encoding: chunked\r\n'), ['chunked', -1]);
    assert.deepEqual(res('200 OK', ''), ['close', -1]);
    assert.equal(parseHead(response('200 OK', ''), 'response', GET).keepAlive, false);
  });
  it('HEAD, 1xx, 204 and 304 have no body whatever the fields say; Content-Length is kept for HEAD and 304', () => {
    assert.deepEqual(res('200 OK', 'Content-Length: 10\r\n', { method: 'HEAD', upgrade: false }), ['none', 10]);
    assert.deepEqual(res('200 OK', 'Transfer-Encoding: chunked\r\n', { method: 'HEAD', upgrade: false }), ['none', -1]);
    assert.deepEqual(res('304 Not Modified', 'Content-Length: 10\r\n'), ['none', 10]);
    assert.deepEqual(res('204 No Content', ''), ['none', -1]);
    assert.deepEqual(res('100 Continue', ''), ['none', -1]);
    assert.deepEqual(res('103 Early Hints', 'Link: </a>\r\n'), ['none', -1]);
    assert.equal(parseHead(response('204 No Content', ''), 'response', GET).keepAlive, true);
  });
  it('101 is a tunnel when the request asked to upgrade, and refused (502) when it did not', () => {
    const upgrading = { method: 'GET', upgrade: true };
    assert.deepEqual(res('101 Switching Protocols', 'Connection: upgrade\r\nUpgrade: websocket\r\n', upgrading), ['tunnel', -1]);
    assert.equal(parseHead(response('101 Switching Protocols', 'Upgrade: websocket\r\n'), 'response', upgrading).upgrade, true);
    assert.deepEqual(res('101 Switching Protocols', 'Upgrade: websocket\r\n'), [502, 'WEFT_E_HTTP1_UNEXPECTED_UPGRADE']);
  });
  it('a 2xx to CONNECT is a tunnel, its Content-Length and Transfer-Encoding ignored; other statuses are framed as usual', () => {
    const connect = { method: 'CONNECT', upgrade: false };
    assert.deepEqual(res('200 Connection established', '', connect), ['tunnel', -1]);
    assert.deepEqual(res('200 OK', 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', connect), ['tunnel', 3]);
    assert.deepEqual(res('407 Proxy Authentication Required', 'Content-Length: 0\r\n', connect), ['length', 0]);
  });
  it('persistence: 1.0 needs keep-alive and a length; close wins', () => {
    assert.equal(parseHead(response('200 OK', 'Content-Length: 0\r\n', '1.0'), 'response', GET).keepAlive, false);
    assert.equal(parseHead(response('200 OK', 'Content-Length: 0\r\nConnection: keep-alive\r\n', '1.0'), 'response', GET).keepAlive, true);
    assert.equal(parseHead(response('200 OK', 'Content-Length: 0\r\nConnection: close\r\n'), 'response', GET).keepAlive, false);
  });
  it('ambiguous upstream framing becomes a 502, whatever the reason', () => {
    assert.deepEqual(res('200 OK', 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n'), [502, 'WEFT_E_HTTP1_TE_AND_CL']);
    assert.deepEqual(res('200 OK', 'Content-Length: 3\r\nContent-Length: 4\r\n'), [502, 'WEFT_E_HTTP1_CONTENT_LENGTH_MISMATCH']);
    assert.deepEqual(res('200 OK', 'Transfer-Encoding: gzip\r\n'), [502, 'WEFT_E_HTTP1_UNSUPPORTED_TRANSFER_CODING']);
    assert.deepEqual(res('200 OK', 'Transfer-Encoding: chunked\r\n', GET, '1.0'), [502, 'WEFT_E_HTTP1_TE_IN_HTTP10']);
    assert.deepEqual(res('200 OK', 'X: a\r\n b\r\n'), [502, 'WEFT_E_HTTP1_OBS_FOLD']);
  });
  it('status-line: strict version and code; the reason may be empty or even lack its SP', () => {
    assert.equal(parseHead('HTTP/1.1 404 Not Found\r\n\r\n', 'response').reason, 'Not Found');
    assert.equal(parseHead('HTTP/1.1 200 \r\n\r\n', 'response').reason, '');
    assert.equal(parseHead('HTTP/1.1 200\r\n\r\n', 'response').status, 200);
    assert.deepEqual(outcome('HTTP/1.1 20 OK\r\n\r\n', 'response'), [502, 'WEFT_E_HTTP1_BAD_STATUS_LINE']);
    assert.deepEqual(outcome('HTTP/1.1 2000 OK\r\n\r\n', 'response'), [502, 'WEFT_E_HTTP1_BAD_STATUS_LINE']);
    assert.deepEqual(outcome('HTTP/1.1 099 X\r\n\r\n', 'response'), [502, 'WEFT_E_HTTP1_BAD_STATUS_LINE']);
    assert.deepEqual(outcome('HTTP/1.1 600 X\r\n\r\n', 'response'), [502, 'WEFT_E_HTTP1_BAD_STATUS_LINE']);
    assert.deepEqual(outcome('HTTP/1.1  200 OK\r\n\r\n', 'response'), [502, 'WEFT_E_HTTP1_BAD_STATUS_LINE']);
    assert.deepEqual(outcome('HTTP/2 200 OK\r\n\r\n', 'response'), [502, 'WEFT_E_HTTP1_BAD_STATUS_LINE']);
    assert.deepEqual(outcome('HTTP/2.0 200 OK\r\n\r\n', 'response'), [502, 'WEFT_E_HTTP1_UNSUPPORTED_VERSION']);
    assert.deepEqual(outcome('HTTP/1.1 200 O\x00K\r\n\r\n', 'response'), [502, 'WEFT_E_HTTP1_BAD_STATUS_LINE']);
    // Empty lines are skipped only before a request-line (RFC 9112 §2.2).
    assert.deepEqual(outcome('\r\nHTTP/1.1 200 OK\r\n\r\n', 'response'), [502, 'WEFT_E_HTTP1_BAD_STATUS_LINE']);
  });
});

describe('requestAuthority (RFC 9112 §3.2.2)', () => {
  const authority = (text: string) => requestAuthority(parseHead(text));
  it('is Host for origin-form and asterisk-form', () => {
    assert.equal(authority('GET /x HTTP/1.1\r\nHost: svc.ns:8080\r\n\r\n'), 'svc.ns:8080');
    assert.equal(authority('OPTIONS * HTTP/1.1\r\nHost: svc\r\n\r\n'), 'svc');
    assert.equal(authority('GET /x HTTP/1.0\r\n\r\n'), undefined);
  });
  it('is the target for absolute-form, whatever Host says', () => {
    assert.equal(authority('GET http://real.example:81/x?y HTTP/1.1\r\nHost: other.example\r\n\r\n'), 'real.example:81');
    assert.equal(authority('GET http://real.example?y HTTP/1.1\r\nHost: other\r\n\r\n'), 'real.example');
    assert.equal(authority('GET http://[::1]:8080 HTTP/1.1\r\nHost: other\r\n\r\n'), '[::1]:8080');
    assert.equal(authority('GET urn:isbn:123 HTTP/1.1\r\nHost: other\r\n\r\n'), undefined);
    assert.equal(authority('GET http:///x HTTP/1.1\r\nHost: other\r\n\r\n'), undefined);
    assert.equal(authority('GET http://user@real.example/ HTTP/1.1\r\nHost: other\r\n\r\n'), undefined);
  });
  it('is the target for CONNECT', () => {
    assert.equal(authority('CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n'), 'db.internal:5432');
  });
});
