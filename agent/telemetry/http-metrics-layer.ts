// Request metrics as the outermost layer of a route, so everything below it is counted: requests
// shed, timed out or failed by weft are responses too (the status the client got, with the error
// code weft answered with); a request its client abandoned gets no response count. Latency is to
// the response head, as the balancer's RTT is.
//
// The same layer publishes the tap events (telemetry/tap.ts) from what it already knows, so a tapped
// request shows exactly what was counted; with nobody subscribed it costs two property reads.
import { errorStatus } from '../proxy/http/error-response.ts';
import type { HttpRequest, HttpResponse } from '../proxy/http/message.ts';
import { describeError, isWeftError } from '../errors.ts';
import type { CallContext, Layer, Service } from '../stack/service.ts';
import type { Clock } from '../time/clock.ts';
import type { ProxyRequestEvent } from './tap.ts';
import { nextTapId, requestChannel, responseChannel, traceIdOf, upstreamOf } from './tap.ts';
import { traceIdOf as spanTraceIdOf } from './tracing/tracing-layer.ts';
import type { DestinationLabels, HttpMetrics, SourceLabels } from './metrics.ts';
import { NO_DESTINATION } from './metrics.ts';

const UNKNOWN_SOURCE: SourceLabels = { namespace: '', pod: '' };

/** "namespace/name" → labels; anything else (an address) is not a pod and gets empty labels. */
export function sourceLabels(source: string | undefined): SourceLabels {
  if (source === undefined) return UNKNOWN_SOURCE;
  const slash = source.indexOf('/');
  if (slash <= 0) return UNKNOWN_SOURCE;
  return { namespace: source.slice(0, slash), pod: source.slice(slash + 1) };
}

/**
 * The destination labels of a concrete backend: its namespace, and the Service from its route name
 * (`ns/svc:port`). Anything that is not a Service (an address, a DNS name) has none.
 */
export function destinationLabels(backend: { readonly name: string; readonly namespace: string | undefined }): DestinationLabels {
  const namespace = backend.namespace;
  if (namespace === undefined || !backend.name.startsWith(`${namespace}/`)) return NO_DESTINATION;
  const rest = backend.name.slice(namespace.length + 1);
  const colon = rest.lastIndexOf(':');
  return { namespace, service: colon > 0 ? rest.slice(0, colon) : rest };
}

/** gRPC status from a response head (a trailers-only response carries it there). */
export function grpcStatusOf(res: HttpResponse): number | undefined {
  const value = res.headers.get('grpc-status');
  if (value === undefined || !/^[0-9]{1,2}$/.test(value)) return undefined;
  return Number(value);
}

class HttpMetricsService implements Service<HttpRequest, HttpResponse> {
  readonly #authority: string;
  readonly #destination: DestinationLabels;
  readonly #metrics: HttpMetrics;
  readonly #clock: Clock;
  readonly #inner: Service<HttpRequest, HttpResponse>;

  constructor(authority: string, destination: DestinationLabels, metrics: HttpMetrics, clock: Clock, inner: Service<HttpRequest, HttpResponse>) {
    this.#authority = authority;
    this.#destination = destination;
    this.#metrics = metrics;
    this.#clock = clock;
    this.#inner = inner;
  }

  async call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    const source = sourceLabels(req.origin?.source);
    const started = this.#clock.now();
    this.#metrics.request(this.#authority, source, this.#destination);
    // The request as it arrived, before lower layers rewrite headers (deadlines, overrides).
    const tapped = requestChannel.hasSubscribers || responseChannel.hasSubscribers ? this.#tapEvent(req) : undefined;
    if (tapped !== undefined && requestChannel.hasSubscribers) requestChannel.publish(tapped);
    try {
      const res = await this.#inner.call(req, cx);
      const grpcStatus = grpcStatusOf(res);
      const success = res.status < 500 && (grpcStatus === undefined || grpcStatus === 0);
      const latencyMs = this.#clock.now() - started;
      this.#metrics.response(this.#authority, source, { status: res.status, success, grpcStatus, error: undefined, latencyMs }, this.#destination);
      if (tapped !== undefined && responseChannel.hasSubscribers) {
        responseChannel.publish({
          ...tapped, status: res.status, grpcStatus, classification: success ? 'success' : 'failure', durationMs: latencyMs, upstream: upstreamOf(req), error: undefined,
        });
      }
      return res;
    } catch (error) {
      // The caller went away (its connection closed, its stream was reset): nobody got a response,
      // so none is counted. Counting it as a 502 failure would charge the destination's success
      // rate with the clients' cancellations (Linkerd had this bug: linkerd/linkerd2#3281).
      if (cx.signal.aborted) throw error;
      const { status, code } = errorStatus(error);
      const errorCode = isWeftError(error) ? code : 'WEFT_E_HTTP_UPSTREAM';
      const latencyMs = this.#clock.now() - started;
      this.#metrics.response(this.#authority, source, { status, success: false, grpcStatus: undefined, error: errorCode, latencyMs, reason: describeError(error) }, this.#destination);
      if (tapped !== undefined && responseChannel.hasSubscribers) {
        responseChannel.publish({
          ...tapped, status, grpcStatus: undefined, classification: 'failure', durationMs: latencyMs, upstream: upstreamOf(req), error: errorCode,
        });
      }
      throw error;
    }
  }

  #tapEvent(req: HttpRequest): ProxyRequestEvent {
    return {
      id: nextTapId(),
      time: new Date().toISOString(),
      source: req.origin?.source ?? '',
      authority: req.authority,
      route: this.#authority,
      dstNamespace: this.#destination.namespace,
      dstService: this.#destination.service,
      method: req.method,
      path: req.path,
      protocol: req.protocol,
      // The proxy's span when the tracing layer (outside this one) made it, else the caller's.
      traceId: spanTraceIdOf(req) ?? traceIdOf(req.headers),
    };
  }

  close(): Promise<void> {
    return this.#inner.close?.() ?? Promise.resolve();
  }
}

export function httpMetricsLayer(
  authority: string,
  metrics: HttpMetrics,
  clock: Clock,
  destination: DestinationLabels = NO_DESTINATION,
): Layer<Service<HttpRequest, HttpResponse>, Service<HttpRequest, HttpResponse>> {
  return { role: 'metrics (request_total, response_total, response_latency_ms) + tap (weft:proxy:request, weft:proxy:response)', wrap: (inner) => new HttpMetricsService(authority, destination, metrics, clock, inner) };
}
