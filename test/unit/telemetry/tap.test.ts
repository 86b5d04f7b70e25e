import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HttpHeaders } from '../../../agent/proxy/http/headers.ts';
import { parseTapFilter, responseChannel, TapSubscription, tapMatches, traceIdOf } from '../../../agent/telemetry/tap.ts';
import type { ProxyResponseEvent, TapFilter } from '../../../agent/telemetry/tap.ts';

function event(over: Partial<ProxyResponseEvent> = {}): ProxyResponseEvent {
  return {
    id: 1, time: '2026-11-23T00:00:00.000Z', source: 'shop/client-0', authority: 'web.shop:80', route: 'shop/web:http', dstNamespace: 'shop', dstService: 'web',
    method: 'GET', path: '/api/items?x=1', protocol: 'HTTP/1.1', traceId: undefined, status: 200, grpcStatus: undefined, classification: 'success',
    durationMs: 3, upstream: '10.0.0.5:8080', error: undefined, ...over,
  };
}

function filter(query: string): TapFilter {
  const parsed = parseTapFilter(new URLSearchParams(query));
  assert.equal(parsed.kind, 'ok', parsed.kind === 'error' ? parsed.reason : '');
  return parsed.kind === 'ok' ? parsed.filter : {};
}

function headers(pairs: Record<string, string>): HttpHeaders {
  const h = new HttpHeaders();
  for (const [name, value] of Object.entries(pairs)) h.set(name, value);
  return h;
}

describe('tap: trace id', () => {
  it('reads the W3C traceparent trace id, then b3 single, then x-b3-traceid', () => {
    assert.equal(traceIdOf(headers({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })), '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(traceIdOf(headers({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' })), '80f198ee56343ba864fe8b2a57d3eff7');
    assert.equal(traceIdOf(headers({ 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312' })), '463ac35c9f6413ad');
  });

  it('ignores malformed and all-zero ids, and version ff', () => {
    assert.equal(traceIdOf(headers({ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' })), undefined);
    assert.equal(traceIdOf(headers({ traceparent: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })), undefined);
    assert.equal(traceIdOf(headers({ traceparent: '00-xyz-00f067aa0ba902b7-01' })), undefined);
    assert.equal(traceIdOf(headers({ b3: '0' })), undefined);
    assert.equal(traceIdOf(new HttpHeaders()), undefined);
  });

  it('never throws and returns only lowercase hex of 16 or 32 digits (property)', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => {
      const id = traceIdOf(headers({ traceparent: a, b3: b }));
      return id === undefined || /^([0-9a-f]{16}|[0-9a-f]{32})$/.test(id);
    }));
  });
});

describe('tap: filters', () => {
  it('matches on authority (Host, Host without port, or route), method, path prefix, status code or class, and source pod or namespace', () => {
    assert.ok(tapMatches(filter('authority=web.shop:80'), event()));
    assert.ok(tapMatches(filter('authority=web.shop'), event()));
    assert.ok(tapMatches(filter('authority=shop/web:http'), event()));
    assert.ok(!tapMatches(filter('authority=other'), event()));
    assert.ok(tapMatches(filter('method=get'), event()));
    assert.ok(!tapMatches(filter('method=POST'), event()));
    assert.ok(tapMatches(filter('path=/api'), event()));
    assert.ok(!tapMatches(filter('path=/admin'), event()));
    assert.ok(tapMatches(filter('status=5xx'), event({ status: 503 })));
    assert.ok(!tapMatches(filter('status=5xx'), event()));
    assert.ok(tapMatches(filter('status=200'), event()));
    assert.ok(tapMatches(filter('source=shop/client-0'), event()));
    assert.ok(tapMatches(filter('source=shop'), event()));
    assert.ok(!tapMatches(filter('source=shop/client-1'), event()));
    assert.ok(!tapMatches(filter('source=sho'), event()));
  });

  for (const [query, reason] of [
    ['status=6xx', /status must be a code \(503\) or a class \(5xx\)/],
    ['status=abc', /status must be/],
    ['method=G E T', /method must be an HTTP method/],
    ['path=api', /path must be a prefix starting with "\/"/],
    ['source=Shop/Client', /source must be namespace\/pod or namespace/],
    ['max=0', /max must be a whole number from 1/],
    ['max=-3', /max must be a whole number/],
    ['verb=GET', /unknown filter "verb"/],
    ['method=GET&method=PUT', /method is given twice/],
    ['authority=', /authority is empty/],
  ] as const) {
    it(`a bad filter (${query}) is refused with the reason`, () => {
      const parsed = parseTapFilter(new URLSearchParams(query));
      assert.equal(parsed.kind, 'error');
      if (parsed.kind === 'error') assert.match(parsed.reason, reason);
    });
  }
});

describe('tap: subscription', () => {
  it('buffers matching events up to its bound and counts the ones that found it full', () => {
    const sub = new TapSubscription(filter('status=5xx'), { buffer: 3 });
    try {
      for (let i = 0; i < 10; i++) responseChannel.publish(event({ id: i, status: i % 2 === 0 ? 503 : 200 }));
      assert.equal(sub.dropped, 2);
      assert.deepEqual(sub.take().map((e) => e.id), [0, 2, 4]);
    } finally {
      sub.close();
    }
    assert.equal(responseChannel.hasSubscribers, false, 'closing unsubscribes');
  });

  it('stops listening once max events matched', () => {
    const sub = new TapSubscription(filter('max=2'));
    for (let i = 0; i < 5; i++) responseChannel.publish(event({ id: i }));
    assert.equal(sub.done, true);
    assert.equal(responseChannel.hasSubscribers, false, 'no cost to the request path after max');
    assert.deepEqual(sub.take().map((e) => e.id), [0, 1]);
    sub.close();
  });
});
