// The admin routes as a table: exact paths, one handler per method. Later issues add /metrics,
// /explain and the HTML page by registering here, without touching the server. Knowing every
// path is also what lets the server answer 405 with an Allow header instead of a bare 404.
import type { IncomingHttpHeaders } from 'node:http';
import { WeftError } from '../errors.ts';

export interface AdminRequest {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The request body as text, for methods that carry one (PUT, POST); empty for GET and HEAD. */
  readonly body?: string;
}

/** Where a streaming answer writes: the response, after its head (chunked). */
export interface AdminStreamSink {
  /** Writes a chunk; false when the client's buffer is full (wait for 'drain' before the next). */
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
  readonly writableLength: number;
}

export interface AdminResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
  /**
   * A streaming answer (tap): written after the head, chunked, until it resolves; `signal` aborts
   * when the client goes away or the server closes. `body` is ignored then.
   */
  readonly stream?: (sink: AdminStreamSink, signal: AbortSignal) => Promise<void>;
}

export type AdminHandler = (request: AdminRequest) => AdminResponse | Promise<AdminResponse>;

export type RouteMatch =
  | { readonly kind: 'found'; readonly handler: AdminHandler }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

export class AdminRouter {
  readonly #routes = new Map<string, Map<string, AdminHandler>>();

  /** Registers a GET route; HEAD is answered by the same handler (node:http drops the body). */
  get(path: string, handler: AdminHandler): this {
    this.route('GET', path, handler);
    return this.route('HEAD', path, handler);
  }

  route(method: string, path: string, handler: AdminHandler): this {
    if (!path.startsWith('/')) throw new WeftError('WEFT_E_ADMIN_ROUTE', `admin route path must start with "/": ${path}`);
    const methods = this.#routes.get(path) ?? new Map<string, AdminHandler>();
    const upper = method.toUpperCase();
    // Two parts claiming one route is a wiring bug; failing at start-up beats one silently winning.
    if (methods.has(upper)) throw new WeftError('WEFT_E_ADMIN_ROUTE', `admin route ${upper} ${path} is registered twice`);
    methods.set(upper, handler);
    this.#routes.set(path, methods);
    return this;
  }

  match(method: string, path: string): RouteMatch {
    const methods = this.#routes.get(path);
    if (methods === undefined) return { kind: 'not-found' };
    const handler = methods.get(method.toUpperCase());
    if (handler !== undefined) return { kind: 'found', handler };
    return { kind: 'method-not-allowed', allow: [...methods.keys()] };
  }

  /** Registered paths, sorted: shown in 404 answers so a typo finds its way. */
  paths(): string[] {
    return [...this.#routes.keys()].sort();
  }
}

const commonHeaders = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

/** JSON body; bigints (cgroup ids, cookies) become decimal strings instead of throwing. */
export function jsonResponse(status: number, value: unknown, options: { pretty?: boolean; headers?: Record<string, string> } = {}): AdminResponse {
  const body = JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner), options.pretty === true ? 2 : undefined);
  return { status, headers: { ...commonHeaders, 'content-type': 'application/json; charset=utf-8', ...options.headers }, body: `${body ?? 'null'}\n` };
}

export function textResponse(status: number, text: string, contentType = 'text/plain; charset=utf-8'): AdminResponse {
  return { status, headers: { ...commonHeaders, 'content-type': contentType }, body: text };
}
