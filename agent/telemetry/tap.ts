// Tap: every finished request of the route stack, published on node:diagnostics_channel as undici
// publishes its own (`weft:proxy:request` when a request enters a route, `weft:proxy:response` when
// it has its answer or failed). Nothing is built unless someone subscribes (`hasSubscribers` is
// checked first), so the request path pays one property read per request while nobody taps.
// Subscribers: `GET /tap` on the admin port (admin/tap.ts, `weft tap`) and the access log.
//
// The trace id is the one of the proxy's span when the tracing layer made one, else the caller's
// from `traceparent` / `b3` / `x-b3-*`, read with the tracing module's parser.
import { channel } from 'node:diagnostics_channel';
import type { HttpHeaders } from '../proxy/http/headers.ts';
import type { HttpRequest } from '../proxy/http/message.ts';
import { extract } from './tracing/propagation.ts';

export const TAP_REQUEST_CHANNEL = 'weft:proxy:request';
export const TAP_RESPONSE_CHANNEL = 'weft:proxy:response';

export const requestChannel = channel(TAP_REQUEST_CHANNEL);
export const responseChannel = channel(TAP_RESPONSE_CHANNEL);

/** What `weft:proxy:request` carries: a snapshot, never the live request. */
export interface ProxyRequestEvent {
  /** Per agent process, increasing: pairs a request with its response. */
  readonly id: number;
  /** When the request entered its route (ISO 8601). */
  readonly time: string;
  /** The source pod, "namespace/name" (or an address when the pod is unknown). */
  readonly source: string;
  /** Host / :authority as the client sent it. */
  readonly authority: string;
  /** The concrete backend naming chose (the route's metrics authority). */
  readonly route: string;
  readonly dstNamespace: string;
  readonly dstService: string;
  readonly method: string;
  readonly path: string;
  readonly protocol: string;
  readonly traceId: string | undefined;
}

/** What `weft:proxy:response` carries. */
export interface ProxyResponseEvent extends ProxyRequestEvent {
  readonly status: number;
  readonly grpcStatus: number | undefined;
  readonly classification: 'success' | 'failure';
  /** To the response head (or the failure), in milliseconds. */
  readonly durationMs: number;
  /** The endpoint of the last attempt, `ip:port`, when one was picked. */
  readonly upstream: string | undefined;
  /** weft's error code when it answered itself (l5d-proxy-error). */
  readonly error: string | undefined;
}

let nextId = 0;
export function nextTapId(): number {
  nextId = nextId >= Number.MAX_SAFE_INTEGER ? 1 : nextId + 1;
  return nextId;
}

/** Endpoint of each request's latest attempt; set by the route's endpoint stack only while tapped. */
const upstreams = new WeakMap<HttpRequest, string>();

export function noteUpstream(req: HttpRequest, endpoint: string): void {
  if (responseChannel.hasSubscribers) upstreams.set(req, endpoint);
}

export function upstreamOf(req: HttpRequest): string | undefined {
  return upstreams.get(req);
}

/**
 * The trace id a request carries, by the tracing module's parser (W3C traceparent first, then B3
 * single, then B3 multi); a 64-bit B3 id is given as sent, not padded.
 */
export function traceIdOf(headers: HttpHeaders): string | undefined {
  const incoming = extract(headers);
  if (incoming.kind !== 'parent') return undefined;
  return incoming.shortTraceId ? incoming.parent.traceId.slice(16) : incoming.parent.traceId;
}

// ---- Filters (GET /tap, `weft tap`) ----------------------------------------------------------

export type StatusMatch = { readonly kind: 'exact'; readonly status: number } | { readonly kind: 'class'; readonly hundreds: number };

export interface TapFilter {
  /** Matches the Host as sent, the Host without its port, or the route (e.g. `shop/web:http`). */
  readonly authority?: string;
  readonly method?: string;
  /** A path prefix, starting with "/". */
  readonly path?: string;
  readonly status?: StatusMatch;
  /** `ns/pod`, or `ns` (every pod of the namespace). */
  readonly source?: string;
  /** Stop after this many matching events. */
  readonly max?: number;
}

export type TapFilterResult = { readonly kind: 'ok'; readonly filter: TapFilter } | { readonly kind: 'error'; readonly reason: string };

export const TAP_MAX_LIMIT = 1_000_000;
const KNOWN_KEYS = new Set(['authority', 'method', 'path', 'status', 'source', 'max']);
const NAME = '[a-z0-9]([-a-z0-9.]*[a-z0-9])?';

