// The endpoint-level Service over a shared connection pool (HTTP/1.1 or HTTP/2): requests to one
// target through the pool, and closing it closes that target's idle connections.
import type { CallContext, Service } from '../../stack/service.ts';
import type { HttpRequest, HttpResponse } from './message.ts';

export interface TargetPool<T> {
  request(target: T, req: HttpRequest, cx: CallContext): Promise<HttpResponse>;
  closeEndpoint(target: T): void;
}

export class PoolEndpointService<T> implements Service<HttpRequest, HttpResponse> {
  readonly #pool: TargetPool<T>;
  readonly #target: T;

  constructor(pool: TargetPool<T>, target: T) {
    this.#pool = pool;
    this.#target = target;
  }

  call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    return this.#pool.request(this.#target, req, cx);
  }

  close(): Promise<void> {
    this.#pool.closeEndpoint(this.#target);
    return Promise.resolve();
  }
}
