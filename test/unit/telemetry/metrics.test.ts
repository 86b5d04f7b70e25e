import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentMetrics, LabelCap } from '../../../agent/telemetry/metrics.ts';
import { destinationLabels } from '../../../agent/telemetry/http-metrics-layer.ts';

const source = { namespace: 'shop', pod: 'client-0' };
const web = { namespace: 'shop', service: 'web' };
const ok = { status: 200, success: true, grpcStatus: undefined, error: undefined, latencyMs: 3 };

function metrics(params = { maxAuthorities: 500, maxSeriesPerMetric: 10_000 }): AgentMetrics {
  return new AgentMetrics({ captureCounters: () => [] }, params);
}

async function exposition(m: AgentMetrics): Promise<string> {
  return (await m.expose(undefined)).body;
}

function series(body: string, name: string): string[] {
  return body.split('\n').filter((line) => line.startsWith(`${name}{`));
}

describe('metrics: Linkerd labels', () => {
  it('request_total, response_total and response_latency_ms carry direction, authority, dst_namespace, dst_service, the source pod and tls', async () => {
    const m = metrics();
    m.http.request('shop/web:http', source, web);
    m.http.response('shop/web:http', source, { ...ok, grpcStatus: 0 }, web);
    const body = await exposition(m);
    const labels = 'direction="outbound",authority="shop/web:http",dst_namespace="shop",dst_service="web",namespace="shop",pod="client-0",tls="no_identity",no_tls_reason="not_provided_by_service_discovery"';
    assert.ok(body.includes(`request_total{${labels}} 1`), body);
    assert.ok(body.includes(`response_total{${labels},status_code="200",classification="success",grpc_status_code="0",error=""} 1`), body);
    assert.ok(body.includes(`response_latency_ms_bucket{le="5",${labels},status_code="200"} 1`), body);
  });

  it('a failure answered by weft is classified failure with its error code', async () => {
    const m = metrics();
    m.http.response('shop/web:http', source, { status: 503, success: false, grpcStatus: undefined, error: 'WEFT_E_RESILIENCE_SHED', latencyMs: 1 }, web);
    assert.match(await exposition(m), /^response_total\{[^}]*status_code="503",classification="failure",grpc_status_code="",error="WEFT_E_RESILIENCE_SHED"\} 1$/m);
  });

  it('a backend that is not a Service has empty destination labels', () => {
    assert.deepEqual(destinationLabels({ name: 'shop/web:http', namespace: 'shop' }), web);
    assert.deepEqual(destinationLabels({ name: 'shop/web:8080', namespace: 'shop' }), web);
    assert.deepEqual(destinationLabels({ name: '10.0.0.1:80', namespace: undefined }), { namespace: '', service: '' });
    assert.deepEqual(destinationLabels({ name: 'dns/api.example.com:443', namespace: undefined }), { namespace: '', service: '' });
  });
});

