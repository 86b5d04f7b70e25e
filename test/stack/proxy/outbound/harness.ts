// A route stack on real sockets: scripted upstream HTTP servers on 127.0.0.1 that record what they
// saw (whole requests, and every request begun, with its cancellation), the outbound wiring
// (OutboundHttpRoutes + pools + serveHttp1) behind one listener per source pod, and requests sent
// to those listeners. `Cleanups` starts both and closes them after each test.
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { systemRandom } from '../../../../agent/balance/random.ts';
import type { EndpointTarget } from '../../../../agent/proxy/endpoint-client.ts';
import { connectTarget, targetKey } from '../../../../agent/proxy/endpoint-client.ts';
import type { HttpRequest, HttpResponse, RequestOrigin } from '../../../../agent/proxy/http/message.ts';
import { Http1Pool, http1PoolParams } from '../../../../agent/proxy/http1/pool.ts';
import { http1ServerParams, serveHttp1 } from '../../../../agent/proxy/http1/server-connection.ts';
import type { HttpRouteParams, HttpRoute } from '../../../../agent/proxy/outbound-http.ts';
import { httpRouteParams, OutboundHttpRoutes } from '../../../../agent/proxy/outbound-http.ts';
import type { CallContext, Service } from '../../../../agent/stack/service.ts';
import type { HttpMetrics } from '../../../../agent/telemetry/metrics.ts';
import { systemClock } from '../../../../agent/time/clock.ts';

/** What an upstream saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly bodyBytes: number;
  readonly at: number;
}

export type Behaviour = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A request the upstream saw begin (its head), and how it ended. */
export interface ArrivedRequest {
  readonly method: string;
  readonly url: string;
  readonly at: number;
  /** Body bytes received so far. */
  bodyBytes: number;
  /** The request body arrived whole. */
  complete: boolean;
  /** The connection closed before the response was written: the request was cancelled. */
  abortedAt: number | undefined;
}

export class Upstream {
  /** Requests whose body arrived whole, in order. */
  readonly seen: SeenRequest[] = [];
  /** Every request head, complete or not, in order. */
  readonly arrived: ArrivedRequest[] = [];
  behaviour: Behaviour;
  readonly server: HttpServer;
  port = 0;
  /** Responses being written now, and the most at once. */
  active = 0;
  maxActive = 0;

