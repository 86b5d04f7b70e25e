// Serves one accepted client socket as HTTP/1.1: reads requests with the strict codec, hands each to
// the route stack as the protocol-neutral model, and writes the responses back in order with framing
// of its own. One request at a time (as hyper's server does): the next pipelined head is parsed only
// once the current response is written, so responses are in order by construction and a pipelining
// client can make weft hold at most one socket read of unparsed bytes.
//
// Upgrade (RFC 9110 §7.8, e.g. WebSocket) and CONNECT (§9.3.6) go through the service like any
// request, with HttpRequest.upgrade set. Bytes the client sends after such a request are held, never
// parsed, until the answer is known: a 101 (a 2xx to CONNECT) with a tunnel makes them the first
// bytes of the tunnel and the connection stops being HTTP; any other answer declines, and they are
// the next request (after a declined CONNECT the connection closes: they were meant for a tunnel).
import type { Socket } from 'node:net';
import { WeftError } from '../../errors.ts';
import type { CallContext, Service } from '../../stack/service.ts';
import { HttpBody, type BodySink, type BodySource } from '../http/body.ts';
import type { HttpHeaders } from '../http/headers.ts';
import { statusHasNoBody, type HttpRequest, type HttpResponse } from '../http/message.ts';
import { errorResponse } from '../http/error-response.ts';
import { chunkHeader, CRLF } from './chunked-encoder.ts';
import type { Http1Head } from './head.ts';
import {
  CHUNKED,
  declaredLength,
  encodeLastChunk,
  encodeResponseHead,
  encodeSwitchHead,
  NO_BODY,
  requestOf,
  trailersOf,
  UNTIL_CLOSE,
  type WireFraming,
} from './http1-transport-head.ts';
import { MessageReader } from './message-reader.ts';
import { http1Params, type Http1Params } from './params.ts';
import { refusalResponse } from './refusal-response.ts';
import { rejection, type Http1Rejection } from './rejection.ts';
import { spliceTunnel, type TunnelResult } from './tunnel.ts';

export interface Http1ServerParams {
  /** From the first byte of a head to its blank line; past it → 408 and close (slowloris). */
  readonly headerTimeoutMs: number;
  /** A keep-alive connection with no request in progress is closed quietly after this. */
  readonly idleTimeoutMs: number;
  /**
   * A client that shuts down its sending side while a request is outstanding has gone away (it
   * cannot be told apart from a half-close on the socket): abort the request, as nginx and haproxy's
   * abortonclose do, so an upstream is not held for nobody. false: answer what it sent, then close.
   * Not behind a whole CONNECT or upgrade request: there the FIN is carried into the tunnel.
   */
  readonly abortOnClientClose: boolean;
  readonly http1: Http1Params;
}

export const http1ServerParams: Http1ServerParams = {
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  abortOnClientClose: true,
  http1: http1Params,
};

export function validateHttp1ServerParams(params: Http1ServerParams): void {
  for (const name of ['headerTimeoutMs', 'idleTimeoutMs'] as const) {
    const value = params[name];
    if (!(Number.isFinite(value) && value > 0)) {
      throw new WeftError('WEFT_E_HTTP_PARAMS', `http1 server ${name} must be a positive number of milliseconds, got ${value}`);
    }
  }
}

export interface Http1ServerDeps {
  /** "http", or "https" when the socket is TLS (the scheme the requests are given). */
  readonly scheme?: string;
  /** The service failed a request; for logs and metrics (the client got a 502/503/504). */
  readonly onServiceError?: (error: unknown) => void;
  /** A tunnel (after a 101 or a 2xx to CONNECT) ended; for logs and metrics. */
  readonly onTunnelEnd?: (result: TunnelResult) => void;
}

const TIMEOUT_RESPONSE = Buffer.from(
  'HTTP/1.1 408 Request Timeout\r\nl5d-proxy-error: WEFT_E_HTTP_HEADER_TIMEOUT\r\ncontent-type: text/plain; charset=utf-8\r\n' +
    'content-length: 40\r\nconnection: close\r\n\r\nthe request head did not arrive in time\n',
  'latin1',
);
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** One request on the connection, from its head to the end of its response. */
class Exchange implements BodySource, BodySink {
  readonly conn: Http1ServerConnection;
  readonly method: string;
  readonly minor: number;
  readonly keepAlive: boolean;
  readonly expectContinue: boolean;
  /** HttpRequest.upgrade: the protocols asked for, 'CONNECT', or undefined for a plain request. */
  upgrade: string | undefined = undefined;
  readonly body: HttpBody;
  readonly controller = new AbortController();
  /** The reader reached the end of the request body. */
  requestDone = false;
  /** The service no longer wants the request body (or answered without it): close after the response. */
  bodyAbandoned = false;
  continueSent = false;
  responseStarted = false;
  responseDone = false;
  close = false;
  framing: WireFraming = NO_BODY;
  written = 0;
  response: HttpResponse | undefined;

