// Serves one accepted plain TCP socket as HTTP/2 with prior knowledge (h2c), on nghttp2 through
// node:http2. Each stream becomes the protocol-neutral HttpRequest; its response is written back with
// trailers (gRPC's status travels there). Flow control is nghttp2's: a request body whose consumer is
// full pauses the stream, so the client's window closes and weft holds at most a window per stream.
// nghttp2 enforces the frame-level limits (concurrency, header list size, invalid frames, PING and
// SETTINGS floods); this file adds what it lacks: the preface and idle timers and a windowed bound on
// client resets (rapid reset, CVE-2023-44487), answered with GOAWAY(ENHANCE_YOUR_CALM).
import type { Socket } from 'node:net';
import { constants, performServerHandshake, type ServerHttp2Session, type ServerHttp2Stream, type ServerOptions, type IncomingHttpHeaders } from 'node:http2';
import { WeftError } from '../../errors.ts';
import type { CallContext, Service } from '../../stack/service.ts';
import { HttpBody, type BodySink, type BodySource } from '../http/body.ts';
import { HttpHeaders } from '../http/headers.ts';
import { HttpRequest, HttpResponse, statusHasNoBody, type RequestOrigin } from '../http/message.ts';
import { errorResponse } from '../http/error-response.ts';
import { requestHeadOf, responseFields, trailerObject, trailersOf, type Http2Refusal } from './fields.ts';
import { http2ServerParams, validateHttp2ServerParams, type Http2ServerParams } from './params.ts';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM } = constants;

export interface Http2ServerDeps {
  /** Bytes protocol detection already read from the socket (the preface's start); replayed first. */
  readonly prefix?: Buffer;
  /** "http" unless the client says otherwise in :scheme. */
  readonly scheme?: string;
  /** Set on every request (who sent it, how to reach the next hop from its namespace). */
  readonly origin?: RequestOrigin;
  /** The service failed a request; for logs and metrics (the client got a 502/503/504). */
  readonly onServiceError?: (error: unknown) => void;
}

// Node's session options, built once per params object: every accepted socket shares them.
const optionsCache = new WeakMap<Http2ServerParams, ServerOptions>();

function sessionOptions(params: Http2ServerParams): ServerOptions {
  let options = optionsCache.get(params);
  if (options === undefined) {
    validateHttp2ServerParams(params);
    options = {
      settings: { maxConcurrentStreams: params.maxConcurrentStreams, maxHeaderListSize: params.maxHeaderListSize, enablePush: false },
      maxHeaderListPairs: params.maxHeaderListPairs,
      maxSessionInvalidFrames: params.maxSessionInvalidFrames,
      maxSessionRejectedStreams: params.maxSessionRejectedStreams,
      maxOutstandingPings: params.maxOutstandingPings,
      maxSettings: params.maxSettings,
      maxSessionMemory: params.maxSessionMemoryMb,
      streamResetBurst: params.streamResetBurst,
      streamResetRate: params.streamResetRate,
    };
    optionsCache.set(params, options);
  }
  return options;
}

// The exchange rides on its stream under a symbol, so one set of module-level handlers serves every
// stream (no closures per request): `this` is the stream, the exchange is one property away.
const EXCHANGE = Symbol('weft.http2.server-exchange');
type TaggedStream = ServerHttp2Stream & { [EXCHANGE]?: ServerExchange | undefined };

function onStreamData(this: TaggedStream, chunk: Buffer): void {
  this[EXCHANGE]?.requestData(chunk);
}
function onStreamTrailers(this: TaggedStream, _headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  const ex = this[EXCHANGE];
  if (ex !== undefined) ex.requestTrailers = trailersOf(raw);
}
function onStreamEnd(this: TaggedStream): void {
  // Node ends the readable side of a reset stream too; only a clean END_STREAM ends the body ('close' fails it).
  if (this.rstCode === NGHTTP2_NO_ERROR) this[EXCHANGE]?.requestEnd();
}
function onStreamDrain(this: TaggedStream): void {
  this[EXCHANGE]?.response?.body.resume();
}
function onWantTrailers(this: TaggedStream): void {
  const ex = this[EXCHANGE];
  // Empty trailers make Node end the stream with an empty DATA frame (END_STREAM), not a HEADERS frame.
  this.sendTrailers(trailerObject(ex?.responseTrailers));
}
function onStreamError(this: TaggedStream): void {
  // 'close' follows; a stream reset by the client is ordinary.
}
function onStreamClose(this: TaggedStream): void {
  const ex = this[EXCHANGE];
  this[EXCHANGE] = undefined;
  ex?.closed();
}

