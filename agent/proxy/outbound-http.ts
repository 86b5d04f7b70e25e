// The outbound HTTP wiring: the route stack every request of a meshed pod goes through, pushed
// here in order, outermost first (Finagle's StackClient, linkerd2-proxy's outbound http stack).
//
//   tracing → metrics → load-shed → deadline → retry + budget → balance → failure accrual → endpoint client
//
// One route per logical destination (a Service's port, or one address dialled directly), shared by
// every pod on the node: budgets, latency estimates and breakers learn from all of the node's
// traffic, while connections still leave from each source pod's own network namespace (the
// endpoint client keys its pools by the request's origin).
import type { BalanceParams, Balancer, BalancerSnapshot } from '../balance/balance-layer.ts';
import { balanceLayer, balanceParams } from '../balance/balance-layer.ts';
import type { EndpointAddress } from '../balance/endpoint-set.ts';
import { endpointKey } from '../balance/endpoint-set.ts';
import type { Random } from '../balance/random.ts';
import type { AdmissionParams } from '../resilience/admission.ts';
import { admissionParams } from '../resilience/admission.ts';
import type { AdmissionService } from '../resilience/admission-layer.ts';
import { admissionLayer } from '../resilience/admission-layer.ts';
import type { BreakerService } from '../resilience/breaker-layer.ts';
import { breakerLayer } from '../resilience/breaker-layer.ts';
import type { DeadlineParams, IncomingDeadlines } from '../resilience/deadline.ts';
import { deadlineParams, GRPC_TIMEOUT, L5D_CTX_DEADLINE, WEFT_DEADLINE } from '../resilience/deadline.ts';
import { deadlineLayer } from '../resilience/deadline-layer.ts';
import type { AccrualOutcome, FailureAccrualParams } from '../resilience/failure-accrual.ts';
import { classifyForBreaker, failureAccrualParams } from '../resilience/failure-accrual.ts';
import { parseRetryAfter } from '../resilience/retry-after.ts';
import type { RetryLayerParams, RetryService } from '../resilience/retry-layer.ts';
import { retryLayer, retryLayerParams } from '../resilience/retry-layer.ts';
import type { AttemptResult, RetryRequest } from '../resilience/retry-policy.ts';
import type { CallContext, Service } from '../stack/service.ts';
import { grpcStatusOf } from '../telemetry/http-metrics-layer.ts';
import { httpMetricsLayer } from '../telemetry/http-metrics-layer.ts';
import type { TracingDeps, TracingParams } from '../telemetry/tracing/tracing-layer.ts';
import { tracingLayer } from '../telemetry/tracing/tracing-layer.ts';
import type { DestinationLabels, HttpMetrics } from '../telemetry/metrics.ts';
import { noteUpstream } from '../telemetry/tap.ts';
import type { Clock } from '../time/clock.ts';
import type { EndpointClientDeps } from './endpoint-client.ts';
import { EndpointClient } from './endpoint-client.ts';
import type { HttpRequest, HttpResponse } from './http/message.ts';
import { ReplayableBody } from './http/replay-body.ts';

export interface HttpRouteParams {
  readonly admission: AdmissionParams;
  readonly deadline: DeadlineParams;
  readonly retry: RetryLayerParams;
  readonly balance: BalanceParams;
  readonly accrual: FailureAccrualParams;
  /** A route no request used for this long is closed (its balancer, breakers and idle connections). */
  readonly idleRouteMs: number;
}

export const httpRouteParams: HttpRouteParams = {
  admission: admissionParams,
  deadline: deadlineParams,
  retry: retryLayerParams,
  balance: balanceParams,
  accrual: failureAccrualParams,
  idleRouteMs: 10 * 60_000,
};

export interface OutboundHttpDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Wall-clock ms since the epoch (l5d-ctx-deadline, Retry-After dates). */
  readonly wallClock: () => number;
  readonly metrics: HttpMetrics;
  readonly pools: Pick<EndpointClientDeps, 'http1' | 'http2' | 'defaultOrigin'>;
  /** A span per request, trace context propagated (telemetry/tracing); absent: no tracing layer. */
  readonly tracing?: { readonly params: TracingParams; readonly deps: TracingDeps };
}

