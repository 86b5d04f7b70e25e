// Tracing through the real route stack on real sockets: a client sends requests with (or without)
// trace context to a proxy listener, the upstream records the headers it got, and a receiver
// standing in for the OpenTelemetry collector decodes the spans the exporter posts.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { systemRandom } from '../../../agent/balance/random.ts';
import type { EndpointTarget } from '../../../agent/proxy/endpoint-client.ts';
import { connectTarget, targetKey } from '../../../agent/proxy/endpoint-client.ts';
import type { HttpRequest, HttpResponse } from '../../../agent/proxy/http/message.ts';
import { Http1Pool, http1PoolParams } from '../../../agent/proxy/http1/pool.ts';
import { http1ServerParams, serveHttp1 } from '../../../agent/proxy/http1/server-connection.ts';
import { httpRouteParams, OutboundHttpRoutes } from '../../../agent/proxy/outbound-http.ts';
import type { Service } from '../../../agent/stack/service.ts';
import type { OtlpExporterParams } from '../../../agent/telemetry/tracing/otlp-exporter.ts';
import { otlpExporterParams, OtlpHttpExporter } from '../../../agent/telemetry/tracing/otlp-exporter.ts';
import { systemClock } from '../../../agent/time/clock.ts';
import { OtlpReceiver } from '../../support/otlp-receiver.ts';
import type { Upstream } from '../proxy/outbound/harness.ts';
import { AUTHORITY, Cleanups, closedPort, hostOrigin, ok, RecordingMetrics, send, waitFor } from '../proxy/outbound/harness.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER = '00f067aa0ba902b7';
const resource = { attributes: { 'service.name': 'weft' }, scope: { name: 'weft', version: 'test' } };

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

