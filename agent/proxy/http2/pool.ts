// HTTP/2 sessions to endpoints: one multiplexed session per key carries every request to it, as
// linkerd2-proxy's h2 client does. A new session is opened when none is usable: none yet, the last one
// closed or got GOAWAY, or every one is at the concurrency the server advertised. Sockets come from
// the injected connector (host or in-pod), so the pool never dials by itself. The exchange state lives
// on one object per request, hung on its stream for module-level event handlers (no closures per event).
import type { Socket } from 'node:net';
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type Settings,
} from 'node:http2';
import { WeftError } from '../../errors.ts';
import type { CallContext, NewService, Service } from '../../stack/service.ts';
import { HttpBody, type BodySink, type BodySource } from '../http/body.ts';
import type { HttpHeaders } from '../http/headers.ts';
import { HttpResponse, statusHasNoBody, type HttpRequest } from '../http/message.ts';
import { PoolEndpointService } from '../http/pool-endpoint.ts';
import { requestFields, responseHeadersOf, trailerObject, trailersOf } from './fields.ts';
import { validateHttp2PoolParams, type Http2PoolParams } from './params.ts';

export { http2PoolParams, type Http2PoolParams } from './params.ts';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = constants;

/** Opens a socket to `target` (it may still be connecting). */
export type Connector<T> = (target: T) => Socket;

export interface Http2PoolDeps<T> {
  readonly connector: Connector<T>;
  /** The pool key of a target: one session (or more, past the server's stream limit) per key. */
  readonly keyOf: (target: T) => string;
}

// The URL only names the session; the socket is the connector's and :authority is set per request.
const SESSION_URL = 'http://weft-upstream.invalid';
const MAX_STREAMS = 2 ** 31 - 1;

/** One upstream session and what the pool knows of it. */
class PooledSession {
  readonly pool: Http2Pool<unknown>;
  readonly key: string;
  readonly session: ClientHttp2Session;
  /** Streams open or reserved by requests waiting for the connect. */
  active = 0;
  /** The server's SETTINGS_MAX_CONCURRENT_STREAMS (until it arrives: the params' guess). */
  maxStreams: number;
  connected = false;
  /** GOAWAY received or closed: no new streams. */
  draining = false;
  /** The last stream the server said it processed in its GOAWAY; later ones were never seen. */
  goawayLastStreamId = MAX_STREAMS;
  lastError: unknown;
  idleTimer: NodeJS.Timeout | undefined;
  /** Callers waiting for the connect. */
  waiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  connectTimer: NodeJS.Timeout | undefined;

  constructor(pool: Http2Pool<unknown>, key: string, session: ClientHttp2Session, maxStreams: number) {
    this.pool = pool;
    this.key = key;
    this.session = session;
    this.maxStreams = maxStreams;
    session.on('remoteSettings', this.#onRemoteSettings);
    session.on('goaway', this.#onGoaway);
    session.on('error', this.#onError);
    session.on('close', this.#onClose);
  }

  get usable(): boolean {
    return !this.draining && !this.session.closed && !this.session.destroyed && this.active < this.maxStreams;
  }

  // The server's SETTINGS is the first frame it must send (RFC 9113 §3.4): the session is up, and
  // only now is its stream limit known, so callers wait for this rather than for the TCP connect.
  readonly #onRemoteSettings = (settings: Settings): void => {
    const max = settings.maxConcurrentStreams;
    this.maxStreams = max === undefined ? MAX_STREAMS : Math.min(max, MAX_STREAMS);
    if (this.connected) return;
    this.connected = true;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
  };

  readonly #onGoaway = (_code: number, lastStreamId: number): void => {
    this.draining = true;
    this.goawayLastStreamId = lastStreamId;
    this.pool.forget(this);
  };

  readonly #onError = (error: unknown): void => {
    this.lastError = error;
  };

  readonly #onClose = (): void => {
    this.draining = true;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.pool.forget(this);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(connectError(this.key, this.lastError ?? new Error('the session closed')));
  };

  readonly onIdle = (): void => {
    this.idleTimer = undefined;
    if (this.active === 0) this.session.close();
  };
}

const EXCHANGE = Symbol('weft.http2.client-exchange');
type TaggedStream = ClientHttp2Stream & { [EXCHANGE]?: ClientExchange | undefined };

