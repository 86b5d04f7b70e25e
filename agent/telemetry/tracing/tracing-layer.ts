// A span per proxied request, as the outermost layer of a route (above metrics), so the span
// covers everything the client waited for: shedding, every retry and backoff, the balancer's pick.
//
// The layer continues the caller's trace (W3C or B3, see propagation.ts) or starts one, and
// writes the proxy span's context downstream in the format(s) the request came with (W3C when it
// came with none), so the next hop's span is a child of the proxy's. The span ends when the
// response head arrives or the request fails, like the latency metric (so a gRPC status is on the
// span when the head carries it, as a trailers-only error does; one in trailers comes after the
// span's end, as the body does). Sampling is parent-based:
// a caller's decision is kept; a new trace (or a B3 caller that deferred) is sampled at
// `sampleRatio`. Unsampled requests are still propagated, and cost no span. Finished spans go to
// the sink (the OTLP exporter's bounded queue) and to `weft:tracing:span` on diagnostics_channel.
import { channel } from 'node:diagnostics_channel';
import { errorStatus } from '../../proxy/http/error-response.ts';
import type { HttpRequest, HttpResponse } from '../../proxy/http/message.ts';
import type { Random } from '../../balance/random.ts';
import type { CallContext, Layer, Service } from '../../stack/service.ts';
import { grpcStatusOf } from '../http-metrics-layer.ts';
import { extract, formatsOf, inject } from './propagation.ts';
import type { PropagationFormat } from './propagation.ts';
import type { AttributeValue, FinishedSpan, SpanSink, SpanStatus } from './span.ts';
import type { IdGenerator, TraceContext } from './trace-context.ts';
import { randomIds } from './trace-context.ts';

export interface TracingParams {
  /** Share of new traces sampled (0 to 1); a caller's own decision is always kept. */
  readonly sampleRatio: number;
}

// Istio's default (meshConfig tracing sampling 1 %): a mesh starts traces for every request, and
// marking them all sampled would make every parent-based application downstream record them all.
export const tracingParams: TracingParams = { sampleRatio: 0.01 };

export interface TracingDeps {
  readonly random: Random;
  /** Finished sampled spans; undefined: none are recorded (context is still propagated). */
  readonly sink: SpanSink | undefined;
  readonly ids?: IdGenerator;
  /** Wall clock in nanoseconds since the epoch. */
  readonly nowNs?: () => bigint;
}

/** Every span weft finishes, for in-process subscribers (tap, tests), as undici publishes its requests. */
export const spanChannel = channel('weft:tracing:span');

const contexts = new WeakMap<HttpRequest, TraceContext>();
const errorTraces = new WeakMap<object, string>();

/** The proxy span's context of a request that went through the tracing layer. */
export function spanContextOf(req: HttpRequest): TraceContext | undefined {
  return contexts.get(req);
}

/** The trace id of a request, for its log lines. */
export function traceIdOf(req: HttpRequest): string | undefined {
  return contexts.get(req)?.traceId;
}

/** The trace id of the request a thrown error failed, for the log line that reports it. */
export function traceIdOfError(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? errorTraces.get(error) : undefined;
}

const originNs = BigInt(Math.round(performance.timeOrigin * 1000)) * 1000n;
/** performance.now() on the epoch: sub-millisecond, and monotonic within the process. */
export const systemNowNs = (): bigint => originNs + BigInt(Math.round(performance.now() * 1e6));

const W3C_ONLY: readonly PropagationFormat[] = ['w3c'];

class TracingService implements Service<HttpRequest, HttpResponse> {
  readonly #params: TracingParams;
  readonly #route: string;
  readonly #random: Random;
  readonly #sink: SpanSink | undefined;
  readonly #ids: IdGenerator;
  readonly #nowNs: () => bigint;
  readonly #inner: Service<HttpRequest, HttpResponse>;

  constructor(params: TracingParams, route: string, deps: TracingDeps, ids: IdGenerator, inner: Service<HttpRequest, HttpResponse>) {
    this.#params = params;
    this.#route = route;
    this.#random = deps.random;
    this.#sink = deps.sink;
    this.#ids = ids;
    this.#nowNs = deps.nowNs ?? systemNowNs;
    this.#inner = inner;
  }

