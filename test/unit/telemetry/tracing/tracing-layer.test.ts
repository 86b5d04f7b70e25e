import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { WeftError } from '../../../../agent/errors.ts';
import { HttpHeaders } from '../../../../agent/proxy/http/headers.ts';
import { HttpRequest, HttpResponse } from '../../../../agent/proxy/http/message.ts';
import type { CallContext, Service } from '../../../../agent/stack/service.ts';
import type { FinishedSpan } from '../../../../agent/telemetry/tracing/span.ts';
import type { IdGenerator } from '../../../../agent/telemetry/tracing/trace-context.ts';
import { spanContextOf, traceIdOf, traceIdOfError, tracingLayer } from '../../../../agent/telemetry/tracing/tracing-layer.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER = '00f067aa0ba902b7';

/** Ids counting up, so a test knows which span id the proxy took. */
function countingIds(): IdGenerator {
  let n = 0;
  return {
    traceId: () => (++n).toString(16).padStart(32, 'e'),
    spanId: () => (++n).toString(16).padStart(16, 'a'),
  };
}

function setup(options: { sampleRatio?: number; random?: number; inner?: (req: HttpRequest) => Promise<HttpResponse> } = {}) {
  const spans: FinishedSpan[] = [];
  const seen: HttpRequest[] = [];
  let now = 1_000_000_000n;
  const inner: Service<HttpRequest, HttpResponse> = {
    call: (req) => {
      seen.push(req);
      now += 5_000_000n;
      return options.inner?.(req) ?? Promise.resolve(new HttpResponse(200));
    },
  };
  const layer = tracingLayer({ sampleRatio: options.sampleRatio ?? 1 }, {
    route: 'shop/web:http', random: () => options.random ?? 0, sink: { add: (s) => spans.push(s) }, ids: countingIds(), nowNs: () => now,
  });
  return { service: layer.wrap(inner), spans, seen, role: layer.role };
}

const cx = (): CallContext => ({ deadline: undefined, signal: new AbortController().signal });
const request = (...fields: string[]): HttpRequest => new HttpRequest('GET', 'http', 'web.shop:8080', '/cart?id=7', new HttpHeaders(fields));

