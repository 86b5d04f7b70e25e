// The protocol-neutral model the HTTP/1.1 transport maps to: body backpressure and ordering, header
// list rules, and the head mapping that keeps framing out of the list.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WeftError } from '../../../../agent/errors.ts';
import fc from 'fast-check';
import { BODY_HIGH_WATER, HttpBody, readBody, type BodySource } from '../../../../agent/proxy/http/body.ts';
import { HttpHeaders } from '../../../../agent/proxy/http/headers.ts';
import { HttpRequest, HttpResponse } from '../../../../agent/proxy/http/message.ts';
import { errorResponse } from '../../../../agent/proxy/http/error-response.ts';
import { CHUNKED, encodeRequestHead, encodeResponseHead, NO_BODY, requestFraming } from '../../../../agent/proxy/http1/http1-transport-head.ts';

describe('HttpBody', () => {
  it('delivers every byte in order, holds at most a high-water mark plus one chunk, and resumes a paused producer', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 5 }),
        (sizes, sinkSays, attachAfter) => {
          let producerPaused = false;
          const source: BodySource = { resume: () => (producerPaused = false), cancel: () => assert.fail('not cancelled') };
          const body = new HttpBody(undefined, source);
          const got: number[] = [];
          let sinkPaused = false;
          let ended = false;
          let turn = 0;
          const attach = (): void =>
            body.pipeTo({
              onData(chunk) {
                for (const b of chunk) got.push(b);
                const ok = sinkSays[turn++ % sinkSays.length] as boolean;
                if (!ok) sinkPaused = true;
                return ok;
              },
              onEnd: () => (ended = true),
              onError: () => assert.fail('no error'),
            });
          const sent: number[] = [];
          let i = 0;
          let steps = 0;
          // Producer and consumer take turns; the producer honours push()'s false.
          while (!ended && steps++ < 10_000) {
            if (i === attachAfter && !body.attached) attach();
            if (!producerPaused && i < sizes.length) {
              const size = sizes[i++] as number;
              const chunk = Buffer.alloc(size, i & 0xff);
              for (const b of chunk) sent.push(b);
              if (!body.push(chunk)) producerPaused = true;
              if (i === sizes.length) body.end();
            } else if (!body.attached) attach();
            else if (sinkPaused) {
              sinkPaused = false;
              body.resume();
            }
            assert.ok(body.maxBuffered <= BODY_HIGH_WATER + 40_000, `held ${body.maxBuffered}`);
          }
          assert.ok(ended, 'the body ended');
          assert.deepEqual(got, sent);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reports a producer failure to the consumer and tells the producer when the consumer gives up', async () => {
    const failed = new HttpBody(undefined);
    failed.push(Buffer.from('x'));
    failed.fail(new Error('broken'));
    await assert.rejects(readBody(failed), /broken/);

    let cancelled: unknown;
    const body = new HttpBody(10, { resume() {}, cancel: (r) => (cancelled = r) });
    body.cancel('done with it');
    assert.equal(cancelled, 'done with it');
    assert.equal(body.push(Buffer.from('late')), false);
  });

  it('from() and empty() are complete bodies of known length', async () => {
    assert.equal(HttpBody.empty().length, 0);
    const body = HttpBody.from('hello');
    assert.equal(body.length, 5);
    assert.equal((await readBody(body)).toString(), 'hello');
  });
});

describe('HttpHeaders', () => {
  it('keeps order and repeats, and refuses names or values that would forge fields', () => {
    const h = new HttpHeaders().add('a', '1').add('b', '2').add('a', '3');
    assert.deepEqual(h.getAll('a'), ['1', '3']);
    h.set('a', '4');
    assert.deepEqual(h.list, ['b', '2', 'a', '4']);
    assert.throws(() => h.add('x', 'v\r\ninjected: 1'), { code: 'WEFT_E_HTTP_BAD_FIELD' });
    assert.throws(() => h.add('X-Upper', 'v'), { code: 'WEFT_E_HTTP_BAD_FIELD' });
    assert.throws(() => h.add('bad name', 'v'), { code: 'WEFT_E_HTTP_BAD_FIELD' });
  });
});

describe('HTTP/1.1 heads from the model', () => {
  it('writes framing itself: framing and connection fields in the list never reach the wire', () => {
    const headers = new HttpHeaders(['content-length', '99', 'transfer-encoding', 'gzip', 'connection', 'x', 'host', 'evil', 'x-ok', '1']);
    const req = new HttpRequest('POST', 'http', 'svc:80', '/p', headers, HttpBody.from('abc'));
    assert.equal(requestFraming(req), 3);
    assert.equal(encodeRequestHead(req, 3).toString('latin1'), 'POST /p HTTP/1.1\r\nhost: svc:80\r\nx-ok: 1\r\ncontent-length: 3\r\n\r\n');
    const streamed = new HttpRequest('PUT', 'http', 'svc', '/', new HttpHeaders(), new HttpBody(undefined));
    assert.equal(requestFraming(streamed), CHUNKED);
    assert.equal(requestFraming(new HttpRequest('GET', 'http', 'svc', '/')), NO_BODY);
  });

  it('refuses to write a start line or Host that a rewritten method, path or authority would split', () => {
    for (const [method, path, authority] of [
      ['GET', '/a\r\nx: 1', 'svc'],
      ['GET', '/a b', 'svc'],
      ['G T', '/', 'svc'],
      ['GET', '/', 'svc\r\nx: 1'],
    ] as const) {
      assert.throws(() => encodeRequestHead(new HttpRequest(method, 'http', authority, path), NO_BODY), { code: 'WEFT_E_HTTP_BAD_REQUEST_HEAD' });
    }
    assert.equal(encodeRequestHead(new HttpRequest('GET', 'http', '[::1]:8080', '/a?b=%20'), NO_BODY).toString('latin1'), 'GET /a?b=%20 HTTP/1.1\r\nhost: [::1]:8080\r\n\r\n');
  });

  it('keeps the content-length of a bodiless answer (HEAD, 304) and drops it from a 204', () => {
    const res = new HttpResponse(304, new HttpHeaders(['content-length', '5', 'etag', '"x"']));
    assert.equal(encodeResponseHead(res, NO_BODY, undefined).toString('latin1'), 'HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\netag: "x"\r\n\r\n');
    const noContent = new HttpResponse(204, new HttpHeaders(['content-length', '5']));
    assert.equal(encodeResponseHead(noContent, NO_BODY, 'close').toString('latin1'), 'HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n');
  });
});

describe('errors from the service as responses', () => {
  it('maps rejected → 503, deadline → 504, anything else → 502, with the code in l5d-proxy-error', async () => {
    const shed = errorResponse(new WeftError('WEFT_E_RESILIENCE_LOAD_SHED', 'too busy', { flags: { rejected: true } }));
    assert.equal(shed.status, 503);
    assert.equal(shed.headers.get('l5d-proxy-error'), 'WEFT_E_RESILIENCE_LOAD_SHED');
    const late = errorResponse(new WeftError('WEFT_E_RESILIENCE_DEADLINE_EXCEEDED', 'late', { flags: { interrupted: true } }));
    assert.equal(late.status, 504);
    const reset = errorResponse(new WeftError('WEFT_E_HTTP_UPSTREAM_RESET', 'reset\r\ninjected: 1'));
    assert.equal(reset.status, 502);
    assert.doesNotMatch((await readBody(reset.body)).toString(), /\r/);
    const plain = errorResponse(new Error('boom'));
    assert.equal(plain.status, 502);
    assert.equal(plain.headers.get('l5d-proxy-error'), 'WEFT_E_HTTP_UPSTREAM');
  });
});