export interface RouteStatus {
  readonly name: string;
  readonly authority: string;
  /** The live stack, outermost first (what each layer does, with its parameters). */
  readonly stack: readonly string[];
  readonly inFlight: number;
  readonly retryBudget: string;
  readonly balancer: BalancerSnapshot;
  readonly breakers: ReadonlyArray<{ readonly endpoint: string; readonly state: string }>;
  readonly idleMs: number;
}

/** Replay state of the request in flight, per request (the retry layer asks for a body per attempt). */
const replays = new WeakMap<HttpRequest, ReplayableBody>();

function replayRequest(req: HttpRequest, limit: number): RetryRequest {
  const replay = replays.get(req);
  // Not wrapped: no body, or a declared length past the limit (never worth copying).
  return { method: req.method, bodyBytes: replay === undefined ? (req.body.length ?? limit + 1) : replay.replayBytes };
}

function attemptRequest(req: HttpRequest, attempt: number, limit: number): HttpRequest {
  if (attempt === 0) {
    const length = req.body.length;
    // Upgrades and CONNECT carry no body of their own: what follows is the tunnel's.
    if (length === 0 || (length !== undefined && length > limit) || req.upgrade !== undefined) return req;
    const replay = new ReplayableBody(req.body, limit);
    replays.set(req, replay);
    req.body = replay.nextAttempt();
    return req;
  }
  const replay = replays.get(req);
  if (replay !== undefined) req.body = replay.nextAttempt();
  return req;
}

function incomingDeadlines(req: HttpRequest): IncomingDeadlines {
  const headers = req.headers;
  const l5d = headers.getAll(L5D_CTX_DEADLINE);
  return {
    [GRPC_TIMEOUT]: headers.get(GRPC_TIMEOUT),
    [L5D_CTX_DEADLINE]: l5d.length === 0 ? undefined : l5d,
    [WEFT_DEADLINE]: headers.get(WEFT_DEADLINE),
  };
}

function attemptResult(res: HttpResponse): AttemptResult {
  return { kind: 'response', status: res.status, grpcStatus: grpcStatusOf(res) };
}

/** A response nobody will read (dropped for a retry, or late past a deadline): free what it holds. */
function discard(res: HttpResponse): void {
  res.body.cancel(new Error('http: response discarded'));
  res.tunnel?.destroy();
}

export class HttpRoute implements Service<HttpRequest, HttpResponse> {
  readonly name: string;
  /** The route's metrics label: its Service, or "passthrough" for an address dialled directly. */
  readonly authority: string;
  readonly roles: readonly string[];
  readonly #service: Service<HttpRequest, HttpResponse>;
  readonly #admission: AdmissionService<HttpRequest, HttpResponse>;
  readonly #retry: RetryService<HttpRequest, HttpResponse>;
  readonly #balancer: Balancer<HttpRequest, HttpResponse, EndpointAddress>;
  readonly #breakers = new Map<string, BreakerService<HttpRequest, HttpResponse>>();
  readonly #clock: Clock;
  #endpoints: readonly EndpointAddress[] | undefined;
  lastUsed: number;

