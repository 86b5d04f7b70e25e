// Keep-alive connections to endpoints, per endpoint: a request takes the most recently used idle
// connection (warmest, and the one least likely to have been closed by the server's idle timer) or
// connects a new one through the injected connector, so host sockets and in-pod sockets
// (SocketFactory) plug in the same way. A connection comes back only after a clean exchange; one
// that switched protocols (101, 2xx to CONNECT) never does: it is the response's tunnel.
import type { Socket } from 'node:net';
import { WeftError } from '../../errors.ts';
import type { CallContext, NewService, Service } from '../../stack/service.ts';
import type { HttpRequest, HttpResponse } from '../http/message.ts';
import { PoolEndpointService } from '../http/pool-endpoint.ts';
import { EXPECT_CONTINUE_TIMEOUT_MS, Http1ClientConnection, type ConnectionOwner } from './client-connection.ts';
import { http1Params, type Http1Params } from './params.ts';

export interface Http1PoolParams {
  /** Idle connections kept per endpoint; more are closed when released. */
  readonly maxIdlePerEndpoint: number;
  /** An idle connection unused this long is closed (below typical server keep-alive timeouts, so weft closes first). */
  readonly idleTimeoutMs: number;
  /** A connect that has not completed in this long fails (retryable: nothing was sent). */
  readonly connectTimeoutMs: number;
  /**
   * A request with Expect: 100-continue waits this long for the upstream's 100 (or its final answer)
   * before sending the body anyway, for upstreams that never send 100 (RFC 9110 §10.1.1).
   */
  readonly expectContinueTimeoutMs: number;
  readonly http1: Http1Params;
}

export const http1PoolParams: Http1PoolParams = {
  maxIdlePerEndpoint: 32,
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  expectContinueTimeoutMs: EXPECT_CONTINUE_TIMEOUT_MS,
  http1: http1Params,
};

/** Opens a socket to `target` (it may still be connecting). */
export type Connector<T> = (target: T) => Socket;

export interface Http1PoolDeps<T> {
  readonly connector: Connector<T>;
  /** The pool key of a target: one idle list per key. */
  readonly keyOf: (target: T) => string;
}

export class Http1Pool<T> implements ConnectionOwner {
  readonly #params: Http1PoolParams;
  readonly #connector: Connector<T>;
  readonly #keyOf: (target: T) => string;
  readonly #idle = new Map<string, Http1ClientConnection[]>();
  readonly #all = new Set<Http1ClientConnection>();
  /** Endpoints that left discovery: their busy connections are closed when released, not kept. */
  readonly #retired = new Set<string>();
  #closed = false;
  /** Connections opened so far, for tests and /status. */
  connects = 0;

  constructor(params: Http1PoolParams, deps: Http1PoolDeps<T>) {
    if (!(Number.isSafeInteger(params.maxIdlePerEndpoint) && params.maxIdlePerEndpoint >= 0)) {
      throw new WeftError('WEFT_E_HTTP_PARAMS', `http1 pool maxIdlePerEndpoint must be a non-negative integer, got ${params.maxIdlePerEndpoint}`);
    }
    if (!(params.idleTimeoutMs > 0 && params.connectTimeoutMs > 0 && params.expectContinueTimeoutMs > 0)) {
      throw new WeftError('WEFT_E_HTTP_PARAMS', 'http1 pool idleTimeoutMs, connectTimeoutMs and expectContinueTimeoutMs must be positive');
    }
    this.#params = params;
    this.#connector = deps.connector;
    this.#keyOf = deps.keyOf;
  }

  /** Idle connections held for `key`. */
  idleCount(key: string): number {
    return this.#idle.get(key)?.length ?? 0;
  }

  /** Open connections, idle or busy. */
  get size(): number {
    return this.#all.size;
  }