/** The outbound wiring with tracing on, behind one listener (as ProxyUnderTest, plus an exporter). */
async function tracedProxy(upstream: Upstream, exporterParams: Partial<OtlpExporterParams> & { endpoint: string }, sampleRatio = 1): Promise<{ port: number; exporter: OtlpHttpExporter }> {
  const exporter = new OtlpHttpExporter({ ...otlpExporterParams, flushIntervalMs: 60_000, ...exporterParams }, { clock: systemClock, random: systemRandom, resource });
  const pool = new Http1Pool<EndpointTarget>(http1PoolParams, { connector: connectTarget, keyOf: targetKey });
  const routes = new OutboundHttpRoutes(httpRouteParams, {
    clock: systemClock, random: systemRandom, wallClock: Date.now, metrics: new RecordingMetrics(), pools: { http1: pool, http2: pool },
    tracing: { params: { sampleRatio }, deps: { random: systemRandom, sink: exporter } },
  });
  const route = routes.route(AUTHORITY, [upstream.endpoint]);
  const origin = hostOrigin();
  const entry: Service<HttpRequest, HttpResponse> = { call: (req, cx) => { req.origin = origin; return route.call(req, cx); } };
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveHttp1(socket, entry, http1ServerParams);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.add(async () => {
    for (const s of sockets) s.destroy();
    await routes.close();
    pool.destroy();
    await exporter.close(100);
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, exporter };
}

async function receiver(): Promise<OtlpReceiver> {
  const r = await new OtlpReceiver().start();
  cleanups.add(() => r.close());
  return r;
}

describe('tracing through the route stack', () => {
  it('continues a W3C trace: upstream gets the same trace id with the proxy span as parent, and the collector gets that span', async () => {
    const collector = await receiver();
    const upstream = await cleanups.upstream(ok());
    const { port, exporter } = await tracedProxy(upstream, { endpoint: collector.url });
    const res = await send(port, { path: '/cart?id=7', headers: { host: 'web.shop:8080', traceparent: `00-${TRACE}-${CALLER}-01`, tracestate: 'rojo=00f067aa0ba902b7' } });
    assert.equal(res.status, 200);
    const sent = upstream.seen[0]?.headers;
    const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(sent?.traceparent));
    assert.ok(match, String(sent?.traceparent));
    assert.equal(match[1], TRACE);
    const proxySpan = match[2];
    assert.notEqual(proxySpan, CALLER);
    assert.equal(sent?.tracestate, 'rojo=00f067aa0ba902b7');
    await exporter.flush();
    const [span] = collector.spans;
    assert.equal(collector.spans.length, 1);
    assert.deepEqual([span?.traceId, span?.spanId, span?.parentSpanId, span?.traceState, span?.flags], [TRACE, proxySpan, CALLER, 'rojo=00f067aa0ba902b7', 1]);
    assert.equal(span?.kind, 3, 'client span');
    assert.equal(span?.status.code, 0);
    assert.ok(span !== undefined && span.endNs >= span.startNs);
    assert.deepEqual(
      [span?.attributes['http.request.method'], span?.attributes['url.path'], span?.attributes['server.address'], span?.attributes['server.port'], span?.attributes['weft.route'], span?.attributes['http.response.status_code'], span?.attributes['weft.source']],
      ['GET', '/cart', 'web.shop', 8080, AUTHORITY, 200, 'default/client-0'],
    );
    assert.equal(collector.posts[0]?.contentType, 'application/x-protobuf');
  });

  it('continues B3 single in b3 and B3 multi in x-b3-*, each span parented on the caller', async () => {
    const collector = await receiver();
    const upstream = await cleanups.upstream(ok());
    const { port, exporter } = await tracedProxy(upstream, { endpoint: collector.url });
    await send(port, { headers: { b3: `${TRACE}-${CALLER}-1` } });
    await send(port, { headers: { 'X-B3-TraceId': TRACE, 'X-B3-SpanId': CALLER, 'X-B3-Sampled': '1' } });
    await exporter.flush();
    const [single, multi] = collector.spans;
    const [h1, h2] = upstream.seen.map((s) => s.headers);
    assert.equal(h1?.b3, `${TRACE}-${single?.spanId}-1-${CALLER}`);
    assert.equal(h1?.traceparent, undefined);
    assert.deepEqual([h2?.['x-b3-traceid'], h2?.['x-b3-spanid'], h2?.['x-b3-parentspanid'], h2?.['x-b3-sampled']], [TRACE, multi?.spanId, CALLER, '1']);
    assert.equal(h2?.b3, undefined);
    for (const span of [single, multi]) assert.deepEqual([span?.traceId, span?.parentSpanId], [TRACE, CALLER]);
  });

  it('starts a new trace for a request without context (W3C downstream, a root span)', async () => {
    const collector = await receiver();
    const upstream = await cleanups.upstream(ok());
    const { port, exporter } = await tracedProxy(upstream, { endpoint: collector.url });
    await send(port);
    await send(port, { headers: { traceparent: 'not-a-traceparent' } });
    await exporter.flush();
    assert.equal(collector.spans.length, 2);
    for (const [i, span] of collector.spans.entries()) {
      assert.equal(span.parentSpanId, '');
      assert.equal(upstream.seen[i]?.headers.traceparent, `00-${span.traceId}-${span.spanId}-01`);
    }
    assert.notEqual(collector.spans[0]?.traceId, collector.spans[1]?.traceId);
  });

  it('request log events (tap, access log) carry the proxy span\'s trace id, a new trace\'s included', async () => {
    const collector = await receiver();
    const upstream = await cleanups.upstream(ok());
    const { port, exporter } = await tracedProxy(upstream, { endpoint: collector.url });
    const events: Array<{ traceId: string | undefined }> = [];
    const listener = (message: unknown): void => void events.push(message as { traceId: string | undefined });
    subscribe('weft:proxy:response', listener);
    try {
      await send(port);
      await send(port, { headers: { b3: `${TRACE}-${CALLER}-1` } });
    } finally {
      unsubscribe('weft:proxy:response', listener);
    }
    await exporter.flush();
    assert.deepEqual(events.map((e) => e.traceId), collector.spans.map((s) => s.traceId));
    assert.equal(events[1]?.traceId, TRACE);
  });

  it('records an upstream 503 as an error span with the status', async () => {
    const collector = await receiver();
    const upstream = await cleanups.upstream(ok(503, 'down'));
    const { port, exporter } = await tracedProxy(upstream, { endpoint: collector.url });
    const res = await send(port, { method: 'POST', body: 'x' });
    assert.equal(res.status, 503);
    await exporter.flush();
    const [span] = collector.spans;
    assert.equal(span?.attributes['http.response.status_code'], 503);
    assert.equal(span?.status.code, 2);
  });

  it('batches: 30 requests reach the collector in 3 posts of 10', async () => {
    const collector = await receiver();
    const upstream = await cleanups.upstream(ok());
    const { port, exporter } = await tracedProxy(upstream, { endpoint: collector.url, batchSize: 10 });
    for (let i = 0; i < 30; i++) await send(port);
    await exporter.flush();
    assert.equal(collector.spans.length, 30);
    assert.deepEqual(collector.posts.map((p) => p.spans.length), [10, 10, 10]);
  });

  it('a dead collector (port closed) does not slow requests; the spans it never got are counted', async () => {
    const dead = await closedPort();
    const upstream = await cleanups.upstream(ok());
    const { port, exporter } = await tracedProxy(upstream, { endpoint: `http://127.0.0.1:${dead.port}`, batchSize: 5, minBackoffMs: 10 });
    const started = performance.now();
    const statuses = await Promise.all(Array.from({ length: 40 }, () => send(port).then((r) => r.status)));
    const elapsed = performance.now() - started;
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.ok(elapsed < 3000, `40 requests took ${Math.round(elapsed)} ms`);
    await waitFor(() => exporter.status().dropped['export-failed'] > 0, 'a failed export counted');
    assert.match(exporter.status().lastError ?? '', /ECONNREFUSED/);
  });

  it('a collector that never answers does not slow requests; a full queue drops spans and counts them', async () => {
    const collector = await receiver();
    collector.mode = { kind: 'never' };
    const upstream = await cleanups.upstream(ok());
    const { port, exporter } = await tracedProxy(upstream, { endpoint: collector.url, batchSize: 5, queueSize: 10, exportTimeoutMs: 30_000 });
    const latencies: number[] = [];
    for (let i = 0; i < 60; i++) {
      const t = performance.now();
      const res = await send(port);
      latencies.push(performance.now() - t);
      assert.equal(res.status, 200);
    }
    await waitFor(() => collector.requests >= 1, 'an export hanging at the collector');
    const status = exporter.status();
    // One batch of 5 hangs at the collector, 10 wait in the queue, the rest were dropped.
    assert.equal(status.dropped['queue-full'], 60 - 5 - 10);
    assert.equal(status.queued, 10);
    const worst = Math.max(...latencies);
    assert.ok(worst < 1000, `slowest request ${Math.round(worst)} ms while the collector hangs`);
  });
});