/** One stream, from its HEADERS to the end of its response. */
class ServerExchange implements BodySource, BodySink {
  readonly conn: Http2ServerConnection;
  readonly stream: TaggedStream;
  readonly controller = new AbortController();
  readonly headRequest: boolean;
  body: HttpBody;
  requestTrailers: HttpHeaders | undefined;
  requestDone = false;
  /** The service no longer wants the request body: what still arrives is dropped. */
  bodyAbandoned = false;
  response: HttpResponse | undefined;
  responseTrailers: HttpHeaders | undefined;
  /** The response was answered: the head is owed once the body shows whether it has content. */
  headPending = false;
  responseEnded = false;
  /** weft reset the stream (a broken response body); not counted as a client reset. */
  resetByUs = false;

  constructor(conn: Http2ServerConnection, stream: TaggedStream, method: string) {
    this.conn = conn;
    this.stream = stream;
    this.headRequest = method === 'HEAD';
    this.body = HttpBody.empty();
  }

  // ---- the request body (BodySource) ----

  requestData(chunk: Buffer): void {
    if (this.bodyAbandoned) return;
    if (!this.body.push(chunk)) this.stream.pause();
  }

  requestEnd(): void {
    this.requestDone = true;
    this.body.end(this.requestTrailers);
  }

  resume(): void {
    this.stream.resume();
  }

  cancel(): void {
    if (this.requestDone) return;
    // HTTP/2 cannot skip a body without resetting the stream, and a reset could overtake the
    // response still queued; the rest is read and dropped, a window at a time.
    this.bodyAbandoned = true;
    this.stream.resume();
  }

  // ---- the response ----

  readonly onResponse = (res: HttpResponse): void => {
    const stream = this.stream;
    if (stream.destroyed || stream.closed || this.response !== undefined) {
      res.body.cancel(new Error('the client reset the stream'));
      return;
    }
    this.response = res;
    if (this.headRequest || statusHasNoBody(res.status)) {
      this.#respond(res, true, false);
      res.body.cancel(new Error('response has no content'));
      this.#ended();
      return;
    }
    this.headPending = true;
    // pipeTo delivers at once what the body already holds: an ended, empty body comes back as one
    // HEADERS frame with END_STREAM (what gRPC calls trailers-only); else the head goes now.
    res.body.pipeTo(this);
    if (this.headPending) {
      this.headPending = false;
      this.#respond(res, false, true);
    }
  };

  readonly onFailure = (error: unknown): void => {
    this.conn.serviceError(error);
    if (this.response === undefined) this.onResponse(errorResponse(error));
    else this.reset();
  };

  #respond(res: HttpResponse, endStream: boolean, waitForTrailers: boolean): void {
    try {
      this.stream.respond(responseFields(res, this.headRequest), { endStream, waitForTrailers });
    } catch {
      // The stream closed under us (client reset); 'close' cleans up.
    }
  }

  onData(chunk: Buffer): boolean {
    if (this.headPending) {
      this.headPending = false;
      this.#respond(this.response as HttpResponse, false, true);
    }
    if (this.stream.destroyed) return false;
    return this.stream.write(chunk);
  }

  onEnd(trailers: HttpHeaders | undefined): void {
    const stream = this.stream;
    if (this.headPending) {
      this.headPending = false;
      if (trailers === undefined || trailers.size === 0) {
        this.#respond(this.response as HttpResponse, true, false);
        this.#ended();
        return;
      }
      this.#respond(this.response as HttpResponse, false, true);
    }
    this.responseTrailers = trailers;
    if (!stream.destroyed) stream.end();
    this.#ended();
  }

  onError(): void {
    // A response body that broke must look broken to the client, not short.
    this.reset();
  }

  reset(): void {
    this.resetByUs = true;
    const error = new WeftError('WEFT_E_HTTP2_RESPONSE_BROKEN', 'http2: the response could not be completed');
    this.controller.abort(error);
    // destroy(), not close(): close() first ends our side with an empty END_STREAM DATA frame, and
    // the client would take the cut response as whole before the RST_STREAM(INTERNAL_ERROR) arrives.
    if (!this.stream.destroyed) this.stream.destroy(error);
  }

  #ended(): void {
    this.responseEnded = true;
    // Answered before the request ended, and nobody reads the rest: drop it as it comes so the
    // client's window stays open and its stream can end. (A reset with NO_ERROR, RFC 9113 §8.1,
    // could overtake trailers still queued behind the last DATA frame.)
    if (!this.requestDone && !this.body.attached) this.body.cancel(new Error('answered without the request body'));
  }

  closed(): void {
    const clientReset = !this.responseEnded && !this.resetByUs;
    if (clientReset || !this.requestDone) {
      const reason = new WeftError('WEFT_E_HTTP2_CLIENT_RESET', 'http2: the client reset the stream or closed the session', {
        flags: { interrupted: true },
      });
      // A request body cut short must not look whole to whoever still reads it.
      if (!this.requestDone) this.body.fail(reason);
      if (clientReset) {
        this.controller.abort(reason);
        this.response?.body.cancel(reason);
      }
    }
    this.conn.streamClosed(clientReset && this.stream.rstCode !== NGHTTP2_NO_ERROR);
  }
}