  constructor(name: string, authority: string, params: HttpRouteParams, deps: OutboundHttpDeps, destination?: DestinationLabels) {
    this.name = name;
    this.authority = authority;
    this.#clock = deps.clock;
    this.lastUsed = deps.clock.now();
    const { clock, random, wallClock, metrics } = deps;
    const limit = params.retry.policy.maxBodyBytes;
    const clientDeps: EndpointClientDeps = { clock, wallClock, deadline: params.deadline, ...deps.pools };

    // Endpoint stack, one per address the balancer holds.
    const classify = (res: HttpResponse): AccrualOutcome => classifyForBreaker(res.status, grpcStatusOf(res));
    const newEndpoint = (endpoint: EndpointAddress): BreakerService<HttpRequest, HttpResponse> => {
      const key = endpointKey(endpoint);
      // Failure accrual wraps the endpoint client directly, so it judges the endpoint by what the
      // endpoint did (a refused connect, a 5xx), never by what layers above decided (a shed
      // request, a deadline), and the balancer reads its `available()` to skip ejected endpoints.
      const breaker = breakerLayer<HttpRequest, HttpResponse>(params.accrual, {
        clock,
        random,
        classify,
        retryAfterMs: (res) => retryAfterOf(res, wallClock()),
        onTransition: (t) => metrics.breaker(authority, key, t.to, t.reason),
      }).wrap(new EndpointClient(endpoint, clientDeps));
      this.#breakers.set(key, breaker);
      return {
        breaker: breaker.breaker,
        available: () => breaker.available(),
        call: (req, cx) => {
          // The endpoint of the latest attempt, for tap and the access log (only while tapped).
          noteUpstream(req, key);
          return breaker.call(req, cx);
        },
        close: () => {
          this.#breakers.delete(key);
          return breaker.close();
        },
      };
    };
    // The balancer picks an endpoint per attempt (P2C over peak-EWMA by default), below retries so
    // that a retry is a fresh pick that avoids the endpoints this request already tried.
    const balance = balanceLayer<HttpRequest, HttpResponse, EndpointAddress>(params.balance, { clock, random });
    this.#balancer = balance.wrap(newEndpoint);

    // Metrics (and the tap events) outermost: everything below, weft's own refusals included, is
    // counted with the destination naming chose.
    const metricsLayer = httpMetricsLayer(authority, metrics, clock, destination);
    // Load shedding right under metrics: a shed request is still counted, and it is refused before
    // it costs a deadline timer, a retry budget deposit or a balancer pick.
    const shed = admissionLayer<HttpRequest, HttpResponse>(params.admission, {
      sourceOf: (req) => req.origin?.source ?? 'unknown',
      onShed: (scope) => metrics.shed(authority, scope),
    });
    // The deadline bounds the whole request, every retry and backoff included, so it sits above
    // retries; what is left of it is written downstream by the endpoint client.
    const deadline = deadlineLayer<HttpRequest, HttpResponse>(params.deadline, { clock, wallClock, incoming: incomingDeadlines, discard });
    // Retries with the route's budget, above the balancer; the body is copied up to the replay
    // limit so an attempt can be sent again.
    const retry = retryLayer<HttpRequest, HttpResponse>(params.retry, {
      clock,
      random,
      request: (req) => replayRequest(req, limit),
      forAttempt: (req, attempt) => attemptRequest(req, attempt, limit),
      result: attemptResult,
      discard,
      onEvent: (e) => metrics.retry(authority, e.kind === 'retry' ? 'retried' : 'not-retried', e.kind === 'retry' ? e.after : e.reason),
    });

    const retried = retry.wrap(this.#balancer);
    this.#retry = retried;
    const top = deadline.wrap(new RetireReplay(retried));
    const admitted = shed.wrap(top);
    this.#admission = admitted;
    const measured = metricsLayer.wrap(admitted);
    // Tracing outermost, above metrics: the span covers all the client waited for (a shed request,
    // every retry and backoff), and the proxy span's context is written before any attempt is sent.
    const tracing = deps.tracing === undefined ? undefined : tracingLayer(deps.tracing.params, { ...deps.tracing.deps, route: name });
    this.#service = tracing?.wrap(measured) ?? measured;
    // The breaker layer's own role (it is built per endpoint, above, for the endpoint's key): a
    // hand-written one showed "7 in a row" only, hiding the success-rate trigger, and "0 in a row"
    // for accrual turned off.
    const accrualRole = breakerLayer<HttpRequest, HttpResponse>(params.accrual, { clock, random, classify }).role;
    this.roles = [...(tracing === undefined ? [] : [tracing.role]), metricsLayer.role, shed.role, deadline.role, retry.role, balance.role, accrualRole, 'endpoint (HTTP/1.1 pool | HTTP/2 session, from the source pod)'];
  }

  /** Discovery's endpoints for this route; a new answer (a different array) resets the balancer. */
  sync(endpoints: readonly EndpointAddress[]): void {
    if (endpoints === this.#endpoints) return;
    this.#endpoints = endpoints;
    this.#balancer.update({ kind: 'reset', endpoints });
  }

  call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    this.lastUsed = this.#clock.now();
    return this.#service.call(req, cx);
  }

  status(): RouteStatus {
    const breakers = [...this.#breakers].map(([endpoint, b]) => ({ endpoint, state: b.breaker.state() }));
    breakers.sort((a, b) => (a.endpoint < b.endpoint ? -1 : 1));
    return {
      name: this.name,
      authority: this.authority,
      stack: this.roles,
      inFlight: this.#admission.admission.inFlight,
      retryBudget: this.#retry.budget.describe(),
      balancer: this.#balancer.snapshot(),
      breakers,
      idleMs: this.#clock.now() - this.lastUsed,
    };
  }

  close(): Promise<void> {
    return this.#service.close?.() ?? Promise.resolve();
  }
}

/** Ends a request's body replay once the retry layer has its answer (no attempt follows). */
class RetireReplay implements Service<HttpRequest, HttpResponse> {
  readonly #inner: Service<HttpRequest, HttpResponse>;

  constructor(inner: Service<HttpRequest, HttpResponse>) {
    this.#inner = inner;
  }

  async call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    try {
      const res = await this.#inner.call(req, cx);
      replays.get(req)?.retire();
      return res;
    } catch (error) {
      replays.get(req)?.retire(error);
      throw error;
    }
  }

  close(): Promise<void> {
    return this.#inner.close?.() ?? Promise.resolve();
  }
}

function retryAfterOf(res: HttpResponse, nowEpochMs: number): number | undefined {
  if (res.status !== 503 && res.status !== 429) return undefined;
  const value = res.headers.get('retry-after');
  if (value === undefined) return undefined;
  const parsed = parseRetryAfter(value, nowEpochMs);
  return parsed.kind === 'ok' ? parsed.value : undefined;
}

/** Parameters of a route by its name: the defaults, or what configuration sets for that route. */
export type RouteParamsFor = (name: string) => HttpRouteParams;

/** The node's outbound routes by name, built on first use and closed when idle. */
export class OutboundHttpRoutes {
  readonly #paramsFor: RouteParamsFor;
  readonly #idleRouteMs: number;
  readonly #deps: OutboundHttpDeps;
  readonly #routes = new Map<string, HttpRoute>();
  readonly #sweep: NodeJS.Timeout;

