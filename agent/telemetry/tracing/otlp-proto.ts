// OTLP's protobuf messages, from the .proto files under ./proto, parsed by protobufjs once (the
// exporter asks for them when it is built, at the agent's start). Parsed at run time rather than generated ahead (pbjs): Node runs weft's .ts files
// as they are, with no build step to keep generated code in step with the schema, and the parse
// takes a few milliseconds once. The same types decode what a collector answers, and what the
// test receiver gets.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { AttributeValue, FinishedSpan, SpanKind, SpanStatus } from './span.ts';

const PROTO_ROOT = fileURLToPath(new URL('./proto/', import.meta.url));
const SERVICE_PROTO = 'opentelemetry/proto/collector/trace/v1/trace_service.proto';

export interface OtlpTypes {
  readonly exportRequest: protobuf.Type;
  readonly exportResponse: protobuf.Type;
}

let types: OtlpTypes | undefined;

export function otlpTypes(): OtlpTypes {
  if (types !== undefined) return types;
  const root = new protobuf.Root();
  // Imports are written from the proto root ("opentelemetry/proto/…"), as upstream writes them.
  root.resolvePath = (_origin, target) => join(PROTO_ROOT, target);
  root.loadSync(SERVICE_PROTO, { keepCase: false });
  types = {
    exportRequest: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    exportResponse: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
  };
  return types;
}

/** Span.SpanKind and Status.StatusCode numbers. */
const KIND: Readonly<Record<SpanKind, number>> = { internal: 1, server: 2, client: 3 };
const STATUS: Readonly<Record<SpanStatus['code'], number>> = { unset: 0, ok: 1, error: 2 };

interface KeyValue {
  key: string;
  value: { stringValue: string } | { boolValue: boolean } | { intValue: number } | { doubleValue: number };
}

function keyValues(attributes: Readonly<Record<string, AttributeValue>>): KeyValue[] {
  const out: KeyValue[] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === 'string') out.push({ key, value: { stringValue: value } });
    else if (typeof value === 'boolean') out.push({ key, value: { boolValue: value } });
    else if (Number.isSafeInteger(value)) out.push({ key, value: { intValue: value } });
    else out.push({ key, value: { doubleValue: value } });
  }
  return out;
}

export interface ExportResource {
  /** Resource attributes (service.name, host.name, …). */
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** The instrumentation scope: weft and its version. */
  readonly scope: { readonly name: string; readonly version: string };
}

/** One ExportTraceServiceRequest holding `spans`, all from one resource and scope. */
export function encodeExportRequest(spans: readonly FinishedSpan[], resource: ExportResource): Uint8Array {
  const { exportRequest } = otlpTypes();
  const message = {
    resourceSpans: [{
      resource: { attributes: keyValues(resource.attributes) },
      scopeSpans: [{
        scope: { name: resource.scope.name, version: resource.scope.version },
        spans: spans.map((span) => ({
          traceId: Buffer.from(span.context.traceId, 'hex'),
          spanId: Buffer.from(span.context.spanId, 'hex'),
          ...(span.context.traceState === undefined ? {} : { traceState: span.context.traceState }),
          ...(span.parentSpanId === undefined ? {} : { parentSpanId: Buffer.from(span.parentSpanId, 'hex') }),
          flags: span.context.sampled ? 1 : 0,
          name: span.name,
          kind: KIND[span.kind],
          // fixed64 from decimal text: protobufjs reads it with long.js, exact past 2^53.
          startTimeUnixNano: span.startNs.toString(),
          endTimeUnixNano: span.endNs.toString(),
          attributes: keyValues(span.attributes),
          status: { code: STATUS[span.status.code], ...(span.status.message === undefined ? {} : { message: span.status.message }) },
        })),
      }],
    }],
  };
  return exportRequest.encode(message).finish();
}

/** What a collector's answer says it rejected (OTLP partial success); zero when it says nothing. */
export function rejectedSpans(body: Uint8Array): { readonly rejected: number; readonly message: string } {
  if (body.length === 0) return { rejected: 0, message: '' };
  try {
    const decoded = otlpTypes().exportResponse.toObject(otlpTypes().exportResponse.decode(body), { longs: Number, defaults: true }) as {
      partialSuccess?: { rejectedSpans?: number; errorMessage?: string };
    };
    return { rejected: decoded.partialSuccess?.rejectedSpans ?? 0, message: decoded.partialSuccess?.errorMessage ?? '' };
  } catch {
    // A collector that answers 200 with something else (a JSON body, an HTML page) accepted the spans.
    return { rejected: 0, message: '' };
  }
}