  constructor(behaviour: Behaviour) {
    this.behaviour = behaviour;
    this.server = createHttpServer((req, res) => {
      const arrived: ArrivedRequest = { method: req.method ?? '', url: req.url ?? '', at: performance.now(), bodyBytes: 0, complete: false, abortedAt: undefined };
      this.arrived.push(arrived);
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      res.on('close', () => {
        this.active--;
        if (!res.writableFinished) arrived.abortedAt = performance.now();
      });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        chunks.push(c);
        arrived.bodyBytes += c.length;
      });
      req.on('end', () => {
        arrived.complete = true;
        const body = Buffer.concat(chunks);
        this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: body.length, at: performance.now() });
        this.behaviour(req, res, body);
      });
    });
    this.server.keepAliveTimeout = 60_000;
  }

  /** Listens on `port` (0: any free one; a given one: to bring a closed endpoint back). */
  async start(port = 0): Promise<this> {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get endpoint(): { address: string; port: number } {
    return { address: '127.0.0.1', port: this.port };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export const ok = (status = 200, body = 'ok'): Behaviour => (_req, res) => {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

export const delayed = (ms: number, status = 200): Behaviour => (_req, res) => {
  const timer = setTimeout(() => ok(status)(_req, res, Buffer.alloc(0)), ms);
  res.on('close', () => clearTimeout(timer));
};

/** Records every metric call, so tests can assert what was counted. */
export class RecordingMetrics implements HttpMetrics {
  readonly events: string[] = [];
  request(authority: string): void {
    this.events.push(`request ${authority}`);
  }
  response(authority: string, _source: unknown, sample: { status: number; error: string | undefined }): void {
    this.events.push(`response ${authority} ${sample.status}${sample.error === undefined ? '' : ` ${sample.error}`}`);
  }
  retry(authority: string, outcome: string, reason: string): void {
    this.events.push(`${outcome} ${authority} ${reason}`);
  }
  shed(authority: string, scope: string): void {
    this.events.push(`shed ${authority} ${scope}`);
  }
  breaker(authority: string, endpoint: string, to: string, reason: string): void {
    this.events.push(`breaker ${authority} ${endpoint} ${to} ${reason}`);
  }
  detected(protocol: string, reason: string): void {
    this.events.push(`detected ${protocol} ${reason}`);
  }
  override(outcome: string): void {
    this.events.push(`override ${outcome}`);
  }
  count(prefix: string): number {
    return this.events.filter((e) => e.startsWith(prefix)).length;
  }
}

export const hostOrigin = (source = 'default/client-0'): RequestOrigin => ({
  source,
  clientAddress: '127.0.0.1',
  connect: (address, port) => connect({ host: address, port, allowHalfOpen: true }),
  poolKey: 'host',
});

/** Listeners serving HTTP/1.1 through one route of the outbound wiring, each for one source pod. */
export class ProxyUnderTest {
  readonly metrics = new RecordingMetrics();
  readonly routes: OutboundHttpRoutes;
  readonly pool: Http1Pool<EndpointTarget>;
  /** The first listener, for `origin`. */
  readonly server: Server;
  readonly servers: Server[] = [];
  readonly sockets = new Set<Socket>();
  readonly route: HttpRoute;
  port = 0;

  constructor(name: string, endpoints: ReadonlyArray<{ address: string; port: number }>, params: HttpRouteParams = httpRouteParams, origin: RequestOrigin = hostOrigin()) {
    this.pool = new Http1Pool<EndpointTarget>(http1PoolParams, { connector: connectTarget, keyOf: targetKey });
    this.routes = new OutboundHttpRoutes(params, { clock: systemClock, random: systemRandom, wallClock: Date.now, metrics: this.metrics, pools: { http1: this.pool, http2: this.pool } });
    this.route = this.routes.route(name, endpoints);
    this.server = this.#serverFor(origin);
  }

  #serverFor(origin: RequestOrigin): Server {
    const route = this.route;
    const entry: Service<HttpRequest, HttpResponse> = {
      call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
        req.origin = origin;
        return route.call(req, cx);
      },
    };
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      serveHttp1(socket, entry, http1ServerParams);
    });
    this.servers.push(server);
    return server;
  }

  async start(): Promise<this> {
    this.port = await listen(this.server);
    return this;
  }

  /** Another listener on the same route, whose requests come from `origin` (another source pod). */
  listenFor(origin: RequestOrigin): Promise<number> {
    return listen(this.#serverFor(origin));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await this.routes.close();
    this.pool.destroy();
    await Promise.all(this.servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Servers and proxies a test started, closed in reverse order after it (call `close` in afterEach). */
export class Cleanups {
  readonly #steps: Array<() => Promise<void>> = [];

  add(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  async upstream(behaviour: Behaviour = ok(), port = 0): Promise<Upstream> {
    const u = await new Upstream(behaviour).start(port);
    this.add(() => u.close());
    return u;
  }

  async proxy(endpoints: ReadonlyArray<Upstream | { address: string; port: number }>, params: HttpRouteParams = httpRouteParams, origin?: RequestOrigin): Promise<ProxyUnderTest> {
    const list = endpoints.map((e) => (e instanceof Upstream ? e.endpoint : e));
    const p = await new ProxyUnderTest(AUTHORITY, list, params, origin).start();
    this.add(() => p.close());
    return p;
  }

  async close(): Promise<void> {
    while (this.#steps.length > 0) await (this.#steps.pop() as () => Promise<void>)();
  }
}

/** The route name (and metrics authority) `Cleanups.proxy` uses. */
export const AUTHORITY = 'svc.default:80';

/** An address nothing listens on (a port just released); connecting to it is refused. */
export async function closedPort(): Promise<{ address: string; port: number }> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return { address: '127.0.0.1', port };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 5 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Route parameters with some parts replaced (each part merged one level deep). */
export function routeParams(over: {
  admission?: Partial<HttpRouteParams['admission']>;
  deadline?: Partial<HttpRouteParams['deadline']>;
  policy?: Partial<HttpRouteParams['retry']['policy']>;
  budget?: HttpRouteParams['retry']['budget'];
  balance?: Partial<HttpRouteParams['balance']>;
  accrual?: Partial<HttpRouteParams['accrual']>;
}): HttpRouteParams {
  const base = httpRouteParams;
  return {
    ...base,
    admission: { ...base.admission, ...over.admission },
    deadline: { ...base.deadline, ...over.deadline },
    retry: { policy: { ...base.retry.policy, ...over.policy }, budget: over.budget ?? base.retry.budget },
    balance: { ...base.balance, ...over.balance },
    accrual: { ...base.accrual, ...over.accrual },
  };
}

export interface ClientResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** One request through the proxy on a fresh connection (node:http, no agent). */
export async function send(port: number, options: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<ClientResponse> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