  constructor(params: HttpRouteParams | RouteParamsFor, deps: OutboundHttpDeps) {
    this.#paramsFor = typeof params === 'function' ? params : () => params;
    this.#idleRouteMs = (typeof params === 'function' ? httpRouteParams : params).idleRouteMs;
    this.#deps = deps;
    this.#sweep = setInterval(() => this.#closeIdle(), Math.max(1000, Math.min(60_000, this.#idleRouteMs / 2)));
    this.#sweep.unref();
  }

  /** The route named `name`, its balancer fed `endpoints` (discovery's current answer). */
  route(name: string, endpoints: readonly EndpointAddress[], authority = name, destination?: DestinationLabels): HttpRoute {
    let route = this.#routes.get(name);
    if (route === undefined) {
      route = new HttpRoute(name, authority, this.#paramsFor(name), this.#deps, destination);
      this.#routes.set(name, route);
    }
    route.sync(endpoints);
    return route;
  }

  /** Discovery changed a backend's endpoints: a route that exists follows now, not at its next request. */
  syncExisting(name: string, endpoints: readonly EndpointAddress[]): void {
    this.#routes.get(name)?.sync(endpoints);
  }

  status(): RouteStatus[] {
    return [...this.#routes.values()].map((r) => r.status());
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    const routes = [...this.#routes.values()];
    this.#routes.clear();
    await Promise.all(routes.map((r) => r.close()));
  }

  #closeIdle(): void {
    const now = this.#deps.clock.now();
    for (const [name, route] of this.#routes) {
      if (now - route.lastUsed < this.#idleRouteMs || route.status().inFlight > 0) continue;
      this.#routes.delete(name);
      void route.close();
    }
  }
}
