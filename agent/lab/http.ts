// Drivers for the HTTP workloads: an HTTP/1.1 + h2c server in one pod that reports every request
// it sees, and a client that lives in another pod (so a meshed pod's requests go through weft)
// and makes requests, scripted sequences and fixed-rate loads when asked. The server's behaviour
// is scripted per request by query or `x-lab-*` headers (see workloads/http-server.ts) and
// globally by `setMode`.
import type { LabPod } from './pod.ts';
import { StdioWorkload, WorkloadDriver } from './stdio-workload.ts';
import type {
  HttpClientEvent,
  HttpLoadSummary,
  HttpOutcome,
  HttpProtocol,
  HttpRequestSpec,
  HttpResponseReport,
  HttpServerEvent,
  HttpServerMode,
} from './workloads/protocol.ts';

export type { HttpLoadSummary, HttpOutcome, HttpProtocol, HttpServerMode } from './workloads/protocol.ts';

export interface HttpServerOptions {
  /** HTTP/1.1 and h2c both (told apart by the HTTP/2 preface); default 0 (the kernel picks; see `port`). */
  readonly port?: number;
  /** h2c (prior knowledge) only; default 0 (see `h2cPort`). */
  readonly h2cPort?: number;
  /** Default 0.0.0.0. */
  readonly host?: string;
  readonly startTimeoutMs?: number;
}

type RequestLine = Extract<HttpServerEvent, { event: 'request' }>;
type EndLine = Extract<HttpServerEvent, { event: 'request-end' }>;
type ConnectionLine = Extract<HttpServerEvent, { event: 'connection' }>;

export type HttpRequestEnd = Omit<EndLine, 'event' | 'id'>;
/** A request as the server saw it; `end` once the exchange is over. */
export type HttpRequestSeen = Omit<RequestLine, 'event'> & { readonly end: HttpRequestEnd | undefined };
export type HttpConnectionSeen = Omit<ConnectionLine, 'event'>;

export class HttpServer extends WorkloadDriver<HttpServerEvent> {
  readonly port: number;
  readonly h2cPort: number;

  static async start(pod: LabPod, options: HttpServerOptions = {}): Promise<HttpServer> {
    const workload = await StdioWorkload.start<HttpServerEvent>({
      pod,
      name: 'http-server',
      args: ['--port', String(options.port ?? 0), '--h2c-port', String(options.h2cPort ?? 0), '--host', options.host ?? '0.0.0.0'],
      what: `http server in pod ${pod.name}`,
      ready: (e) => e.event === 'listening',
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    });
    return new HttpServer(workload);
  }

  private constructor(workload: StdioWorkload<HttpServerEvent>) {
    super(workload);
    const listening = workload.events.find((e) => e.event === 'listening');
    this.port = listening?.port ?? 0;
    this.h2cPort = listening?.h2cPort ?? 0;
  }

  /** The port for `protocol`: `port` for http/1.1, `h2cPort` for h2. */
  portFor(protocol: HttpProtocol): number {
    return protocol === 'h2' ? this.h2cPort : this.port;
  }

  /** Every request whose head arrived so far, oldest first (`_control` requests are not listed). */
  get requests(): readonly HttpRequestSeen[] {
    const ends = new Map<number, HttpRequestEnd>();
    for (const e of this.workload.events) {
      if (e.event === 'request-end') {
        const { event: _event, id, ...end } = e;
        ends.set(id, end);
      }
    }
    const out: HttpRequestSeen[] = [];
    for (const e of this.workload.events) {
      if (e.event !== 'request') continue;
      const { event: _event, ...seen } = e;
      out.push({ ...seen, end: ends.get(e.id) });
    }
    return out;
  }

  get connections(): readonly HttpConnectionSeen[] {
    return this.workload.events.flatMap((e) => {
      if (e.event !== 'connection') return [];
      const { event: _event, ...seen } = e;
      return [seen];
    });
  }

  /** The first request (seen already or still to come) matching `predicate`, once its head arrived. */
  waitForRequest(predicate: (r: HttpRequestSeen) => boolean = () => true, timeoutMs = 5000): Promise<HttpRequestSeen> {
    return this.workload.until(() => this.requests.find(predicate), timeoutMs, 'a matching request');
  }

  /** The first request matching `predicate` whose exchange has ended (answered, reset or abandoned). */
  waitForRequestEnd(predicate: (r: HttpRequestSeen) => boolean = () => true, timeoutMs = 5000): Promise<HttpRequestSeen & { readonly end: HttpRequestEnd }> {
    return this.workload.until(
      () => this.requests.find((r): r is HttpRequestSeen & { end: HttpRequestEnd } => r.end !== undefined && predicate(r)),
      timeoutMs,
      'the end of a matching request',
    );
  }

  /** Resolves once `count` requests matching `predicate` have arrived; with them. */
  waitForRequests(count: number, predicate: (r: HttpRequestSeen) => boolean = () => true, timeoutMs = 5000): Promise<readonly HttpRequestSeen[]> {
    return this.workload.until(
      () => {
        const matching = this.requests.filter(predicate);
        return matching.length >= count ? matching : undefined;
      },
      timeoutMs,
      `${count} matching requests`,
    );
  }