function onResponse(this: TaggedStream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number, raw: string[]): void {
  this[EXCHANGE]?.response(Number(headers[':status']), flags, raw);
}
function onData(this: TaggedStream, chunk: Buffer): void {
  const ex = this[EXCHANGE];
  if (ex?.responseBody !== undefined && !ex.responseBody.push(chunk)) this.pause();
}
function onTrailers(this: TaggedStream, _headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  const ex = this[EXCHANGE];
  if (ex !== undefined) ex.responseTrailers = trailersOf(raw);
}
function onEnd(this: TaggedStream): void {
  const ex = this[EXCHANGE];
  // Node ends the readable side of a reset stream too; only a clean END_STREAM ends the body ('close' fails it).
  if (ex === undefined || ex.failure !== undefined || this.rstCode !== NGHTTP2_NO_ERROR) return;
  ex.responseDone = true;
  ex.responseBody?.end(ex.responseTrailers);
}
function onDrain(this: TaggedStream): void {
  this[EXCHANGE]?.requestBody.resume();
}
function onWantTrailers(this: TaggedStream): void {
  // Empty trailers end the stream with an empty DATA frame.
  this.sendTrailers(trailerObject(this[EXCHANGE]?.requestTrailers));
}
function onStreamError(this: TaggedStream, error: unknown): void {
  const ex = this[EXCHANGE];
  if (ex !== undefined) ex.streamError = error;
}
function onClose(this: TaggedStream): void {
  const ex = this[EXCHANGE];
  this[EXCHANGE] = undefined;
  ex?.closed();
}

/** One request on a session. */
class ClientExchange implements BodySink, BodySource {
  readonly entry: PooledSession;
  readonly requestBody: HttpBody;
  readonly signal: AbortSignal;
  readonly headRequest: boolean;
  stream: TaggedStream | undefined;
  resolve: ((res: HttpResponse) => void) | undefined;
  reject: ((error: unknown) => void) | undefined;
  requestTrailers: HttpHeaders | undefined;
  requestDone = false;
  responseBody: HttpBody | undefined;
  responseTrailers: HttpHeaders | undefined;
  responseDone = false;
  streamError: unknown;
  /** Why weft ended the exchange itself (caller gone, request body broken). */
  failure: unknown;

  constructor(entry: PooledSession, req: HttpRequest, cx: CallContext) {
    this.entry = entry;
    this.requestBody = req.body;
    this.signal = cx.signal;
    this.headRequest = req.method === 'HEAD';
  }