  constructor(conn: Http1ServerConnection, head: Http1Head) {
    this.conn = conn;
    this.method = head.method;
    this.minor = head.minor;
    this.keepAlive = head.keepAlive;
    this.expectContinue = head.expectContinue;
    this.body = new HttpBody(declaredLength(head), this);
  }

  // BodySource: the request body's consumer.
  resume(): void {
    this.conn.resumeReading();
  }
  cancel(): void {
    // A bodiless request loses nothing when its (empty) body is not read.
    if (this.body.length === 0) return;
    this.bodyAbandoned = true;
    this.conn.resumeReading();
  }
  demand(): void {
    // RFC 9110 §10.1.1: the client waits for 100 before sending content; send it only once someone
    // actually reads the body, so a request answered without its body never uploads it.
    if (this.expectContinue && !this.continueSent && !this.responseStarted && !this.requestDone) {
      this.continueSent = true;
      this.conn.write(CONTINUE);
    }
  }

  // BodySink: the response body, written to the client.
  onData(chunk: Buffer): boolean {
    return this.conn.writeBody(this, chunk);
  }
  onEnd(trailers: HttpHeaders | undefined): void {
    this.conn.endBody(this, trailers);
  }
  onError(error: unknown): void {
    this.conn.abort(error);
  }
}

function uncork(socket: Socket): void {
  socket.uncork();
}

export class Http1ServerConnection {
  readonly socket: Socket;
  readonly #service: Service<HttpRequest, HttpResponse>;
  readonly #params: Http1ServerParams;
  readonly #scheme: string;
  readonly #onServiceError: ((error: unknown) => void) | undefined;
  readonly #reader: MessageReader;
  #current: Exchange | undefined;
  /** Bytes read and not yet parsed while the current exchange holds the reader. */
  #pending: Buffer | undefined;
  #pendingPos = 0;
  #readPaused = false;
  #timer: NodeJS.Timeout | undefined;
  /** What the armed timer means: a head is in progress (408) or the connection is idle (quiet close). */
  #timerIsHead = false;
  #closed = false;
  /** Closing after a last response: what the client still sends is read and dropped, so its close is seen. */
  #discarding = false;
  /** The client shut down its sending side: answer what is in progress, then close. */
  #peerEnded = false;
  /** The connection switched to a tunnel: the socket belongs to the splice now. */
  #switched = false;
  readonly #onTunnelEnd: ((result: TunnelResult) => void) | undefined;
  /** Requests served; for tests and /status. */
  requests = 0;