  /** Sends `req` to `target` on a pooled or new connection. */
  async request(target: T, req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    if (this.#closed) throw new WeftError('WEFT_E_HTTP_POOL_CLOSED', 'http1: the connection pool is closed', { flags: { rejected: true } });
    const key = this.#keyOf(target);
    // Asked for again: the endpoint is back (or was never really gone).
    if (this.#retired.size > 0) this.#retired.delete(key);
    const conn = this.#takeIdle(key) ?? (await this.#connect(target, key, cx));
    if (cx.signal.aborted) {
      // The caller left while we connected: the fresh connection is still good for someone else.
      this.release(conn);
    }
    return conn.request(req, cx);
  }

  /** One Service per endpoint, for the balancer (NewService). */
  readonly service: NewService<T, Service<HttpRequest, HttpResponse>> = (target: T) => new PoolEndpointService(this, target);

  #takeIdle(key: string): Http1ClientConnection | undefined {
    const list = this.#idle.get(key);
    if (list === undefined) return undefined;
    while (list.length > 0) {
      const conn = list.pop() as Http1ClientConnection;
      if (conn.idleTimer !== undefined) clearTimeout(conn.idleTimer);
      conn.idleTimer = undefined;
      if (conn.reusable) return conn;
      conn.destroy();
    }
    return undefined;
  }

  #connect(target: T, key: string, cx: CallContext): Promise<Http1ClientConnection> {
    return new Promise((resolve, reject) => {
      let socket: Socket;
      try {
        socket = this.#connector(target);
      } catch (error) {
        reject(connectError(key, error));
        return;
      }
      this.connects++;
      const done = (error: unknown): void => {
        clearTimeout(timer);
        socket.removeListener('connect', onConnect);
        socket.removeListener('error', done);
        cx.signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(error === undefined ? connectError(key, new Error('closed')) : connectError(key, error));
      };
      const onConnect = (): void => {
        clearTimeout(timer);
        socket.removeListener('error', done);
        cx.signal.removeEventListener('abort', onAbort);
        const conn = new Http1ClientConnection(socket, key, this, this.#params.http1, this.#params.expectContinueTimeoutMs);
        this.#all.add(conn);
        resolve(conn);
      };
      const onAbort = (): void => {
        clearTimeout(timer);
        socket.removeListener('connect', onConnect);
        socket.removeListener('error', done);
        socket.destroy();
        reject(new WeftError('WEFT_E_HTTP_CANCELLED', 'http1: the caller went away while connecting', { cause: cx.signal.reason, flags: { interrupted: true } }));
      };
      const timer = setTimeout(() => done(new Error(`no connection within ${this.#params.connectTimeoutMs} ms`)), this.#params.connectTimeoutMs);
      timer.unref();
      if (cx.signal.aborted) {
        onAbort();
        return;
      }
      cx.signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', done);
      if (socket.readyState === 'open') onConnect();
      else socket.once('connect', onConnect);
    });
  }

  release(conn: Http1ClientConnection): void {
    if (this.#closed || !conn.reusable || this.#retired.has(conn.key)) {
      conn.destroy();
      return;
    }
    let list = this.#idle.get(conn.key);
    if (list === undefined) {
      list = [];
      this.#idle.set(conn.key, list);
    }
    if (list.length >= this.#params.maxIdlePerEndpoint) {
      conn.destroy();
      return;
    }
    list.push(conn);
    conn.idleTimer = setTimeout(() => conn.destroy(), this.#params.idleTimeoutMs);
    conn.idleTimer.unref();
  }

  closed(conn: Http1ClientConnection): void {
    this.#all.delete(conn);
    if (this.#retired.has(conn.key) && ![...this.#all].some((c) => c.key === conn.key)) this.#retired.delete(conn.key);
    const list = this.#idle.get(conn.key);
    if (list === undefined) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#idle.delete(conn.key);
  }

  /** The endpoint left (the balancer closed its service): its idle connections go now, busy ones when done. */
  closeEndpoint(target: T): void {
    const key = this.#keyOf(target);
    // Busy connections finish their exchange, then close instead of idling for a gone endpoint.
    if ([...this.#all].some((c) => c.key === key)) this.#retired.add(key);
    const list = this.#idle.get(key);
    if (list === undefined) return;
    this.#idle.delete(key);
    for (const conn of list) conn.destroy();
  }

  /** Closes idle connections now and busy ones as their exchanges end. */
  close(): Promise<void> {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const conn of list) conn.destroy();
    this.#idle.clear();
    return Promise.resolve();
  }

  /** Destroys every connection, busy or not (agent stop). */
  destroy(): void {
    this.#closed = true;
    for (const conn of this.#all) conn.destroy();
    this.#idle.clear();
  }
}

function connectError(key: string, cause: unknown): WeftError {
  const what = cause instanceof Error ? cause.message : String(cause);
  return new WeftError('WEFT_E_HTTP_CONNECT', `http1: could not connect to ${key}: ${what}; nothing was sent, safe to retry`, {
    cause,
    flags: { retryable: true },
  });
}
