// The innermost service of a route: one per endpoint the balancer picked, sending a request to it
// over the pool of the request's protocol (HTTP/1.1 keep-alive or a multiplexed HTTP/2 session),
// with connections opened from the source pod's network namespace (so the endpoint sees the pod's
// own IP, and NetworkPolicies keep working). Just before sending it writes what is left of the
// deadline into the downstream headers: time spent in weft, retries and backoff included, is gone.
import type { Socket } from 'node:net';
import type { EndpointAddress } from '../balance/endpoint-set.ts';
import { endpointKey } from '../balance/endpoint-set.ts';
import { WeftError } from '../errors.ts';
import type { DeadlineParams } from '../resilience/deadline.ts';
import { downstreamDeadline, formatGrpcTimeout, GRPC_TIMEOUT } from '../resilience/deadline.ts';
import type { CallContext, Service } from '../stack/service.ts';
import type { Clock } from '../time/clock.ts';
import type { HttpRequest, HttpResponse, RequestOrigin } from './http/message.ts';

/** Where one request goes: an endpoint, reached from the network namespace of `origin`. */
export interface EndpointTarget {
  readonly address: string;
  readonly port: number;
  readonly origin: RequestOrigin;
}

/** What the endpoint client needs of a connection pool (Http1Pool and Http2Pool both fit). */
export interface HttpClientPool {
  request(target: EndpointTarget, req: HttpRequest, cx: CallContext): Promise<HttpResponse>;
  /** The endpoint left discovery: close its idle connections. */
  closeEndpoint?(target: EndpointTarget): void;
}

export interface EndpointClientDeps {
  readonly clock: Clock;
  /** Wall-clock ms since the epoch (l5d-ctx-deadline). */
  readonly wallClock: () => number;
  readonly deadline: DeadlineParams;
  readonly http1: HttpClientPool;
  readonly http2: HttpClientPool;
  /** The origin of a request that came without one (tests calling a stack directly): the host's namespace. */
  readonly defaultOrigin?: RequestOrigin;
}

/** Pool key of a target: one set of connections per (source network namespace, endpoint). */
export function targetKey(target: EndpointTarget): string {
  return `${target.origin.poolKey}|${endpointKey(target)}`;
}

/** Connector for the pools: a socket to the target from its origin's namespace. */
export function connectTarget(target: EndpointTarget): Socket {
  return target.origin.connect(target.address, target.port);
}

export class EndpointClient implements Service<HttpRequest, HttpResponse> {
  readonly endpoint: EndpointAddress;
  readonly #deps: EndpointClientDeps;
  /** Targets per origin pool key, so a request allocates nothing on the common path. */
  readonly #targets = new Map<string, EndpointTarget>();

  constructor(endpoint: EndpointAddress, deps: EndpointClientDeps) {
    this.endpoint = endpoint;
    this.#deps = deps;
  }

  call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    const deps = this.#deps;
    const origin = req.origin ?? deps.defaultOrigin;
    if (origin === undefined) {
      return Promise.reject(new WeftError('WEFT_E_PROXY_NO_ORIGIN', 'a request reached the endpoint client without an origin to connect from', { flags: { rejected: true } }));
    }
    const down = downstreamDeadline(deps.deadline, cx.deadline, { now: deps.clock.now(), nowEpochMs: deps.wallClock() }, isGrpc(req));
    if (down.kind === 'expired') {
      return Promise.reject(new WeftError('WEFT_E_RESILIENCE_DEADLINE_EXCEEDED', 'deadline exceeded before the request could be sent to the endpoint', { flags: { interrupted: true } }));
    }
    if (down.kind === 'headers') {
      let wroteGrpcTimeout = false;
      for (const [name, value] of down.headers) {
        req.headers.set(name, value);
        if (name === GRPC_TIMEOUT) wroteGrpcTimeout = true;
      }
      // A grpc-timeout the caller sent bounded the deadline, but weft writes grpc-timeout only on
      // gRPC requests (not on HTTP/1.1 or grpc-web): passed on as it came, this relative timeout
      // would grant the next hop the caller's whole budget again, on every retry. It says what is left.
      if (!wroteGrpcTimeout && req.headers.has(GRPC_TIMEOUT)) req.headers.set(GRPC_TIMEOUT, formatGrpcTimeout(down.remainingMs));
    }
    const pool = req.protocol === 'HTTP/2' ? deps.http2 : deps.http1;
    return pool.request(this.#target(origin), req, cx);
  }

  close(): Promise<void> {
    for (const target of this.#targets.values()) {
      this.#deps.http1.closeEndpoint?.(target);
      this.#deps.http2.closeEndpoint?.(target);
    }
    this.#targets.clear();
    return Promise.resolve();
  }

  #target(origin: RequestOrigin): EndpointTarget {
    let target = this.#targets.get(origin.poolKey);
    if (target === undefined || target.origin !== origin) {
      target = { address: this.endpoint.address, port: this.endpoint.port, origin };
      this.#targets.set(origin.poolKey, target);
    }
    return target;
  }
}

/** gRPC over HTTP/2 (RFC: content-type application/grpc or application/grpc+proto, …). */
export function isGrpc(req: HttpRequest): boolean {
  if (req.protocol !== 'HTTP/2') return false;
  const type = req.headers.get('content-type');
  return type !== undefined && type.startsWith('application/grpc');
}