  async call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    const formats = formatsOf(req.headers);
    const incoming = extract(req.headers);
    const spanId = this.#ids.spanId();
    let context: TraceContext;
    let parentSpanId: string | undefined;
    let shortTraceId = false;
    if (incoming.kind === 'parent') {
      const parent = incoming.parent;
      const sampled = incoming.deferred ? this.#sample() : parent.sampled;
      context = { traceId: parent.traceId, spanId, sampled, debug: parent.debug, traceState: parent.traceState };
      parentSpanId = parent.spanId;
      shortTraceId = incoming.shortTraceId;
    } else {
      const sampled = incoming.kind === 'decision' ? incoming.sampled : this.#sample();
      context = { traceId: this.#ids.traceId(), spanId, sampled, debug: incoming.kind === 'decision' && incoming.debug, traceState: undefined };
    }
    inject(req.headers, context, formats.length === 0 ? W3C_ONLY : formats, parentSpanId, shortTraceId);
    contexts.set(req, context);
    const record = context.sampled && (this.#sink !== undefined || spanChannel.hasSubscribers);
    if (!record) {
      try {
        return await this.#inner.call(req, cx);
      } catch (error) {
        if (typeof error === 'object' && error !== null) errorTraces.set(error, context.traceId);
        throw error;
      }
    }
    const startNs = this.#nowNs();
    try {
      const res = await this.#inner.call(req, cx);
      this.#finish(req, context, parentSpanId, startNs, responseOutcome(res));
      return res;
    } catch (error) {
      if (typeof error === 'object' && error !== null) errorTraces.set(error, context.traceId);
      this.#finish(req, context, parentSpanId, startNs, errorOutcome(error, cx.signal.aborted));
      throw error;
    }
  }

  close(): Promise<void> {
    return this.#inner.close?.() ?? Promise.resolve();
  }

  #sample(): boolean {
    const ratio = this.#params.sampleRatio;
    return ratio >= 1 || (ratio > 0 && this.#random() < ratio);
  }

  #finish(req: HttpRequest, context: TraceContext, parentSpanId: string | undefined, startNs: bigint, outcome: Outcome): void {
    const attributes: Record<string, AttributeValue> = {
      'http.request.method': req.method,
      'url.scheme': req.scheme,
      'url.path': pathOf(req.path),
      ...serverAddress(req.authority),
      'network.protocol.version': req.protocol === 'HTTP/2' ? '2' : '1.1',
      'weft.route': this.#route,
      ...outcome.attributes,
    };
    if (req.origin !== undefined) attributes['weft.source'] = req.origin.source;
    const span: FinishedSpan = {
      context, parentSpanId,
      name: `${req.method} ${this.#route}`,
      kind: 'client',
      startNs, endNs: this.#nowNs(),
      attributes,
      status: outcome.status,
    };
    this.#sink?.add(span);
    if (spanChannel.hasSubscribers) spanChannel.publish(span);
  }
}

interface Outcome {
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly status: SpanStatus;
}

// For a client span, OpenTelemetry's HTTP conventions count 4xx and 5xx as errors; gRPC ones any
// status but OK.
function responseOutcome(res: HttpResponse): Outcome {
  const grpc = grpcStatusOf(res);
  const attributes: Record<string, AttributeValue> = { 'http.response.status_code': res.status };
  if (grpc !== undefined) attributes['rpc.grpc.status_code'] = grpc;
  const weftError = res.headers.get('l5d-proxy-error');
  if (res.status >= 400) attributes['error.type'] = String(res.status);
  if (weftError !== undefined) attributes['weft.error'] = weftError;
  const failed = res.status >= 400 || (grpc !== undefined && grpc !== 0);
  return { attributes, status: failed ? { code: 'error', message: grpc !== undefined && grpc !== 0 ? `grpc-status ${grpc}` : `HTTP ${res.status}` } : { code: 'unset' } };
}

function errorOutcome(error: unknown, cancelled: boolean): Outcome {
  if (cancelled) return { attributes: { 'error.type': 'cancelled' }, status: { code: 'error', message: 'the client went away' } };
  const { status, code } = errorStatus(error);
  return {
    attributes: { 'http.response.status_code': status, 'error.type': code },
    status: { code: 'error', message: error instanceof Error ? error.message : String(error) },
  };
}

/** url.path is the path without the query (the query may hold secrets; OpenTelemetry keeps it apart). */
function pathOf(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function serverAddress(authority: string): Record<string, AttributeValue> {
  const m = /^(\[[^\]]*\]|[^:]*)(?::([0-9]{1,5}))?$/.exec(authority);
  if (m === null) return { 'server.address': authority };
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return m[2] === undefined ? { 'server.address': host } : { 'server.address': host, 'server.port': Number(m[2]) };
}

/** The tracing layer of one route (`route` names it in spans). */
export function tracingLayer(params: TracingParams, deps: TracingDeps & { readonly route: string }): Layer<Service<HttpRequest, HttpResponse>, Service<HttpRequest, HttpResponse>> {
  const ids = deps.ids ?? randomIds();
  const exported = deps.sink === undefined ? 'propagate only, no collector' : 'spans to OTLP';
  return {
    role: `tracing (W3C + B3, sample ${params.sampleRatio}, ${exported})`,
    wrap: (inner) => new TracingService(params, deps.route, deps, ids, inner),
  };
}