describe('tracing layer', () => {
  it('continues a W3C trace: same trace id downstream, the proxy span as parent, a client span recorded', async () => {
    const { service, spans, seen } = setup();
    const req = request('traceparent', `00-${TRACE}-${CALLER}-01`, 'tracestate', 'rojo=1');
    await service.call(req, cx());
    const proxySpan = spanContextOf(req)?.spanId ?? '';
    assert.equal(seen[0]?.headers.get('traceparent'), `00-${TRACE}-${proxySpan}-01`);
    assert.equal(seen[0]?.headers.get('tracestate'), 'rojo=1');
    assert.equal(seen[0]?.headers.has('b3'), false, 'W3C in, W3C out only');
    const span = spans[0];
    assert.equal(span?.context.traceId, TRACE);
    assert.equal(span?.parentSpanId, CALLER);
    assert.equal(span?.kind, 'client');
    assert.equal(span?.name, 'GET shop/web:http');
    assert.equal(span?.endNs, 1_005_000_000n);
    assert.deepEqual(span?.attributes, {
      'http.request.method': 'GET', 'url.scheme': 'http', 'url.path': '/cart', 'server.address': 'web.shop', 'server.port': 8080,
      'network.protocol.version': '1.1', 'weft.route': 'shop/web:http', 'http.response.status_code': 200,
    });
    assert.deepEqual(span?.status, { code: 'unset' });
    assert.equal(traceIdOf(req), TRACE);
  });

  it('starts a new trace (W3C) for a request without context, or with a malformed traceparent', async () => {
    const { service, spans, seen } = setup();
    await service.call(request(), cx());
    await service.call(request('traceparent', '00-nonsense'), cx());
    for (const [i, span] of spans.entries()) {
      assert.equal(span.parentSpanId, undefined);
      assert.notEqual(span.context.traceId, TRACE);
      assert.equal(seen[i]?.headers.get('traceparent'), `00-${span.context.traceId}-${span.context.spanId}-01`);
    }
    assert.notEqual(spans[0]?.context.traceId, spans[1]?.context.traceId);
  });

  it('continues B3 single and multi in their own format, with the caller as parent span', async () => {
    const { service, seen, spans } = setup();
    await service.call(request('b3', `${TRACE}-${CALLER}-1`), cx());
    const single = spans[0]?.context.spanId;
    assert.equal(seen[0]?.headers.get('b3'), `${TRACE}-${single}-1-${CALLER}`);
    assert.equal(seen[0]?.headers.has('traceparent'), false);
    await service.call(request('x-b3-traceid', TRACE, 'x-b3-spanid', CALLER, 'x-b3-sampled', '1'), cx());
    const multi = spans[1]?.context.spanId ?? '';
    assert.deepEqual([seen[1]?.headers.get('x-b3-traceid'), seen[1]?.headers.get('x-b3-spanid'), seen[1]?.headers.get('x-b3-parentspanid'), seen[1]?.headers.get('x-b3-sampled')], [TRACE, multi, CALLER, '1']);
    assert.equal(seen[1]?.headers.has('b3') || seen[1]?.headers.has('traceparent'), false);
    assert.equal(spans[1]?.parentSpanId, CALLER);
  });

  it('keeps a caller\'s "not sampled": propagated, no span', async () => {
    const { service, spans, seen } = setup({ sampleRatio: 1 });
    await service.call(request('traceparent', `00-${TRACE}-${CALLER}-00`), cx());
    assert.equal(spans.length, 0);
    assert.match(seen[0]?.headers.get('traceparent') ?? '', new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
  });

  it('samples new traces at the ratio, and a B3 caller that deferred the decision likewise', async () => {
    const never = setup({ sampleRatio: 0.1, random: 0.5 });
    await never.service.call(request(), cx());
    await never.service.call(request('b3', `${TRACE}-${CALLER}`), cx());
    assert.equal(never.spans.length, 0);
    assert.match(never.seen[0]?.headers.get('traceparent') ?? '', /-00$/);
    assert.match(never.seen[1]?.headers.get('b3') ?? '', new RegExp(`^${TRACE}-[0-9a-f]{16}-0-${CALLER}$`));
    const always = setup({ sampleRatio: 0.1, random: 0.05 });
    await always.service.call(request(), cx());
    assert.equal(always.spans.length, 1);
  });

  it('marks 5xx and non-OK gRPC as errors with error.type', async () => {
    const { service, spans } = setup({
      inner: (req) => {
        const res = new HttpResponse(req.path.startsWith('/grpc') ? 200 : 503);
        if (req.path.startsWith('/grpc')) res.headers.add('grpc-status', '14');
        return Promise.resolve(res);
      },
    });
    await service.call(request(), cx());
    await service.call(new HttpRequest('POST', 'http', 'svc', '/grpc.Svc/M', new HttpHeaders()), cx());
    assert.deepEqual(spans[0]?.status, { code: 'error', message: 'HTTP 503' });
    assert.equal(spans[0]?.attributes['error.type'], '503');
    assert.equal(spans[1]?.attributes['rpc.grpc.status_code'], 14);
    assert.equal(spans[1]?.status.code, 'error');
  });

  it('ends the span on a failure with the status weft answers, and tags the error with the trace id', async () => {
    const failure = new WeftError('WEFT_E_DEADLINE', 'deadline passed');
    const { service, spans } = setup({ inner: () => Promise.reject(failure) });
    const req = request('traceparent', `00-${TRACE}-${CALLER}-01`);
    await assert.rejects(service.call(req, cx()), failure);
    assert.equal(spans[0]?.attributes['http.response.status_code'], 504);
    assert.equal(spans[0]?.attributes['error.type'], 'WEFT_E_DEADLINE');
    assert.deepEqual(spans[0]?.status, { code: 'error', message: 'deadline passed' });
    assert.equal(traceIdOfError(failure), TRACE);
  });

  it('publishes finished spans on weft:tracing:span', async () => {
    const got: unknown[] = [];
    const listener = (message: unknown): void => void got.push(message);
    subscribe('weft:tracing:span', listener);
    try {
      const { service, spans } = setup();
      await service.call(request(), cx());
      assert.equal(got[0], spans[0]);
    } finally {
      unsubscribe('weft:tracing:span', listener);
    }
  });

  it('says what it does in its role', () => {
    assert.match(setup().role, /^tracing \(W3C \+ B3, sample 1, spans to OTLP\)$/);
  });
});