describe('metrics: bounded cardinality', () => {
  it('LabelCap admits up to its limit, then only keys it holds', () => {
    const cap = new LabelCap(2);
    assert.equal(cap.admit('a'), true);
    assert.equal(cap.admit('b'), true);
    assert.equal(cap.admit('c'), false);
    assert.equal(cap.admit('a'), true);
    assert.equal(cap.size, 2);
  });

  it('authorities past the cap are written as "overflow" (with overflow destinations) and counted', async () => {
    const m = metrics({ maxAuthorities: 3, maxSeriesPerMetric: 10_000 });
    for (let i = 0; i < 50; i++) {
      const dst = { namespace: 'shop', service: `svc-${i}` };
      m.http.request(`shop/svc-${i}:80`, source, dst);
      m.http.response(`shop/svc-${i}:80`, source, ok, dst);
    }
    const body = await exposition(m);
    const requests = series(body, 'request_total');
    assert.equal(requests.length, 4, requests.join('\n'));
    assert.ok(requests.some((line) => line.includes('authority="overflow",dst_namespace="overflow",dst_service="overflow"') && line.endsWith(' 47')), requests.join('\n'));
    assert.ok(body.includes('weft_metrics_label_overflow_total{metric="request_total",label="authority"} 47'), body);
    assert.ok(body.includes('weft_metrics_label_overflow_total{metric="response_total",label="authority"} 47'), body);
  });

  it('label sets past the per-metric cap collapse authority, destination and source to "overflow"', async () => {
    const m = metrics({ maxAuthorities: 1000, maxSeriesPerMetric: 5 });
    for (let i = 0; i < 40; i++) m.http.request('shop/web:http', { namespace: 'shop', pod: `client-${i}` }, web);
    const body = await exposition(m);
    const requests = series(body, 'request_total');
    assert.equal(requests.length, 6, requests.join('\n'));
    assert.ok(requests.some((line) => line.includes('authority="overflow"') && line.includes('pod="overflow"') && line.endsWith(' 35')), requests.join('\n'));
    assert.ok(body.includes('weft_metrics_label_overflow_total{metric="request_total",label="series"} 35'), body);
  });

  it('a pod that left is forgotten: its series are gone and its room under the cap is free again', async () => {
    const m = metrics({ maxAuthorities: 1000, maxSeriesPerMetric: 3 });
    for (let i = 0; i < 3; i++) {
      const pod = { namespace: 'shop', pod: `client-${i}` };
      m.http.request('shop/web:http', pod, web);
      m.http.response('shop/web:http', pod, ok, web);
      m.connection(pod, { client: '', destination: '', route: 'shop/web:http', upstream: undefined, outcome: 'closed', error: undefined, clientBytes: 1, upstreamBytes: 1, durationMs: 1 });
    }
    await m.forgetSource({ namespace: 'shop', pod: 'client-0' });
    let body = await exposition(m);
    assert.doesNotMatch(body, /pod="client-0"/);
    assert.doesNotMatch(body, /source_pod="client-0"/);
    assert.match(body, /^response_latency_ms_count\{[^}]*pod="client-1"[^}]*\} 1$/m, 'other pods keep theirs');
    m.http.request('shop/web:http', { namespace: 'shop', pod: 'client-9' }, web);
    body = await exposition(m);
    assert.match(body, /^request_total\{[^}]*pod="client-9"[^}]*\} 1$/m, 'the new pod fits where the old one was');
    assert.doesNotMatch(body, /label="series"/);
  });

  it('the retry, shed and breaker counters share the authority cap', async () => {
    const m = metrics({ maxAuthorities: 1, maxSeriesPerMetric: 10 });
    m.http.shed('a', 'route');
    m.http.shed('b', 'route');
    m.http.retry('c', 'retried', '503');
    const body = await exposition(m);
    assert.ok(body.includes('weft_load_shed_total{authority="a",scope="route"} 1'));
    assert.ok(body.includes('weft_load_shed_total{authority="overflow",scope="route"} 1'));
    assert.ok(body.includes('weft_retries_total{authority="overflow",outcome="retried",reason="503"} 1'));
  });

  it('counts spans the exporter dropped, and discovery staleness by reason', async () => {
    const m = new AgentMetrics({ captureCounters: () => [] });
    m.spansDropped('queue-full', 3);
    m.discovery.stale('file:/x', [{ service: 'shop/web:http', since: '2026-01-01T00:00:00.000Z', ageMs: 5, reason: 'empty-unconfirmed', served: 2, answered: 0 }]);
    m.discovery.sourceError('file:/x', 'WEFT_E_DISCOVERY_PARSE');
    const { body } = await m.expose(undefined);
    assert.ok(body.includes('weft_trace_spans_dropped_total{reason="queue-full"} 3'), body);
    assert.ok(body.includes('weft_discovery_stale_services{source="file:/x",reason="empty-unconfirmed"} 1'));
    assert.ok(body.includes('weft_discovery_stale_services{source="file:/x",reason="source-error"} 0'));
    assert.ok(body.includes('weft_discovery_stale_since_seconds{source="file:/x",service="shop/web:http",reason="empty-unconfirmed"} 1767225600'));
    assert.ok(body.includes('weft_discovery_source_errors_total{source="file:/x",code="WEFT_E_DISCOVERY_PARSE"} 1'));
  });
});