  /** Changes what every later request gets (see HttpServerMode); resolves once the server has it. */
  async setMode(mode: HttpServerMode, timeoutMs = 5000): Promise<void> {
    await this.ask({ op: 'mode', mode }, 'mode', timeoutMs, `the ack of mode ${mode.mode}`);
  }
}

export interface HttpRequestOptions {
  readonly host: string;
  readonly port: number;
  /** Default http/1.1. */
  readonly protocol?: HttpProtocol;
  /** Default GET. */
  readonly method?: string;
  /** Path with query; default "/". */
  readonly path?: string;
  /** `host` sets the Host header (h1) or :authority (h2). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** Instead of `body`: this many generated bytes. */
  readonly bodyBytes?: number;
  /** The client gives up (reports `timeout`) after this long; default 5000 ms. */
  readonly timeoutMs?: number;
  /** A fresh connection instead of the pooled one. */
  readonly newConnection?: boolean;
}

export type HttpResponse = Omit<HttpResponseReport, 'body'> & {
  /** The first 64 KiB of the body. */
  readonly body: Buffer;
};

export interface HttpLoadOptions extends HttpRequestOptions {
  /** Requests per second, sent on schedule whatever happened to earlier ones (open loop). */
  readonly rate: number;
  readonly durationMs: number;
  /** Slots that find this many requests outstanding are skipped (counted); default 1000. */
  readonly maxInFlight?: number;
  /** Also collect every response's status, outcome and latency. */
  readonly each?: boolean;
}

export interface HttpLoadResponse {
  readonly seq: number;
  readonly status: number | null;
  readonly how: HttpOutcome;
  readonly latencyMs: number;
  readonly sentMs: number;
}

export type HttpLoadResult = HttpLoadSummary & { readonly responses: readonly HttpLoadResponse[] };

/** Time allowed for a report on top of the request's own timeout. */
const REPORT_SLACK_MS = 5000;

export class HttpClient extends WorkloadDriver<HttpClientEvent> {
  static async start(pod: LabPod, options: { readonly startTimeoutMs?: number } = {}): Promise<HttpClient> {
    const workload = await StdioWorkload.start<HttpClientEvent>({
      pod,
      name: 'http-client',
      what: `http client in pod ${pod.name}`,
      ready: (e) => e.event === 'ready',
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    });
    return new HttpClient(workload);
  }

  private constructor(workload: StdioWorkload<HttpClientEvent>) {
    super(workload);
  }

  /** One request from inside the pod. Resolves with whatever happened (a reset or timeout is a result); rejects only if the client fails. */
  async request(options: HttpRequestOptions): Promise<HttpResponse> {
    const request = spec(options);
    const line = await this.ask({ op: 'request', request }, 'response', request.timeoutMs + REPORT_SLACK_MS, `the response to ${request.method} ${request.host}:${request.port}${request.path}`);
    const { event: _event, id: _id, body, ...rest } = line;
    return { ...rest, body: Buffer.from(body, 'base64') };
  }

  /** The requests one after another, each sent once the previous one ended. */
  async sequence(requests: readonly HttpRequestOptions[]): Promise<HttpResponse[]> {
    const out: HttpResponse[] = [];
    for (const options of requests) out.push(await this.request(options));
    return out;
  }

  /** A fixed-rate load from inside the pod; resolves with the summary once every request has ended. */
  async load(options: HttpLoadOptions): Promise<HttpLoadResult> {
    const request = spec(options);
    const summary = await this.ask(
      { op: 'load', request, rate: options.rate, durationMs: options.durationMs, maxInFlight: options.maxInFlight ?? 1000, each: options.each === true },
      'load-summary',
      options.durationMs + request.timeoutMs + REPORT_SLACK_MS,
      `the summary of the load on ${request.host}:${request.port}${request.path}`,
    );
    const responses = this.workload.events.flatMap((e) => {
      if (e.event !== 'load-response' || e.id !== summary.id) return [];
      const { event: _event, id: _id, ...response } = e;
      return [response];
    });
    const { event: _event, id: _id, ...rest } = summary;
    return { ...rest, responses };
  }
}

function spec(options: HttpRequestOptions): HttpRequestSpec {
  return {
    protocol: options.protocol ?? 'http/1.1',
    host: options.host,
    port: options.port,
    method: options.method ?? 'GET',
    path: options.path ?? '/',
    headers: options.headers ?? {},
    body: options.body === undefined ? '' : Buffer.from(options.body).toString('base64'),
    bodyBytes: options.bodyBytes ?? 0,
    timeoutMs: options.timeoutMs ?? 5000,
    newConnection: options.newConnection === true,
  };
}

export function startHttpServer(pod: LabPod, options: HttpServerOptions = {}): Promise<HttpServer> {
  return HttpServer.start(pod, options);
}

export function startHttpClient(pod: LabPod, options: { readonly startTimeoutMs?: number } = {}): Promise<HttpClient> {
  return HttpClient.start(pod, options);
}
