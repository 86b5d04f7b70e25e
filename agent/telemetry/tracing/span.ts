// A finished span as weft records it: plain data, handed to an exporter once the proxied request's
// response head arrived (or it failed). Attributes use OpenTelemetry's HTTP semantic conventions
// (http.request.method, url.path, server.address, http.response.status_code, error.type) plus
// weft's own under `weft.` (the route a request took, the source pod).
import type { TraceContext } from './trace-context.ts';

export type AttributeValue = string | number | boolean;

export type SpanKind = 'internal' | 'server' | 'client';

export interface SpanStatus {
  readonly code: 'unset' | 'ok' | 'error';
  readonly message?: string;
}

export interface FinishedSpan {
  readonly context: TraceContext;
  /** The caller's span; undefined for a trace the proxy started. */
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: SpanKind;
  /** Wall clock, nanoseconds since the Unix epoch. */
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly status: SpanStatus;
}

/** Where finished spans go. `add` is called on the request path: it must not block, throw or await. */
export interface SpanSink {
  add(span: FinishedSpan): void;
}
