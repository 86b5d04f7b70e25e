// Header mapping and params of the HTTP/2 transport (pure functions; kept beside the transport's
// stack tests because this change owns only test/stack/proxy/http2).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HttpBody } from '../../../../agent/proxy/http/body.ts';
import { HttpHeaders } from '../../../../agent/proxy/http/headers.ts';
import { HttpRequest, HttpResponse } from '../../../../agent/proxy/http/message.ts';
import { requestFields, requestHeadOf, responseFields, responseHeadersOf, trailerObject } from '../../../../agent/proxy/http2/fields.ts';
import { http2PoolParams, http2ServerParams, validateHttp2PoolParams, validateHttp2ServerParams } from '../../../../agent/proxy/http2/params.ts';

const DROPPED = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'content-length'];

describe('http2 fields', () => {
  it('a request head: pseudo-headers to fields, host as authority fallback, connection-specific fields and te other than trailers dropped', () => {
    const head = requestHeadOf(
      [':method', 'POST', ':scheme', 'http', ':path', '/p', 'host', 'h.example', 'te', 'trailers', 'connection', 'x', 'keep-alive', '1', 'content-length', '3', 'x-a', '1'],
      'http',
      65_536,
    );
    assert.equal(head.status, undefined);
    if (head.status !== undefined) return;
    assert.equal(head.authority, 'h.example');
    assert.equal(head.length, 3);
    assert.deepEqual(head.headers.list, ['te', 'trailers', 'x-a', '1']);
    const gzip = requestHeadOf([':method', 'GET', ':path', '/', ':authority', 'a', 'te', 'gzip'], 'http', 65_536);
    assert.ok(gzip.status === undefined && !gzip.headers.has('te'));
  });

  it('refuses CONNECT (501), a head without :path (400) and a header list over the limit (431)', () => {
    assert.equal(requestHeadOf([':method', 'CONNECT', ':authority', 'a:443'], 'http', 65_536).status, 501);
    assert.equal(requestHeadOf([':method', 'GET', ':authority', 'a'], 'http', 65_536).status, 400);
    assert.equal(requestHeadOf([':method', 'GET', ':path', '/', ':authority', 'a', 'x', 'y'.repeat(70_000)], 'http', 65_536).status, 431);
  });

  it('outgoing heads never carry connection-specific fields, whatever a layer added (property)', () => {
    const name = fc.oneof(fc.constantFrom(...DROPPED, 'te', 'x-a', 'grpc-status'), fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/));
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.stringMatching(/^[ -~]{0,12}$/)), { maxLength: 12 }), (fields) => {
        const headers = new HttpHeaders(fields.flat());
        const req = new HttpRequest('GET', 'http', 'a', '/', headers, HttpBody.empty());
        const res = new HttpResponse(200, new HttpHeaders(fields.flat()), HttpBody.from('x'));
        for (const out of [requestFields(req).slice(8), responseFields(res, false).slice(2)]) {
          for (let i = 0; i < out.length; i += 2) {
            const n = out[i] as string;
            if (n === 'content-length') continue; // written by the transport from the body's length
            assert.ok(!DROPPED.includes(n), n);
            assert.ok(!n.startsWith(':'), n);
            if (n === 'te') assert.equal(out[i + 1]?.trim().toLowerCase(), 'trailers');
          }
        }
        const trailers = trailerObject(new HttpHeaders(fields.flat()));
        for (const n of Object.keys(trailers)) assert.ok(!DROPPED.includes(n) && !n.startsWith(':'), n);
      }),
    );
  });

  it('a bodiless response keeps its content-length; others give it to the body', () => {
    assert.deepEqual(responseHeadersOf([':status', '200', 'content-length', '5'], true).headers.list, ['content-length', '5']);
    const body = responseHeadersOf([':status', '200', 'content-length', '5'], false);
    assert.equal(body.length, 5);
    assert.equal(body.headers.size, 0);
  });
});

describe('http2 params', () => {
  it('the defaults are valid; zero, fractions, NaN and oversized SETTINGS values are refused', () => {
    validateHttp2ServerParams(http2ServerParams);
    validateHttp2PoolParams(http2PoolParams);
    for (const bad of [0, 1.5, Number.NaN, -1]) {
      assert.throws(() => validateHttp2ServerParams({ ...http2ServerParams, maxConcurrentStreams: bad }), /WEFT_E_HTTP2_PARAMS|maxConcurrentStreams/);
      assert.throws(() => validateHttp2PoolParams({ ...http2PoolParams, idleTimeoutMs: bad }), /idleTimeoutMs/);
    }
    assert.throws(() => validateHttp2ServerParams({ ...http2ServerParams, maxHeaderListSize: 2 ** 32 }), /SETTINGS/);
  });
});
