import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { OtlpExporterParams } from '../../../../agent/telemetry/tracing/otlp-exporter.ts';
import { otlpExporterParams, OtlpHttpExporter, tracesUrl } from '../../../../agent/telemetry/tracing/otlp-exporter.ts';
import type { FinishedSpan } from '../../../../agent/telemetry/tracing/span.ts';
import { systemClock } from '../../../../agent/time/clock.ts';
import { closedPort, waitFor } from '../../../stack/proxy/outbound/harness.ts';
import { OtlpReceiver } from '../../../support/otlp-receiver.ts';

const resource = { attributes: { 'service.name': 'weft', 'host.name': 'node-a' }, scope: { name: 'weft', version: '0.1.0' } };

function span(i: number): FinishedSpan {
  const n = (i + 1).toString(16).padStart(16, '0');
  return {
    context: { traceId: `${'ab'.repeat(8)}${n}`, spanId: n, sampled: true, debug: false, traceState: undefined },
    parentSpanId: i % 2 === 0 ? undefined : 'cd'.repeat(8),
    name: `GET route-${i}`, kind: 'client',
    startNs: 1_763_900_000_123_456_789n + BigInt(i), endNs: 1_763_900_000_223_456_789n + BigInt(i),
    attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200, ratio: 0.5, ok: true },
    status: { code: 'unset' },
  };
}

const exporters: OtlpHttpExporter[] = [];
const receivers: OtlpReceiver[] = [];

async function setup(over: Partial<OtlpExporterParams> = {}, endpoint?: string): Promise<{ exporter: OtlpHttpExporter; receiver: OtlpReceiver; drops: string[] }> {
  const receiver = await new OtlpReceiver().start();
  receivers.push(receiver);
  const drops: string[] = [];
  const exporter = new OtlpHttpExporter({ ...otlpExporterParams, flushIntervalMs: 60_000, endpoint: endpoint ?? receiver.url, ...over }, {
    clock: systemClock, random: () => 0.5, resource, onDrop: (reason, count) => drops.push(`${reason} ${count}`),
  });
  exporters.push(exporter);
  return { exporter, receiver, drops };
}

afterEach(async () => {
  for (const e of exporters.splice(0)) await e.close(100);
  for (const r of receivers.splice(0)) await r.close();
});