  start(req: HttpRequest): Promise<HttpResponse> {
    const promise = new Promise<HttpResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    const bodiless = req.body.length === 0;
    let stream: TaggedStream;
    try {
      // With the caller's signal, Node resets the stream with CANCEL on abort and, unlike close(),
      // without first ending our side: the upstream never takes a cut request body as whole.
      stream = this.entry.session.request(requestFields(req), { endStream: bodiless, waitForTrailers: !bodiless, signal: this.signal });
    } catch (error) {
      // The session went away between the pick and the request: nothing was sent.
      this.#settle(new WeftError('WEFT_E_HTTP2_NOT_SENT', `http2: the session to ${this.entry.key} closed before the request was sent; safe to retry`, {
        cause: error,
        flags: { retryable: true },
      }));
      this.entry.pool.streamDone(this.entry);
      return promise;
    }
    this.stream = stream;
    stream[EXCHANGE] = this;
    stream.on('response', onResponse);
    stream.on('data', onData);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    stream.on('drain', onDrain);
    stream.on('wantTrailers', onWantTrailers);
    stream.on('error', onStreamError);
    stream.on('close', onClose);
    this.signal.addEventListener('abort', this.#onAbort);
    if (bodiless) {
      this.requestDone = true;
    } else {
      try {
        req.body.pipeTo(this);
      } catch (error) {
        this.#abandon(new WeftError('WEFT_E_HTTP_BODY_CONSUMED', 'http2: the request body was already read and cannot be sent again', { cause: error }));
      }
    }
    return promise;
  }

  // ---- BodySink: the request body, written upstream ----

  onData(chunk: Buffer): boolean {
    const stream = this.stream;
    if (stream === undefined || stream.destroyed) return false;
    return stream.write(chunk);
  }

  onEnd(trailers: HttpHeaders | undefined): void {
    this.requestDone = true;
    this.requestTrailers = trailers;
    const stream = this.stream;
    if (stream !== undefined && !stream.destroyed) stream.end();
  }

  onError(error: unknown): void {
    // The request body broke (its client went away): the upstream must not take it as whole.
    this.#abandon(new WeftError('WEFT_E_HTTP_REQUEST_BODY', 'http2: the request body failed while being sent upstream', { cause: error, flags: { interrupted: true } }));
  }

  // ---- BodySource: the response body, read by the caller ----

  resume(): void {
    this.stream?.resume();
  }

  cancel(reason: unknown): void {
    if (!this.responseDone) this.#abandon(reason);
  }

  // ---- stream events ----

  response(status: number, flags: number, raw: string[]): void {
    const resolve = this.resolve;
    if (resolve === undefined) return;
    this.resolve = this.reject = undefined;
    const ended = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    const bodiless = this.headRequest || statusHasNoBody(status);
    const { headers, length } = responseHeadersOf(raw, bodiless);
    let body: HttpBody;
    if (ended) {
      // A trailers-only answer (gRPC's status in the only HEADERS frame): an ended, empty body.
      this.responseDone = true;
      body = HttpBody.empty();
    } else {
      body = new HttpBody(bodiless ? undefined : length, this);
      this.responseBody = body;
    }
    resolve(new HttpResponse(status, headers, body));
  }

  closed(): void {
    this.signal.removeEventListener('abort', this.#onAbort);
    const stream = this.stream as TaggedStream;
    if (this.reject !== undefined || !this.responseDone) {
      const error = this.failure ?? this.#streamFailure(stream);
      this.#settle(error);
      if (!this.responseDone) this.responseBody?.fail(error);
    }
    if (!this.requestDone) this.requestBody.cancel(new Error('the upstream stream closed'));
    this.entry.pool.streamDone(this.entry);
  }

  #streamFailure(stream: TaggedStream): WeftError {
    const code = stream.rstCode;
    const id = stream.id ?? 0;
    const cause = this.streamError ?? this.entry.lastError;
    // REFUSED_STREAM, or a GOAWAY whose last processed stream is before this one, or a session gone
    // before the stream was even opened: the server did not act on the request (RFC 9113 §8.7).
    if (code === NGHTTP2_REFUSED_STREAM || id === 0 || id > this.entry.goawayLastStreamId) {
      return new WeftError('WEFT_E_HTTP2_REFUSED_STREAM', `http2: ${this.entry.key} refused the stream or went away before processing it; safe to retry`, {
        cause,
        flags: { retryable: true },
      });
    }
    if (this.responseBody === undefined) {
      return new WeftError('WEFT_E_HTTP2_STREAM_RESET', `http2: ${this.entry.key} reset the stream (code ${code}) before responding`, { cause });
    }
    return new WeftError('WEFT_E_HTTP2_STREAM_RESET', `http2: ${this.entry.key} reset the stream (code ${code}) inside the response body`, { cause });
  }

  readonly #onAbort = (): void => {
    const reason: unknown = this.signal.reason;
    this.#abandon(
      reason instanceof WeftError
        ? reason
        : new WeftError('WEFT_E_HTTP_CANCELLED', 'http2: the caller went away; the upstream stream was cancelled', { cause: reason, flags: { interrupted: true } }),
    );
  };

  /** weft ends the exchange: RST_STREAM upstream; 'close' settles with `error`. */
  #abandon(error: unknown): void {
    this.failure ??= error;
    const stream = this.stream;
    if (stream === undefined || stream.destroyed) return;
    // close() ends our side (END_STREAM) before its RST_STREAM: fine once the request is sent, but a
    // request body cut short must not look complete, so then the stream is destroyed (INTERNAL_ERROR).
    if (this.requestDone) stream.close(NGHTTP2_CANCEL);
    else stream.destroy(error instanceof Error ? error : new Error(String(error)));
  }

  #settle(error: unknown): void {
    const reject = this.reject;
    this.resolve = this.reject = undefined;
    reject?.(error);
  }
}

export class Http2Pool<T> {
  readonly #params: Http2PoolParams;
  readonly #connector: Connector<T>;
  readonly #keyOf: (target: T) => string;
  /** Sessions still taking new streams, per key. */
  readonly #sessions = new Map<string, PooledSession[]>();
  readonly #all = new Set<PooledSession>();
  #closed = false;
  /** Sessions opened so far, for tests and /status. */
  connects = 0;

  constructor(params: Http2PoolParams, deps: Http2PoolDeps<T>) {
    validateHttp2PoolParams(params);
    this.#params = params;
    this.#connector = deps.connector;
    this.#keyOf = deps.keyOf;
  }

  /** Open sessions, connecting or connected, draining included. */
  get size(): number {
    return this.#all.size;
  }