  constructor(socket: Socket, service: Service<HttpRequest, HttpResponse>, params: Http1ServerParams = http1ServerParams, deps: Http1ServerDeps = {}) {
    validateHttp1ServerParams(params);
    this.socket = socket;
    this.#service = service;
    this.#params = params;
    this.#scheme = deps.scheme ?? 'http';
    this.#onServiceError = deps.onServiceError;
    this.#onTunnelEnd = deps.onTunnelEnd;
    this.#reader = new MessageReader('request', params.http1);
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('drain', this.#onDrain);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    // A new connection that sends nothing gets the header timeout, not the idle one: holding fresh
    // connections open for free is the cheapest slowloris. It is closed quietly (no head, no 408).
    this.#arm(false, params.headerTimeoutMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The connection carries a tunnel now (after a 101 or a 2xx to CONNECT). */
  get switched(): boolean {
    return this.#switched;
  }

  /** Closes at once; the request in progress is aborted. */
  destroy(): void {
    this.socket.destroy();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#discarding) return;
    if (this.#pending !== undefined) {
      // Bytes behind an unfinished exchange: keep them whole, in order (bounded by pausing the socket).
      this.#pending = Buffer.concat([this.#pending.subarray(this.#pendingPos), chunk]);
      this.#pendingPos = 0;
      this.#pauseReading();
      return;
    }
    this.#feed(chunk, 0);
  };

  #feed(buf: Buffer, pos: number): void {
    const reader = this.#reader;
    for (;;) {
      if (this.#closed || this.#discarding) return;
      const ex = this.#current;
      // The request is read; the next head waits for its response. Or its body's consumer is full.
      if (ex !== undefined && (ex.requestDone || this.#readPaused)) {
        if (pos < buf.length) {
          this.#pending = buf;
          this.#pendingPos = pos;
          this.#pauseReading();
        }
        return;
      }
      const step = reader.next(buf, pos);
      switch (step) {
        case 'head':
          pos = reader.offset;
          this.#start(reader.head as Http1Head);
          break;
        case 'data':
          pos = reader.offset;
          if (ex !== undefined && !ex.bodyAbandoned && !ex.body.push(buf.subarray(reader.dataStart, reader.dataEnd))) this.#pauseReading();
          break;
        case 'end':
          pos = reader.offset;
          if (ex !== undefined) {
            ex.requestDone = true;
            ex.body.end(trailersOf(reader.trailers));
            if (ex.responseDone) this.#next(ex);
          }
          break;
        case 'more':
          if (this.#current === undefined && reader.headBytesPending > 0 && !this.#timerIsHead) this.#arm(true);
          return;
        case 'tunnel':
          // Unreachable: a CONNECT's exchange is read at its head, and its bytes are held, never
          // parsed, until the switch or the close after a refusal.
          this.socket.destroy();
          return;
        case 'error':
          this.#refuse(reader.rejection as Http1Rejection);
          return;
      }
    }
  }

  #start(head: Http1Head): void {
    this.#disarm();
    this.requests++;
    const ex = new Exchange(this, head);
    const req = requestOf(head, ex.body, this.#scheme);
    if (req === undefined) {
      // HTTP/1.0 without Host: nothing to route on.
      this.#refuse(rejection('WEFT_E_HTTP1_MISSING_HOST', 'request'));
      return;
    }
    ex.upgrade = req.upgrade;
    if (head.body === 'tunnel') {
      // A CONNECT has no content: the request is whole at its head, and what follows waits.
      ex.requestDone = true;
      ex.body.end();
    }
    this.#current = ex;
    const cx: CallContext = { deadline: undefined, signal: ex.controller.signal };
    let promise: Promise<HttpResponse>;
    try {
      promise = this.#service.call(req, cx);
    } catch (error) {
      promise = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    promise.then(
      (res) => this.#respond(ex, res),
      (error: unknown) => this.#failed(ex, error),
    );
  }

  #failed(ex: Exchange, error: unknown): void {
    this.#onServiceError?.(error);
    if (this.#closed || ex.responseStarted) {
      this.socket.destroy();
      return;
    }
    this.#respond(ex, errorResponse(error));
  }

  #respond(ex: Exchange, res: HttpResponse): void {
    if (this.#closed || ex !== this.#current || ex.responseStarted) {
      res.body.cancel(new Error('client connection closed'));
      res.tunnel?.destroy();
      return;
    }
    const tunnel = res.tunnel;
    if (ex.upgrade !== undefined && (ex.upgrade === 'CONNECT' ? res.status >= 200 && res.status < 300 : res.status === 101)) {
      if (tunnel !== undefined && ex.requestDone) {
        this.#switch(ex, res, tunnel);
        return;
      }
      // A switch with nothing to switch to (a layer made the answer up), or before the request was
      // read (its remaining body would land in the tunnel): the client cannot be given it.
      tunnel?.destroy();
      res.body.cancel(new Error('switch refused'));
      this.#respond(ex, errorResponse(new WeftError('WEFT_E_HTTP_BAD_SWITCH', `http1: a ${res.status} to ${ex.upgrade === 'CONNECT' ? 'CONNECT' : 'an upgrade'} came ${tunnel === undefined ? 'without a tunnel' : 'before the request was read'}`)));
      return;
    }
    if (tunnel !== undefined || res.status === 101) {
      // A switch the client did not ask for: it would read the tunnel's bytes as HTTP.
      tunnel?.destroy();
      res.body.cancel(new Error('switch refused'));
      this.#respond(ex, errorResponse(new WeftError('WEFT_E_HTTP_UNEXPECTED_TUNNEL', `http1: a ${res.status} with a tunnel answers a request that asked for no switch`)));
      return;
    }
    ex.responseStarted = true;
    ex.response = res;
    const bodiless = ex.method === 'HEAD' || statusHasNoBody(res.status);
    const length = res.body.length;
    ex.framing = bodiless ? NO_BODY : length !== undefined ? length : ex.minor === 1 ? CHUNKED : UNTIL_CLOSE;
    // A request body not yet read (answered early, or abandoned) leaves bytes we would have to
    // skip to find the next head; closing is simpler and what clients expect after an early answer.
    // A declined CONNECT closes too: the bytes after it were sent for a tunnel, not as a request.
    ex.close =
      (this.#peerEnded && this.#pending === undefined) ||
      !ex.keepAlive ||
      ex.framing === UNTIL_CLOSE ||
      (!ex.requestDone && !ex.body.attached) ||
      ex.bodyAbandoned ||
      ex.upgrade === 'CONNECT';
    // RFC 9112 §9.3: an HTTP/1.0 client keeps the connection only if told to.
    // Corked until the end of this tick, as node:http does: the head and whatever of the body is
    // already here leave in one write (a syscall each was the largest cost in the profile).
    this.socket.cork();
    process.nextTick(uncork, this.socket);
    this.socket.write(encodeResponseHead(res, ex.framing, ex.close ? 'close' : ex.minor === 0 ? 'keep-alive' : undefined));
    if (bodiless) {
      res.body.cancel(new Error('response has no content'));
      this.#finish(ex);
      return;
    }
    res.body.pipeTo(ex);
  }

  /**
   * The service accepted the switch: write its head, then the socket is the tunnel's. The bytes the
   * client sent after its request (held in #pending, never parsed) are the tunnel's first; the
   * socket's own listeners go, so nothing reads it as HTTP again.
   */
  #switch(ex: Exchange, res: HttpResponse, tunnel: NonNullable<HttpResponse['tunnel']>): void {
    ex.responseStarted = true;
    ex.responseDone = true;
    ex.response = res;
    res.body.cancel(new Error('a switching response has no content'));
    this.#switched = true;
    this.#closed = true;
    this.#current = undefined;
    this.#disarm();
    const socket = this.socket;
    socket.off('data', this.#onData);
    socket.off('drain', this.#onDrain);
    socket.off('end', this.#onEnd);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    const early = this.#pending?.subarray(this.#pendingPos);
    this.#pending = undefined;
    this.#readPaused = false;
    socket.write(encodeSwitchHead(res));
    const onTunnelEnd = this.#onTunnelEnd;
    const done = spliceTunnel(socket, tunnel, early);
    if (onTunnelEnd !== undefined) void done.then(onTunnelEnd);
  }

  /** BodySink.onData of the current exchange's response. */
  writeBody(ex: Exchange, chunk: Buffer): boolean {
    if (this.#closed || chunk.length === 0) return !this.#closed;
    ex.written += chunk.length;
    if (ex.framing === CHUNKED) {
      this.socket.cork();
      this.socket.write(chunkHeader(chunk.length));
      this.socket.write(chunk);
      const ok = this.socket.write(CRLF);
      this.socket.uncork();
      return ok;
    }
    if (ex.framing >= 0 && ex.written > ex.framing) {
      // More content than the length the head promised: the client would read it as the next response.
      this.abort(new Error('response body longer than its content-length'));
      return false;
    }
    return this.socket.write(chunk);
  }

  /** BodySink.onEnd of the current exchange's response. */
  endBody(ex: Exchange, trailers: HttpHeaders | undefined): void {
    if (this.#closed) return;
    if (ex.framing >= 0 && ex.written !== ex.framing) {
      this.abort(new Error('response body shorter than its content-length'));
      return;
    }
    if (ex.framing === CHUNKED) this.socket.write(encodeLastChunk(trailers));
    this.#finish(ex);
  }

  #finish(ex: Exchange): void {
    ex.responseDone = true;
    if (ex.close || (ex.bodyAbandoned && !ex.requestDone)) {
      this.#closeAfterWrite();
      return;
    }
    if (ex.requestDone) this.#next(ex);
  }

  /** The exchange is over on both sides: go on to the next pipelined request, or wait idle. */
  #next(ex: Exchange): void {
    if (this.#current !== ex) return;
    this.#current = undefined;
    this.#readPaused = false;
    const pending = this.#pending;
    this.#pending = undefined;
    this.socket.resume();
    if (pending !== undefined) this.#feed(pending, this.#pendingPos);
    if (this.#current !== undefined || this.#closed || this.#discarding) return;
    if (this.#peerEnded) this.#closeAfterWrite();
    else if (this.#timer === undefined) this.#arm(this.#reader.headBytesPending > 0);
  }

  /** The response cannot be completed: the client must see a broken connection, not a short answer. */
  abort(error: unknown): void {
    this.#current?.controller.abort(error);
    this.socket.destroy();
  }

  write(buf: Buffer): void {
    if (!this.#closed) this.socket.write(buf);
  }

  #pauseReading(): void {
    this.#readPaused = true;
    this.socket.pause();
  }

  /** The request body's consumer can take more (or gave up): parse on. */
  resumeReading(): void {
    if (!this.#readPaused || this.#closed) return;
    this.#readPaused = false;
    const pending = this.#pending;
    this.#pending = undefined;
    this.socket.resume();
    if (pending !== undefined) this.#feed(pending, this.#pendingPos);
  }

  readonly #onDrain = (): void => {
    this.#current?.response?.body.resume();
  };

  // The client half-closed. A request still being answered is finished first (a client may shut
  // down its sending side after a last request); then the connection closes.
  readonly #onEnd = (): void => {
    this.#peerEnded = true;
    const ex = this.#current;
    // Behind a whole CONNECT or upgrade request, a FIN ends the tunnel's early data (a client may
    // send its bytes and shut down its side at once): it is a half-close to carry through the
    // tunnel, not a client gone away.
    const tunnelFin = ex !== undefined && ex.upgrade !== undefined && ex.requestDone;
    if (this.#params.abortOnClientClose && !tunnelFin && (ex !== undefined || this.#pending !== undefined)) {
      this.socket.destroy(); // 'close' aborts the request in progress
      return;
    }
    // Pipelined requests not parsed yet are still answered; the close comes after the last of them.
    if (this.#pending !== undefined) return;
    const step = this.#reader.close();
    if (step === 'error' && ex !== undefined && !ex.requestDone) {
      // The request body was cut short: the upstream must not take it as whole.
      ex.body.fail(new Error('client closed inside the request body'));
      ex.controller.abort(new Error('client closed inside the request body'));
      this.socket.destroy();
      return;
    }
    if (ex === undefined) this.#closeAfterWrite();
  };

  readonly #onError = (): void => {
    // 'close' follows; ECONNRESET from a client is ordinary.
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    this.#disarm();
    const ex = this.#current;
    if (ex !== undefined) {
      const reason = new Error('the client closed the connection');
      if (!ex.requestDone) ex.body.fail(reason);
      if (!ex.responseDone) {
        ex.controller.abort(reason);
        ex.response?.body.cancel(reason);
      }
    }
    this.#current = undefined;
    this.#pending = undefined;
  };

  #refuse(r: Http1Rejection): void {
    this.#refuseRaw(refusalResponse(r));
  }

  #refuseRaw(bytes: Buffer): void {
    const ex = this.#current;
    if (ex !== undefined) {
      // A refusal in a request body: its request is broken too.
      ex.body.fail(new Error('request refused by the framing layer'));
      ex.controller.abort(new Error('request refused by the framing layer'));
      if (ex.responseStarted) {
        this.socket.destroy();
        return;
      }
      this.#current = undefined;
    }
    this.#pending = undefined;
    this.#disarm();
    this.socket.write(bytes);
    this.#closeAfterWrite();
  }

  #closeAfterWrite(): void {
    this.#closing();
    this.socket.end();
    // A client that never reads would hold the socket open; a lingering close is bounded by the idle timeout.
    this.#timer = setTimeout(this.#forceClose, this.#params.idleTimeoutMs);
    this.#timer.unref();
  }

  #closing(): void {
    this.#disarm();
    this.#discarding = true;
    this.#pending = undefined;
    this.socket.resume();
  }

  readonly #forceClose = (): void => {
    this.socket.destroy();
  };

  #arm(head: boolean, ms = head ? this.#params.headerTimeoutMs : this.#params.idleTimeoutMs): void {
    this.#disarm();
    this.#timerIsHead = head;
    this.#timer = setTimeout(this.#onTimer, ms);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerIsHead = false;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#current !== undefined) return;
    if (this.#reader.headBytesPending > 0) {
      this.#pending = undefined;
      this.socket.write(TIMEOUT_RESPONSE);
      this.#closeAfterWrite();
    } else {
      this.socket.destroy();
    }
  };
}

/**
 * Serves `socket` until it closes. Accept with `allowHalfOpen: true`: a client may shut down its
 * sending side after its last request and still read the answer; otherwise Node ends the socket
 * before the response is written.
 */
export function serveHttp1(
  socket: Socket,
  service: Service<HttpRequest, HttpResponse>,
  params: Http1ServerParams = http1ServerParams,
  deps: Http1ServerDeps = {},
): Http1ServerConnection {
  return new Http1ServerConnection(socket, service, params, deps);
}