export class Http2ServerConnection {
  readonly socket: Socket;
  readonly session: ServerHttp2Session;
  readonly #service: Service<HttpRequest, HttpResponse>;
  readonly #params: Http2ServerParams;
  readonly #scheme: string;
  readonly #origin: RequestOrigin | undefined;
  readonly #onServiceError: ((error: unknown) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #preface = true;
  #prefaceSteps = 0;
  #open = 0;
  #resets = 0;
  #resetWindowStart = 0;
  #closed = false;
  /** Streams served; for tests and /status. */
  streams = 0;
  /** Why weft closed the session, if it did (for tests and /status). */
  closeReason: string | undefined;

  constructor(socket: Socket, service: Service<HttpRequest, HttpResponse>, params: Http2ServerParams = http2ServerParams, deps: Http2ServerDeps = {}) {
    const options = sessionOptions(params);
    this.socket = socket;
    this.#service = service;
    this.#params = params;
    this.#scheme = deps.scheme ?? 'http';
    this.#origin = deps.origin;
    this.#onServiceError = deps.onServiceError;
    socket.setNoDelay(true);
    // Node's session reads what is buffered on the socket before its own reads: the detected prefix
    // goes back there, in front of the rest of the preface.
    if (deps.prefix !== undefined && deps.prefix.length > 0) socket.unshift(deps.prefix);
    const session = performServerHandshake(socket, options);
    this.session = session;
    session.on('stream', this.#onStream);
    session.once('remoteSettings', this.#onPrefaceStep);
    session.once('localSettings', this.#onPrefaceStep);
    session.on('error', this.#onSessionError);
    session.on('close', this.#onSessionClose);
    // node:http2 does not watch for the client's FIN, and weft's sockets are half-open capable: a
    // client that finished sending (curl exiting, a channel shut down) gets the streams in progress
    // finished, then the session closes, instead of the socket lingering half-open.
    socket.once('end', this.#onClientEnd);
    // A connection that sends no preface and SETTINGS in time is closed: a silent socket costs
    // nothing to open and a session to keep (the HTTP/1.1 header timeout's counterpart).
    this.#arm(params.prefaceTimeoutMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Open streams. */
  get openStreams(): number {
    return this.#open;
  }

  /** GOAWAY(NO_ERROR): streams in progress finish, new ones are refused, then the session closes. */
  close(): void {
    if (!this.session.closed) this.session.close();
  }

  /** Closes at once; streams in progress are aborted. */
  destroy(): void {
    this.session.destroy();
    this.socket.destroy();
  }

  readonly #onStream = (stream: ServerHttp2Stream, _headers: IncomingHttpHeaders, flags: number, raw: string[]): void => {
    this.streams++;
    this.#open++;
    // Streams may start before the preface is done; the preface timer keeps running until it is.
    if (this.#open === 1 && !this.#preface) this.#disarm();
    const tagged = stream as TaggedStream;
    stream.on('close', onStreamClose);
    stream.on('error', onStreamError);
    const head = requestHeadOf(raw, this.#scheme, this.#params.maxHeaderListSize);
    const method = head.status !== undefined ? 'GET' : head.method;
    const ex = new ServerExchange(this, tagged, method);
    tagged[EXCHANGE] = ex;
    stream.on('drain', onStreamDrain);
    stream.on('wantTrailers', onWantTrailers);
    if (head.status !== undefined) {
      ex.requestDone = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      ex.bodyAbandoned = true;
      stream.on('data', onStreamData);
      stream.on('end', onStreamEnd);
      ex.onResponse(refusal(head));
      return;
    }
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      ex.requestDone = true;
      // Nothing will arrive; reading lets Node finish the readable side.
      stream.resume();
    } else {
      ex.body = new HttpBody(head.length, ex);
      stream.on('data', onStreamData);
      stream.on('trailers', onStreamTrailers);
      stream.on('end', onStreamEnd);
    }
    const req = new HttpRequest(head.method, head.scheme, head.authority, head.path, head.headers, ex.body);
    req.protocol = 'HTTP/2';
    req.origin = this.#origin;
    const cx: CallContext = { deadline: undefined, signal: ex.controller.signal };
    let promise: Promise<HttpResponse>;
    try {
      promise = this.#service.call(req, cx);
    } catch (error) {
      promise = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    promise.then(ex.onResponse, ex.onFailure);
  };

  serviceError(error: unknown): void {
    this.#onServiceError?.(error);
  }

  /** A stream closed; `clientReset`: the client reset it before its response was complete. */
  streamClosed(clientReset: boolean): void {
    this.#open--;
    if (clientReset && !this.#closed && !this.session.closed) {
      const now = performance.now();
      if (now - this.#resetWindowStart > this.#params.clientResetWindowMs) {
        this.#resetWindowStart = now;
        this.#resets = 0;
      }
      if (++this.#resets > this.#params.maxClientResetsPerWindow) {
        this.closeReason = 'WEFT_E_HTTP2_RAPID_RESET';
        // GOAWAY with ENHANCE_YOUR_CALM, then the socket goes: no new stream is read from this client.
        // (Node sends the code only when destroy() is given an error too.)
        this.session.destroy(
          new WeftError('WEFT_E_HTTP2_RAPID_RESET', `http2: the client reset more than ${this.#params.maxClientResetsPerWindow} streams in ${this.#params.clientResetWindowMs} ms; session closed`),
          NGHTTP2_ENHANCE_YOUR_CALM,
        );
        return;
      }
    }
    if (this.#open === 0 && !this.#closed && !this.#preface) this.#arm(this.#params.idleTimeoutMs);
  }

  // The preface is done when the client's SETTINGS arrived and it acknowledged ours: nghttp2 applies
  // our limits (header list size, window) only from that ACK, so a client that never sends it is
  // cut off at prefaceTimeoutMs rather than served without them.
  readonly #onPrefaceStep = (): void => {
    if (++this.#prefaceSteps < 2) return;
    this.#preface = false;
    if (this.#open === 0) this.#arm(this.#params.idleTimeoutMs);
    else this.#disarm();
  };

  readonly #onClientEnd = (): void => {
    this.close();
  };

  readonly #onSessionError = (): void => {
    // Protocol errors and floods: nghttp2 sent its GOAWAY; 'close' follows.
  };

  readonly #onSessionClose = (): void => {
    this.#closed = true;
    this.#disarm();
    if (!this.socket.destroyed) this.socket.destroy();
  };

  #arm(ms: number): void {
    this.#disarm();
    this.#timer = setTimeout(this.#onTimer, ms);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#preface) {
      this.closeReason = 'WEFT_E_HTTP2_PREFACE_TIMEOUT';
      this.destroy();
      return;
    }
    if (this.#open > 0) return;
    this.closeReason = 'WEFT_E_HTTP2_IDLE';
    this.close();
  };
}

/** A request the transport cannot hand on, answered without the service. */
function refusal(r: Http2Refusal): HttpResponse {
  const headers = new HttpHeaders();
  headers.addTrusted('l5d-proxy-error', r.code);
  headers.addTrusted('content-type', 'text/plain; charset=utf-8');
  return new HttpResponse(r.status, headers, HttpBody.from(`${r.message}\n`));
}

/** Serves `socket` (already connected, h2c with prior knowledge) until its session closes. */
export function serveHttp2(
  socket: Socket,
  service: Service<HttpRequest, HttpResponse>,
  params: Http2ServerParams = http2ServerParams,
  deps: Http2ServerDeps = {},
): Http2ServerConnection {
  return new Http2ServerConnection(socket, service, params, deps);
}
