// A route stack on real sockets: scripted upstream HTTP servers on 127.0.0.1, the outbound wiring
// (OutboundHttpRoutes + pools + serveHttp1) behind a listener, and requests sent to that listener.
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

export class Upstream {
  readonly seen: SeenRequest[] = [];
  behaviour: Behaviour;
  readonly server: HttpServer;
  port = 0;

  constructor(behaviour: Behaviour) {
    this.behaviour = behaviour;
    this.server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: body.length, at: performance.now() });
        this.behaviour(req, res, body);
      });
    });
    this.server.keepAliveTimeout = 60_000;
  }

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
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

/** A listener serving HTTP/1.1 through one route of the outbound wiring. */
export class ProxyUnderTest {
  readonly metrics = new RecordingMetrics();
  readonly routes: OutboundHttpRoutes;
  readonly pool: Http1Pool<EndpointTarget>;
  readonly server: Server;
  readonly sockets = new Set<Socket>();
  route: HttpRoute | undefined;
  port = 0;

  constructor(name: string, endpoints: ReadonlyArray<{ address: string; port: number }>, params: HttpRouteParams = httpRouteParams, origin: RequestOrigin = hostOrigin()) {
    this.pool = new Http1Pool<EndpointTarget>(http1PoolParams, { connector: connectTarget, keyOf: targetKey });
    this.routes = new OutboundHttpRoutes(params, { clock: systemClock, random: systemRandom, wallClock: Date.now, metrics: this.metrics, pools: { http1: this.pool, http2: this.pool } });
    const route = this.routes.route(name, endpoints);
    this.route = route;
    const entry: Service<HttpRequest, HttpResponse> = {
      call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
        req.origin = origin;
        return route.call(req, cx);
      },
    };
    this.server = createServer({ allowHalfOpen: true }, (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      serveHttp1(socket, entry, http1ServerParams);
    });
  }

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await this.routes.close();
    this.pool.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
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