describe('OTLP/HTTP exporter', () => {
  it('posts protobuf to <endpoint>/v1/traces, and the receiver decodes every field back', async () => {
    const { exporter, receiver } = await setup();
    exporter.add(span(0));
    exporter.add(span(1));
    await exporter.flush();
    assert.equal(receiver.posts.length, 1);
    const post = receiver.posts[0];
    assert.equal(post?.path, '/v1/traces');
    assert.equal(post?.contentType, 'application/x-protobuf');
    const [a, b] = receiver.spans;
    assert.equal(a?.traceId, `${'ab'.repeat(8)}0000000000000001`);
    assert.equal(a?.parentSpanId, '');
    assert.equal(b?.parentSpanId, 'cd'.repeat(8));
    assert.equal(a?.startNs, 1_763_900_000_123_456_789n, 'nanoseconds exact past 2^53');
    assert.equal(a?.kind, 3);
    assert.deepEqual(a?.attributes, { 'http.request.method': 'GET', 'http.response.status_code': 200, ratio: 0.5, ok: true });
    assert.deepEqual(a?.resource, resource.attributes);
    assert.deepEqual(a?.scope, resource.scope);
    assert.equal(exporter.status().exportedSpans, 2);
  });

  it('batches: 10 spans with batches of 4 go in 3 posts (two full ones at once, the rest at flush)', async () => {
    const { exporter, receiver } = await setup({ batchSize: 4 });
    for (let i = 0; i < 10; i++) exporter.add(span(i));
    await waitFor(() => receiver.posts.length >= 2, 'the two full batches, without a flush');
    assert.deepEqual(receiver.posts.map((p) => p.spans.length), [4, 4]);
    await exporter.flush();
    assert.deepEqual(receiver.posts.map((p) => p.spans.length), [4, 4, 2]);
    assert.equal(new Set(receiver.spans.map((s) => s.spanId)).size, 10);
  });

  it('sends a partial batch when the flush interval passes', async () => {
    const { exporter, receiver } = await setup({ flushIntervalMs: 50 });
    exporter.add(span(0));
    await waitFor(() => receiver.posts.length === 1, 'the timed export');
    assert.equal(exporter.status().queued, 0);
  });

  it('a full queue drops spans and counts them, without waiting', async () => {
    const { exporter, receiver, drops } = await setup({ queueSize: 5, batchSize: 5 });
    receiver.mode = { kind: 'never' };
    const started = performance.now();
    for (let i = 0; i < 20; i++) exporter.add(span(i));
    assert.ok(performance.now() - started < 50);
    // The first 5 filled the queue and went out as a batch (after this turn); the other 15 were dropped at once.
    assert.equal(exporter.status().dropped['queue-full'], 15);
    assert.equal(drops.filter((d) => d.startsWith('queue-full')).length, 15);
  });

  it('retries 503 a limited number of times with backoff, then drops the batch and counts it', async () => {
    const { exporter, receiver } = await setup({ maxAttempts: 3, minBackoffMs: 10, maxBackoffMs: 40 });
    receiver.mode = { kind: 'status', status: 503 };
    exporter.add(span(0));
    exporter.add(span(1));
    await exporter.flush();
    assert.equal(receiver.requests, 3);
    assert.equal(exporter.status().dropped['export-failed'], 2);
    assert.match(exporter.status().lastError ?? '', /answered 503/);
  });

  it('honours a short Retry-After on 429, and does not retry a 400', async () => {
    const first = await setup({ maxAttempts: 2, minBackoffMs: 5000, maxBackoffMs: 5000 });
    first.receiver.mode = { kind: 'status', status: 429, retryAfter: '0' };
    first.exporter.add(span(0));
    const started = performance.now();
    await first.exporter.flush();
    assert.equal(first.receiver.requests, 2);
    assert.ok(performance.now() - started < 2000, 'Retry-After: 0 instead of the 5 s backoff');

    const second = await setup({ maxAttempts: 3, minBackoffMs: 10 });
    second.receiver.mode = { kind: 'status', status: 400 };
    second.exporter.add(span(0));
    await second.exporter.flush();
    assert.equal(second.receiver.requests, 1);
    assert.equal(second.exporter.status().dropped['export-failed'], 1);
  });

  it('gives up on a collector that never answers after the export timeout', async () => {
    const { exporter, receiver } = await setup({ exportTimeoutMs: 100, maxAttempts: 1 });
    receiver.mode = { kind: 'never' };
    exporter.add(span(0));
    const started = performance.now();
    await exporter.flush();
    assert.ok(performance.now() - started < 2000);
    assert.equal(exporter.status().dropped['export-failed'], 1);
    assert.match(exporter.status().lastError ?? '', /did not answer within 100 ms/);
  });

  it('counts spans a dead collector (port closed) never got', async () => {
    const dead = await closedPort();
    const { exporter } = await setup({ maxAttempts: 2, minBackoffMs: 5 }, `http://127.0.0.1:${dead.port}`);
    exporter.add(span(0));
    await exporter.flush();
    assert.equal(exporter.status().dropped['export-failed'], 1);
    assert.match(exporter.status().lastError ?? '', /ECONNREFUSED/);
  });

  it('counts spans the collector rejected (OTLP partial success)', async () => {
    const { exporter, receiver } = await setup();
    receiver.mode = { kind: 'reject', count: 1 };
    exporter.add(span(0));
    exporter.add(span(1));
    await exporter.flush();
    assert.equal(exporter.status().dropped.rejected, 1);
    assert.equal(exporter.status().exportedSpans, 1);
  });

  it('close sends what is queued; spans added after close are dropped and counted', async () => {
    const { exporter, receiver } = await setup();
    exporter.add(span(0));
    await exporter.close();
    assert.equal(receiver.spans.length, 1);
    exporter.add(span(1));
    assert.equal(exporter.status().dropped.shutdown, 1);
  });

  it('close does not wait past its grace for a collector that never answers', async () => {
    const { exporter, receiver } = await setup();
    receiver.mode = { kind: 'never' };
    exporter.add(span(0));
    const started = performance.now();
    await exporter.close(100);
    assert.ok(performance.now() - started < 1000);
    assert.equal(exporter.status().dropped['export-failed'], 1);
  });

  it('adds /v1/traces to a base URL, keeps a full one', () => {
    assert.equal(tracesUrl('http://collector:4318').href, 'http://collector:4318/v1/traces');
    assert.equal(tracesUrl('http://collector:4318/otlp/').href, 'http://collector:4318/otlp/v1/traces');
    assert.equal(tracesUrl('https://c.example/v1/traces').href, 'https://c.example/v1/traces');
  });
});
