// The request-level proxy as the running agent holds it: one set of routes and connection pools
// for the node, and the per-pod glue that hands each detected HTTP connection to its transport.
import type { Socket } from 'node:net';
import type { EndpointAddress } from '../balance/endpoint-set.ts';
import { systemRandom } from '../balance/random.ts';
import { describeError } from '../errors.ts';
import type { DetectParams } from '../proxy/detect/params.ts';
import { connectTarget, targetKey } from '../proxy/endpoint-client.ts';
import type { EndpointTarget } from '../proxy/endpoint-client.ts';
import type { HttpRequest, HttpResponse, RequestOrigin } from '../proxy/http/message.ts';
import { Http1Pool, http1PoolParams } from '../proxy/http1/pool.ts';
import { serveHttp1, type Http1ServerParams } from '../proxy/http1/server-connection.ts';
import { Http2Pool, http2PoolParams } from '../proxy/http2/pool.ts';
import { http2ServerParams } from '../proxy/http2/params.ts';
import { serveHttp2 } from '../proxy/http2/server-connection.ts';
import type { OutboundHttp } from '../proxy/outbound.ts';
import type { HttpRouteParams, RouteParamsFor, RouteStatus } from '../proxy/outbound-http.ts';
import { OutboundHttpRoutes } from '../proxy/outbound-http.ts';
import type { Service } from '../stack/service.ts';
import type { Dtab } from '../naming/dtab.ts';
import type { ServiceLookup } from '../naming/k8s-namers.ts';
import { k8sNamers } from '../naming/k8s-namers.ts';
import { systemNamers } from '../naming/system-namers.ts';
import type { DnsNamerSource } from '../naming/dns-namer.ts';
import { dnsNamers } from '../naming/dns-namer.ts';
import type { DnsEndpoints } from '../proxy/naming-view.ts';
import { namingView, PassthroughEndpoints, StableEndpoints } from '../proxy/naming-view.ts';
import type { ExplainAnswer, ExplainQuery, NamingView } from '../proxy/request-router.ts';
import { RequestRouter, RoutedService } from '../proxy/request-router.ts';
import { destinationLabels } from '../telemetry/http-metrics-layer.ts';
import type { HttpMetrics } from '../telemetry/metrics.ts';
import type { TracingDeps, TracingParams } from '../telemetry/tracing/tracing-layer.ts';
import { traceIdOfError } from '../telemetry/tracing/tracing-layer.ts';
import { systemClock } from '../time/clock.ts';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface HttpProxyDeps {
  readonly metrics: HttpMetrics;
  readonly log: Log;
  /** Discovery's current Services (a new object when they change). */
  readonly services: () => ServiceLookup;
  /** The same, when the discovery file is the source: names under /#/file. */
  readonly fileServices?: () => ServiceLookup;
  /** The base dtab every request is bound through. */
  readonly dtab: Dtab;
  /** Discovery's pushes: a backend's endpoints changed (pushed to its route if it exists). */
  readonly onServiceChange?: (listener: (change: { readonly name: string; readonly endpoints: readonly EndpointAddress[] }) => void) => () => void;
  /** Names under /#/dns and /#/dns-srv (the dtab decides what uses them). */
  readonly dns?: DnsNamerSource & DnsEndpoints;
  /** A span per request and trace context propagation on every route (telemetry/tracing). */
  readonly tracing?: { readonly params: TracingParams; readonly deps: TracingDeps };
}

export class HttpProxy {
  readonly #detect: DetectParams;
  readonly #http1Server: Http1ServerParams;
  readonly #deps: HttpProxyDeps;
  readonly #http1: Http1Pool<EndpointTarget>;
  readonly #http2: Http2Pool<EndpointTarget>;
  readonly #routes: OutboundHttpRoutes;
  readonly #router: RequestRouter;
  readonly #passthrough = new PassthroughEndpoints();
  readonly #stable = new StableEndpoints();
  readonly #unsubscribe: (() => void) | undefined;
  #view: NamingView | undefined;

  constructor(routeParams: HttpRouteParams | RouteParamsFor, detect: DetectParams, http1Server: Http1ServerParams, deps: HttpProxyDeps) {
    this.#detect = detect;
    this.#http1Server = http1Server;
    this.#deps = deps;
    this.#http1 = new Http1Pool<EndpointTarget>(http1PoolParams, { connector: connectTarget, keyOf: targetKey });
    this.#http2 = new Http2Pool<EndpointTarget>(http2PoolParams, { connector: connectTarget, keyOf: targetKey });
    this.#routes = new OutboundHttpRoutes(routeParams, {
      clock: systemClock,
      random: systemRandom,
      wallClock: Date.now,
      metrics: deps.metrics,
      pools: { http1: this.#http1, http2: this.#http2 },
      ...(deps.tracing === undefined ? {} : { tracing: deps.tracing }),
    });
    // Balancers follow discovery as it changes, even while no request flows (the 100 ms the issue
    // asks for, and no stale endpoints or breakers kept on /status).
    this.#unsubscribe = deps.onServiceChange?.((change) => this.#routes.syncExisting(change.name, change.endpoints));
    this.#router = new RequestRouter({
      dtab: deps.dtab,
      namers: [...systemNamers, ...k8sNamers(() => deps.services(), deps.fileServices), ...(deps.dns === undefined ? [] : dnsNamers(deps.dns))],
      view: () => this.#namingView(),
      random: systemRandom,
      onOverride: (outcome) => deps.metrics.override(outcome),
    });
  }

  /** One view per discovery table, so bindings are cached until discovery changes. */
  #namingView(): NamingView {
    const lookup = this.#deps.services();
    const dns = this.#deps.dns;
    if (this.#view?.lookup !== lookup) this.#view = namingView(lookup, this.#passthrough, dns === undefined ? undefined : { source: dns, stable: this.#stable });
    return this.#view;
  }

  /** The HTTP half of one pod's outbound handler. */
  forPod(origin: RequestOrigin): OutboundHttp {
    const metrics = this.#deps.metrics;
    return {
      detect: this.#detect,
      counters: { count: (outcome) => metrics.detected(outcome.startsWith('opaque') ? 'opaque' : outcome, outcome) },
      clock: systemClock,
      http2: true,
      connectionService: (dst) => new RoutedService(origin, dst, this.#router, (backend) => this.#routes.route(backend.name, backend.endpoints, backend.authority, destinationLabels(backend))),
      serve: (protocol, socket, prefix, service) => this.#serve(protocol, socket, prefix, service),
    };
  }

  explain(query: ExplainQuery): ExplainAnswer {
    return this.#router.explain(query);
  }

  routes(): RouteStatus[] {
    return this.#routes.status();
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    await this.#routes.close();
    this.#http1.destroy();
    this.#http2.destroy();
  }

  #serve(protocol: 'http1' | 'http2', socket: Socket, prefix: Buffer, service: Service<HttpRequest, HttpResponse>): void {
    const onServiceError = (error: unknown): void => this.#deps.log('debug', 'request failed', { error: describeError(error), traceId: traceIdOfError(error) });
    if (protocol === 'http2') {
      serveHttp2(socket, service, http2ServerParams, { prefix, onServiceError });
      return;
    }
    if (prefix.length > 0) socket.unshift(prefix);
    socket.resume();
    serveHttp1(socket, service, this.#http1Server, { onServiceError });
  }
}
