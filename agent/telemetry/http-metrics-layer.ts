// Request metrics as the outermost layer of a route, so everything below it is counted: requests
// shed, timed out or failed by weft are responses too (the status the client got, with the error
// code weft answered with); a request its client abandoned gets no response count. Latency is to
// the response head, as the balancer's RTT is.
import { errorStatus } from '../proxy/http/error-response.ts';
import type { HttpRequest, HttpResponse } from '../proxy/http/message.ts';
import { isWeftError } from '../errors.ts';
import type { CallContext, Layer, Service } from '../stack/service.ts';
import type { Clock } from '../time/clock.ts';
import type { HttpMetrics, SourceLabels } from './metrics.ts';

const UNKNOWN_SOURCE: SourceLabels = { namespace: '', pod: '' };

/** "namespace/name" → labels; anything else (an address) is not a pod and gets empty labels. */
export function sourceLabels(source: string | undefined): SourceLabels {
  if (source === undefined) return UNKNOWN_SOURCE;
  const slash = source.indexOf('/');
  if (slash <= 0) return UNKNOWN_SOURCE;
  return { namespace: source.slice(0, slash), pod: source.slice(slash + 1) };
}

/** gRPC status from a response head (a trailers-only response carries it there). */
export function grpcStatusOf(res: HttpResponse): number | undefined {
  const value = res.headers.get('grpc-status');
  if (value === undefined || !/^[0-9]{1,2}$/.test(value)) return undefined;
  return Number(value);
}

class HttpMetricsService implements Service<HttpRequest, HttpResponse> {
  readonly #authority: string;
  readonly #metrics: HttpMetrics;
  readonly #clock: Clock;
  readonly #inner: Service<HttpRequest, HttpResponse>;

  constructor(authority: string, metrics: HttpMetrics, clock: Clock, inner: Service<HttpRequest, HttpResponse>) {
    this.#authority = authority;
    this.#metrics = metrics;
    this.#clock = clock;
    this.#inner = inner;
  }

  async call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    const source = sourceLabels(req.origin?.source);
    const started = this.#clock.now();
    this.#metrics.request(this.#authority, source);
    try {
      const res = await this.#inner.call(req, cx);
      const grpcStatus = grpcStatusOf(res);
      this.#metrics.response(this.#authority, source, {
        status: res.status,
        success: res.status < 500 && (grpcStatus === undefined || grpcStatus === 0),
        grpcStatus,
        error: undefined,
        latencyMs: this.#clock.now() - started,
      });
      return res;
    } catch (error) {
      // The caller went away (its connection closed, its stream was reset): nobody got a response,
      // so none is counted. Counting it as a 502 failure would charge the destination's success
      // rate with the clients' cancellations (Linkerd had this bug: linkerd/linkerd2#3281).
      if (cx.signal.aborted) throw error;
      const { status, code } = errorStatus(error);
      this.#metrics.response(this.#authority, source, {
        status,
        success: false,
        grpcStatus: undefined,
        error: isWeftError(error) ? code : 'WEFT_E_HTTP_UPSTREAM',
        latencyMs: this.#clock.now() - started,
      });
      throw error;
    }
  }

  close(): Promise<void> {
    return this.#inner.close?.() ?? Promise.resolve();
  }
}

export function httpMetricsLayer(authority: string, metrics: HttpMetrics, clock: Clock): Layer<Service<HttpRequest, HttpResponse>, Service<HttpRequest, HttpResponse>> {
  return { role: 'metrics (request_total, response_total, response_latency_ms)', wrap: (inner) => new HttpMetricsService(authority, metrics, clock, inner) };
}
