import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../../agent/config/load.ts';
import { ConfigError } from '../../../../agent/config/problems.ts';
import { tracingFromConfig } from '../../../../agent/config/tracing.ts';
import { otlpExporterParams } from '../../../../agent/telemetry/tracing/otlp-exporter.ts';
import { tracingParams } from '../../../../agent/telemetry/tracing/tracing-layer.ts';

function problems(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

describe('telemetry.tracing config', () => {
  it('defaults: no collector (propagation only), the layer and exporter defaults', () => {
    const config = parseConfig({});
    assert.equal(config.telemetry.tracing.endpoint, undefined);
    const { params, exporter } = tracingFromConfig(config.telemetry.tracing);
    assert.deepEqual(params, tracingParams);
    assert.equal(exporter, undefined);
  });

  it('an endpoint (file or WEFT_OTLP_ENDPOINT) turns export on with the section\'s batch, queue and timeout', () => {
    const fromEnv = parseConfig({ telemetry: { tracing: { batchSize: 100, queueSize: 1000 } } }, { env: { WEFT_OTLP_ENDPOINT: 'http://otel-collector:4318' } });
    const { params, exporter } = tracingFromConfig(fromEnv.telemetry.tracing);
    assert.deepEqual(params, { sampleRatio: tracingParams.sampleRatio });
    assert.deepEqual(exporter, { ...otlpExporterParams, endpoint: 'http://otel-collector:4318', batchSize: 100, queueSize: 1000 });
  });

  it('refuses a non-HTTP endpoint, a ratio outside 0-1, and a batch larger than the queue, each at its path', () => {
    const found = problems({ telemetry: { tracing: { endpoint: 'otel-collector:4317', sampleRatio: 1.5, batchSize: 100, queueSize: 10 } } });
    assert.equal(found.length, 3, found.join('\n'));
    assert.match(found.find((p) => p.includes('endpoint')) ?? '', /OTLP\/HTTP URL/);
    assert.match(found.find((p) => p.includes('sampleRatio')) ?? '', /from 0 up to 1/);
    assert.match(found.find((p) => p.includes('batchSize')) ?? '', /at most telemetry.tracing.queueSize/);
    assert.deepEqual(problems({ telemetry: { tracing: { endpoint: 'ftp://collector' } } }).length, 1);
  });
});