  /** Sends `req` to `target` on a shared session (opened if needed). */
  async request(target: T, req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    if (this.#closed) throw new WeftError('WEFT_E_HTTP_POOL_CLOSED', 'http2: the connection pool is closed', { flags: { rejected: true } });
    if (cx.signal.aborted) throw cancelled(cx.signal.reason);
    const key = this.#keyOf(target);
    for (;;) {
      const entry = this.#pick(key) ?? this.#open(target, key);
      entry.active++;
      if (entry.idleTimer !== undefined) {
        clearTimeout(entry.idleTimer);
        entry.idleTimer = undefined;
      }
      if (!entry.connected) {
        try {
          await waitConnected(entry, cx);
        } catch (error) {
          this.streamDone(entry);
          throw error;
        }
        if (entry.maxStreams === 0) {
          this.streamDone(entry);
          throw new WeftError('WEFT_E_HTTP2_REFUSED_STREAM', `http2: ${key} allows no streams (SETTINGS_MAX_CONCURRENT_STREAMS 0); safe to retry later`, {
            flags: { retryable: true },
          });
        }
        // More callers waited on this session than its SETTINGS allow: the surplus picks again
        // (another session) instead of being refused by the server.
        if (entry.active > entry.maxStreams) {
          this.streamDone(entry);
          continue;
        }
      }
      return new ClientExchange(entry, req, cx).start(req);
    }
  }

  /** One Service per endpoint, for the balancer (NewService). */
  readonly service: NewService<T, Service<HttpRequest, HttpResponse>> = (target: T) => new PoolEndpointService(this, target);

  #pick(key: string): PooledSession | undefined {
    const list = this.#sessions.get(key);
    if (list === undefined) return undefined;
    for (const entry of list) if (entry.usable) return entry;
    return undefined;
  }

  #open(target: T, key: string): PooledSession {
    const params = this.#params;
    let socket: Socket;
    try {
      socket = this.#connector(target);
    } catch (error) {
      throw connectError(key, error);
    }
    socket.setNoDelay(true);
    const session = connect(SESSION_URL, {
      settings: { enablePush: false, maxHeaderListSize: params.maxHeaderListSize },
      peerMaxConcurrentStreams: params.initialMaxConcurrentStreams,
      maxSessionMemory: params.maxSessionMemoryMb,
      createConnection: () => socket,
    });
    this.connects++;
    const entry = new PooledSession(this as Http2Pool<unknown>, key, session, params.initialMaxConcurrentStreams);
    entry.connectTimer = setTimeout(() => {
      entry.lastError = new Error(`no session within ${params.connectTimeoutMs} ms`);
      session.destroy();
    }, params.connectTimeoutMs);
    entry.connectTimer.unref();
    this.#all.add(entry);
    let list = this.#sessions.get(key);
    if (list === undefined) {
      list = [];
      this.#sessions.set(key, list);
    }
    list.push(entry);
    return entry;
  }

  /** A stream of `entry` ended (or never started): an unused session waits idleTimeoutMs, then goes. */
  streamDone(entry: PooledSession): void {
    entry.active--;
    if (entry.active > 0 || entry.session.closed || entry.session.destroyed) return;
    if (this.#closed || entry.draining) {
      entry.session.close();
      return;
    }
    entry.idleTimer = setTimeout(entry.onIdle, this.#params.idleTimeoutMs);
    entry.idleTimer.unref();
  }

  /** The session takes no new streams (GOAWAY, closed). */
  forget(entry: PooledSession): void {
    if (entry.session.closed || entry.session.destroyed) this.#all.delete(entry);
    const list = this.#sessions.get(entry.key);
    if (list === undefined) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#sessions.delete(entry.key);
  }

  /** The endpoint left: its sessions finish their streams and close. */
  closeEndpoint(target: T): void {
    const key = this.#keyOf(target);
    const list = this.#sessions.get(key);
    if (list === undefined) return;
    this.#sessions.delete(key);
    for (const entry of list) {
      entry.draining = true;
      entry.session.close();
    }
  }

  /** GOAWAY to every session: streams in progress finish, then the sessions close. */
  close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#all) {
      entry.draining = true;
      entry.session.close();
    }
    this.#sessions.clear();
    return Promise.resolve();
  }

  /** Destroys every session, busy or not (agent stop). */
  destroy(): void {
    this.#closed = true;
    for (const entry of this.#all) entry.session.destroy();
    this.#sessions.clear();
  }
}

function waitConnected(entry: PooledSession, cx: CallContext): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      const i = entry.waiters.indexOf(waiter);
      if (i >= 0) entry.waiters.splice(i, 1);
      reject(cancelled(cx.signal.reason));
    };
    const waiter = {
      resolve: (): void => {
        cx.signal.removeEventListener('abort', onAbort);
        resolve();
      },
      reject: (error: Error): void => {
        cx.signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    };
    entry.waiters.push(waiter);
    cx.signal.addEventListener('abort', onAbort, { once: true });
  });
}

function cancelled(reason: unknown): WeftError {
  if (reason instanceof WeftError) return reason;
  return new WeftError('WEFT_E_HTTP_CANCELLED', 'http2: the caller went away', { cause: reason, flags: { interrupted: true } });
}

function connectError(key: string, cause: unknown): WeftError {
  const what = cause instanceof Error ? cause.message : String(cause);
  return new WeftError('WEFT_E_HTTP2_CONNECT', `http2: could not open a session to ${key}: ${what}; nothing was sent, safe to retry`, {
    cause,
    flags: { retryable: true },
  });
}