/** Parses a tap filter from query parameters; every problem is a reason a person can act on. */
export function parseTapFilter(query: URLSearchParams): TapFilterResult {
  const filter: { -readonly [K in keyof TapFilter]: TapFilter[K] } = {};
  const seen = new Set<string>();
  for (const [key, value] of query) {
    if (!KNOWN_KEYS.has(key)) return { kind: 'error', reason: `unknown filter "${key}": use authority, method, path, status, source, max` };
    if (seen.has(key)) return { kind: 'error', reason: `${key} is given twice` };
    seen.add(key);
    if (value === '') return { kind: 'error', reason: `${key} is empty` };
    switch (key) {
      case 'authority':
        if (value.length > 1024 || /[\s\0]/.test(value)) return { kind: 'error', reason: 'authority must be a host[:port] or a route name of at most 1024 characters, without spaces' };
        filter.authority = value.toLowerCase();
        break;
      case 'method':
        if (!/^[A-Za-z]{1,32}$/.test(value)) return { kind: 'error', reason: `method must be an HTTP method such as GET, got ${JSON.stringify(value)}` };
        filter.method = value.toUpperCase();
        break;
      case 'path':
        if (!value.startsWith('/') || value.length > 2048) return { kind: 'error', reason: `path must be a prefix starting with "/", got ${JSON.stringify(value)}` };
        filter.path = value;
        break;
      case 'status': {
        const match = /^([1-5])(?:([0-9]{2})|xx)$/i.exec(value);
        if (match === null) return { kind: 'error', reason: `status must be a code (503) or a class (5xx), got ${JSON.stringify(value)}` };
        filter.status = match[2] === undefined ? { kind: 'class', hundreds: Number(match[1]) } : { kind: 'exact', status: Number(value) };
        break;
      }
      case 'source':
        if (!new RegExp(`^${NAME}(/(${NAME})?)?$`).test(value)) return { kind: 'error', reason: `source must be namespace/pod or namespace, got ${JSON.stringify(value)}` };
        filter.source = value.endsWith('/') ? value.slice(0, -1) : value;
        break;
      case 'max': {
        const max = /^[0-9]{1,7}$/.test(value) ? Number(value) : NaN;
        if (!(max >= 1 && max <= TAP_MAX_LIMIT)) return { kind: 'error', reason: `max must be a whole number from 1 to ${TAP_MAX_LIMIT}, got ${JSON.stringify(value)}` };
        filter.max = max;
        break;
      }
    }
  }
  return { kind: 'ok', filter };
}

export function tapMatches(filter: TapFilter, event: ProxyResponseEvent): boolean {
  if (filter.method !== undefined && event.method.toUpperCase() !== filter.method) return false;
  if (filter.path !== undefined && !event.path.startsWith(filter.path)) return false;
  if (filter.status !== undefined) {
    const status = filter.status;
    if (status.kind === 'exact' ? event.status !== status.status : Math.floor(event.status / 100) !== status.hundreds) return false;
  }
  if (filter.source !== undefined) {
    const source = filter.source;
    if (source.includes('/') ? event.source !== source : !event.source.startsWith(`${source}/`)) return false;
  }
  if (filter.authority !== undefined) {
    const wanted = filter.authority;
    const host = event.authority.toLowerCase();
    if (host !== wanted && hostWithoutPort(host) !== wanted && event.route.toLowerCase() !== wanted) return false;
  }
  return true;
}

function hostWithoutPort(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end < 0 ? authority : authority.slice(0, end + 1);
  }
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}

// ---- A bounded subscription ------------------------------------------------------------------

export interface TapSubscriptionParams {
  /** Events held for a reader that has not taken them yet; past it, events are dropped (counted). */
  readonly buffer: number;
}

export const tapSubscriptionParams: TapSubscriptionParams = { buffer: 1024 };

/**
 * Matching response events, held in a bounded buffer for a reader that takes them when it can: the
 * request path only ever pushes (or drops) and never waits for a reader.
 */
export class TapSubscription {
  readonly #filter: TapFilter;
  readonly #params: TapSubscriptionParams;
  readonly #buffer: ProxyResponseEvent[] = [];
  readonly #onMessage = (message: unknown): void => this.#push(message as ProxyResponseEvent);
  #wake: (() => void) | undefined;
  #matched = 0;
  #closed = false;
  /** Events that matched while the buffer was full. */
  dropped = 0;

  constructor(filter: TapFilter, params: TapSubscriptionParams = tapSubscriptionParams) {
    this.#filter = filter;
    this.#params = params;
    responseChannel.subscribe(this.#onMessage);
  }

  /** Matching events accepted so far (delivered or buffered, not dropped). */
  get matched(): number {
    return this.#matched;
  }

  /** All `max` events have been accepted (or the subscription was closed). */
  get done(): boolean {
    return this.#closed || (this.#filter.max !== undefined && this.#matched >= this.#filter.max);
  }

  /** Takes what is buffered now. */
  take(): ProxyResponseEvent[] {
    return this.#buffer.splice(0, this.#buffer.length);
  }

  /** Resolves when an event is buffered, the subscription ends, or `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    if (this.#buffer.length > 0 || this.done || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.#wake = undefined;
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    responseChannel.unsubscribe(this.#onMessage);
    this.#wakeReader();
  }

  #push(event: ProxyResponseEvent): void {
    if (this.done || !tapMatches(this.#filter, event)) return;
    if (this.#buffer.length >= this.#params.buffer) {
      this.dropped++;
      return;
    }
    this.#matched++;
    this.#buffer.push(event);
    // Once max is reached nothing more can match: stop costing the request path anything.
    if (this.done) responseChannel.unsubscribe(this.#onMessage);
    this.#wakeReader();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
