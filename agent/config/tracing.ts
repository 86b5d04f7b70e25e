// The `telemetry.tracing` section: where spans go (an OpenTelemetry collector's OTLP/HTTP URL;
// none, the default, exports nothing while trace context is still propagated), the share of new
// traces sampled, and the exporter's batch, queue and timeout. Defaults are read from the code
// they configure (tracingParams, otlpExporterParams), never restated here.
import { z } from 'zod';
import type { OtlpExporterParams } from '../telemetry/tracing/otlp-exporter.ts';
import { otlpExporterParams } from '../telemetry/tracing/otlp-exporter.ts';
import type { TracingParams } from '../telemetry/tracing/tracing-layer.ts';
import { tracingParams } from '../telemetry/tracing/tracing-layer.ts';
import { decimal, section, wholeNumber } from './rules.ts';

const endpointRule = "must be the collector's OTLP/HTTP URL, such as http://otel-collector.observability:4318 (http or https; /v1/traces is added unless the path ends so)";

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

export const tracingSchema = section({
  endpoint: z.string({ error: endpointRule }).refine(isHttpUrl, { error: endpointRule }).optional(),
  sampleRatio: decimal(0, 1, { note: "share of new traces sampled; a caller's own decision is always kept" }).prefault(tracingParams.sampleRatio),
  batchSize: wholeNumber(1, 10_000, 'spans').prefault(otlpExporterParams.batchSize),
  queueSize: wholeNumber(1, 1_000_000, 'spans').prefault(otlpExporterParams.queueSize),
  flushIntervalMs: wholeNumber(10, 3_600_000, 'milliseconds').prefault(otlpExporterParams.flushIntervalMs),
  exportTimeoutMs: wholeNumber(100, 600_000, 'milliseconds').prefault(otlpExporterParams.exportTimeoutMs),
}).refine((t) => typeof t.batchSize !== 'number' || typeof t.queueSize !== 'number' || t.batchSize <= t.queueSize, {
  when: () => true,
  path: ['batchSize'],
  error: 'must be at most telemetry.tracing.queueSize: a batch is taken from the queue',
});

export type TracingConfig = z.output<typeof tracingSchema>;

/** The tracing layer's parameters, and the exporter's when a collector is configured. */
export function tracingFromConfig(config: TracingConfig): { readonly params: TracingParams; readonly exporter: OtlpExporterParams | undefined } {
  const params: TracingParams = { sampleRatio: config.sampleRatio };
  if (config.endpoint === undefined) return { params, exporter: undefined };
  return {
    params,
    exporter: {
      ...otlpExporterParams,
      endpoint: config.endpoint,
      batchSize: config.batchSize,
      queueSize: config.queueSize,
      flushIntervalMs: config.flushIntervalMs,
      exportTimeoutMs: config.exportTimeoutMs,
    },
  };
}
