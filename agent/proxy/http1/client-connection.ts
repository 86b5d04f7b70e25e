// One upstream HTTP/1.1 connection: writes a request from the protocol-neutral model, reads its
// response with the strict codec (response side: HEAD, 1xx, 204 and 304 rules), and streams the body
// back with backpressure both ways. One exchange at a time; the state of the exchange lives on the
// connection (no per-request object beyond the promise and the response). A connection goes back to
// its pool only when the exchange ended cleanly on both sides; anything else destroys it.
//
// A request with `upgrade` (or a CONNECT) may switch the connection: on a 101 (a 2xx to CONNECT) the
// socket leaves the pool for good and becomes the response's `tunnel`, with the bytes that came
// after the head put back in front. Any other answer is an ordinary response.
//
// Expect: 100-continue travels to the upstream, and the request body is attached (which is what
// makes the server transport send its own 100 downstream) only once the upstream's 100 arrives, or
// after expectContinueTimeoutMs for an upstream that never sends one (RFC 9110 §10.1.1: a client
// need not wait for ever). So an upstream that answers first (401, 413, 417) is relayed and the
// client never uploads: weft answering 100 itself would make every client send its whole body to a
// proxy that then has nowhere to put it. The connection then closes (the upstream was promised a
// body it did not get).
import type { Socket } from 'node:net';
import { WeftError } from '../../errors.ts';
import type { CallContext } from '../../stack/service.ts';
import { HttpBody, type BodySink, type BodySource } from '../http/body.ts';
import type { HttpHeaders } from '../http/headers.ts';
import { HttpResponse, type HttpRequest } from '../http/message.ts';
import { chunkHeader, CRLF } from './chunked-encoder.ts';
import type { ResponseContext } from './framing.ts';
import type { Http1Head } from './head.ts';
import { CHUNKED, declaredLength, encodeLastChunk, encodeRequestHead, headersOf, NO_BODY, requestFraming, trailersOf, type WireFraming } from './http1-transport-head.ts';
import { MessageReader } from './message-reader.ts';
import { http1Params, type Http1Params } from './params.ts';
import { rejectionError, type Http1Rejection } from './rejection.ts';

/** What a connection tells the pool that owns it. */
export interface ConnectionOwner {
  /** The exchange ended cleanly and the connection can carry another. */
  release(conn: Http1ClientConnection): void;
  /** The connection closed (or was destroyed); forget it. */
  closed(conn: Http1ClientConnection): void;
}

// RFC 9110 §9.2.2.
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** The request's context, as the response parser needs it. */
class RequestContext implements ResponseContext {
  method = 'GET';
  /** The request asked to upgrade: only then is a 101 valid. */
  upgrade = false;
}

/** Go's net/http Transport and curl wait this long for a 100 before sending the body anyway. */
export const EXPECT_CONTINUE_TIMEOUT_MS = 1_000;

function uncork(socket: Socket): void {
  socket.uncork();
}

export class Http1ClientConnection implements BodySource, BodySink {
  readonly socket: Socket;
  /** The endpoint this connection is to (the pool's key). */
  readonly key: string;
  readonly #owner: ConnectionOwner | undefined;
  readonly #reader: MessageReader;
  readonly #context = new RequestContext();
  readonly #expectContinueTimeoutMs: number;
  #busy = false;
  /** Handed over as a tunnel after a switch: no longer this connection's. */
  #switched = false;
  #closed = false;
  #lastError: unknown;
  // The exchange in progress.
  #resolve: ((res: HttpResponse) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #signal: AbortSignal | undefined;
  #requestBody: HttpBody | undefined;
  #framing: WireFraming = NO_BODY;
  #sentBody = 0;
  #wroteAny = false;
  #requestDone = false;
  #responseBody: HttpBody | undefined;
  #responseDone = false;
  #informational = false;
  #keepAlive = false;
  /** Any byte of a response to this exchange arrived. */
  #gotBytes = false;
  /** The request may be sent again as it is: idempotent method, no content. */
  #replayable = false;
  #readPaused = false;
  /** The request body waits for the upstream's 100 Continue (or a final answer, or the timer). */
  #awaitingContinue = false;
  /** The upstream answered before the body it was promised was sent: close after this exchange. */
  #noReuse = false;
  #continueTimer: NodeJS.Timeout | undefined;
  /** Idle-timer handle while pooled (the pool's). */
  idleTimer: NodeJS.Timeout | undefined;
  /** Exchanges carried, for tests and /status. */
  exchanges = 0;

  constructor(socket: Socket, key: string, owner?: ConnectionOwner, params: Http1Params = http1Params, expectContinueTimeoutMs = EXPECT_CONTINUE_TIMEOUT_MS) {
    this.socket = socket;
    this.#expectContinueTimeoutMs = expectContinueTimeoutMs;
    this.key = key;
    this.#owner = owner;
    this.#reader = new MessageReader('response', params);
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('drain', this.#onDrain);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  /** Can carry a new exchange now. */
  get reusable(): boolean {
    return !this.#busy && !this.#closed && !this.#switched && !this.socket.destroyed && this.socket.readyState === 'open';
  }

  /** The connection switched protocols and was handed over as a response's tunnel. */
  get switched(): boolean {
    return this.#switched;
  }

  get busy(): boolean {
    return this.#busy;
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }

  /**
   * Sends `req` and resolves with the response once its head arrived; its body streams after.
   * Rejects with a retryable WeftError if the connection failed before any byte was written.
   */
  request(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    if (this.#busy) return Promise.reject(new WeftError('WEFT_E_HTTP_CONNECTION_BUSY', 'http1: connection already carries an exchange'));
    if (!this.reusable) return Promise.reject(this.#notSent('the upstream connection closed before the request was sent'));
    if (cx.signal.aborted) return Promise.reject(interrupted(cx.signal.reason));
    this.#busy = true;
    this.exchanges++;
    this.#context.method = req.method;
    this.#context.upgrade = req.upgrade !== undefined && req.method !== 'CONNECT';
    this.#requestBody = req.body;
    this.#framing = requestFraming(req);
    this.#sentBody = 0;
    this.#wroteAny = false;
    this.#requestDone = false;
    this.#responseBody = undefined;
    this.#responseDone = false;
    this.#informational = false;
    this.#keepAlive = false;
    this.#noReuse = false;
    this.#awaitingContinue = false;
    this.#gotBytes = false;
    this.#replayable = req.body.length === 0 && IDEMPOTENT.has(req.method);
    this.#signal = cx.signal;
    cx.signal.addEventListener('abort', this.#onAbort);
    const promise = new Promise<HttpResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    let head: Buffer;
    try {
      head = encodeRequestHead(req, this.#framing);
    } catch (error) {
      this.#fail(error);
      return promise;
    }
    this.#wroteAny = true;
    // The head and the body that is already here in one write (see the server side).
    this.socket.cork();
    process.nextTick(uncork, this.socket);
    this.socket.write(head);
    if (this.#framing === NO_BODY || this.#framing === 0) {
      this.#requestDone = true;
      if (req.body.length !== 0) req.body.cancel(new Error('request body not sent'));
    } else if (!req.body.attached && req.headers.get('expect')?.toLowerCase() === '100-continue') {
      this.#awaitingContinue = true;
      this.#continueTimer = setTimeout(this.#onContinueTimeout, this.#expectContinueTimeoutMs);
      this.#continueTimer.unref();
    } else {
      this.#sendBody();
    }
    return promise;
  }

  #sendBody(): void {
    this.#awaitingContinue = false;
    if (this.#continueTimer !== undefined) clearTimeout(this.#continueTimer);
    this.#continueTimer = undefined;
    const body = this.#requestBody;
    if (body === undefined) return;
    try {
      body.pipeTo(this);
    } catch (error) {
      // A body already read (a retry of a streamed request): nothing can be sent.
      this.#fail(new WeftError('WEFT_E_HTTP_BODY_CONSUMED', 'http1: the request body was already read and cannot be sent again', { cause: error }));
    }
  }

  readonly #onContinueTimeout = (): void => {
    this.#continueTimer = undefined;
    if (this.#awaitingContinue && this.#busy && !this.#closed) this.#sendBody();
  };

  // ---- BodySink: the request body, written upstream ----

  onData(chunk: Buffer): boolean {
    if (this.#closed || chunk.length === 0) return !this.#closed;
    this.#sentBody += chunk.length;
    if (this.#framing === CHUNKED) {
      this.socket.cork();
      this.socket.write(chunkHeader(chunk.length));
      this.socket.write(chunk);
      const ok = this.socket.write(CRLF);
      this.socket.uncork();
      return ok;
    }
    if (this.#sentBody > this.#framing) {
      this.#fail(new WeftError('WEFT_E_HTTP_BODY_LENGTH', 'http1: request body longer than its declared length'));
      return false;
    }
    return this.socket.write(chunk);
  }

  onEnd(trailers: HttpHeaders | undefined): void {
    if (this.#closed) return;
    if (this.#framing === CHUNKED) this.socket.write(encodeLastChunk(trailers));
    else if (this.#sentBody !== this.#framing) {
      this.#fail(new WeftError('WEFT_E_HTTP_BODY_LENGTH', 'http1: request body shorter than its declared length'));
      return;
    }
    this.#requestDone = true;
    this.#maybeRelease();
  }

  onError(error: unknown): void {
    // The request body broke (its client went away): the upstream must not see it as whole.
    this.#fail(new WeftError('WEFT_E_HTTP_REQUEST_BODY', 'http1: the request body failed while being sent upstream', { cause: error, flags: { interrupted: true } }));
  }

  // ---- BodySource: the response body, read by the caller ----

  resume(): void {
    if (!this.#readPaused || this.#closed) return;
    this.#readPaused = false;
    this.socket.resume();
  }

  cancel(): void {
    // Nobody reads the rest: the connection cannot be reused without draining it, so it goes.
    if (!this.#responseDone) this.socket.destroy();
  }

  // ---- socket ----

  readonly #onDrain = (): void => {
    this.#requestBody?.resume();
  };

  readonly #onData = (chunk: Buffer): void => {
    if (!this.#busy) {
      // Bytes from an idle connection answer nothing: the server is confused; do not reuse it.
      this.socket.destroy();
      return;
    }
    this.#gotBytes = true;
    const reader = this.#reader;
    let pos = 0;
    for (;;) {
      if (this.#closed) return;
      const step = reader.next(chunk, pos, this.#context);
      switch (step) {
        case 'head':
          pos = reader.offset;
          if (this.#responseDone) {
            // A second response to one request: the server is out of step.
            this.#fail(new WeftError('WEFT_E_HTTP_UNSOLICITED_RESPONSE', 'http1: the upstream sent a response nobody asked for'));
            return;
          }
          if ((reader.head as Http1Head).body === 'tunnel') {
            this.#switch(reader.head as Http1Head, chunk, pos);
            return;
          }
          this.#onHead(reader.head as Http1Head);
          break;
        case 'data':
          pos = reader.offset;
          if (this.#responseBody !== undefined && !this.#responseBody.push(chunk.subarray(reader.dataStart, reader.dataEnd))) {
            this.#readPaused = true;
            this.socket.pause();
          }
          break;
        case 'end':
          pos = reader.offset;
          if (this.#informational) {
            this.#informational = false;
            break;
          }
          this.#responseDone = true;
          this.#responseBody?.end(trailersOf(reader.trailers));
          // Bytes after a complete response, before a new request: the server is out of step.
          if (pos < chunk.length) this.#keepAlive = false;
          this.#maybeRelease();
          return;
        case 'more':
          return;
        case 'tunnel':
          this.#fail(new WeftError('WEFT_E_HTTP_UNEXPECTED_TUNNEL', 'http1: the upstream switched protocols unasked'));
          return;
        case 'error':
          this.#fail(rejectionError(reader.rejection as Http1Rejection));
          return;
      }
    }
  };

  #onHead(head: Http1Head): void {
    if (head.status < 200) {
      // 100 Continue: the upstream wants the body; attaching it makes the server transport send its
      // own 100 downstream. 103 Early Hints and other interim responses are not relayed.
      this.#informational = true;
      if (head.status === 100 && this.#awaitingContinue) this.#sendBody();
      return;
    }
    if (this.#awaitingContinue) {
      // A final answer before 100: the body is not sent, so the client never uploads it. The
      // upstream was promised one it will not get: the connection cannot carry another request.
      this.#awaitingContinue = false;
      if (this.#continueTimer !== undefined) clearTimeout(this.#continueTimer);
      this.#continueTimer = undefined;
      this.#requestBody?.cancel(new Error('the upstream answered before asking for the request body'));
      this.#requestDone = true;
      this.#noReuse = true;
    }
    const headers = headersOf(head);
    // A HEAD answer or 304 keeps the Content-Length the GET would have had (RFC 9110 §8.6).
    if (head.body === 'none' && head.contentLength >= 0 && head.status !== 204) headers.addTrusted('content-length', String(head.contentLength));
    this.#keepAlive = head.keepAlive && !this.#noReuse;
    const body = new HttpBody(declaredLength(head), this);
    this.#responseBody = body;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    this.#reject = undefined;
    resolve?.(new HttpResponse(head.status, headers, body));
  }

  readonly #onEnd = (): void => {
    if (!this.#busy) {
      this.socket.destroy();
      return;
    }
    const step = this.#reader.close();
    if (step === 'end' && this.#responseBody !== undefined) {
      // A read-until-close body: the close is its end (RFC 9112 §6.3 rule 8).
      this.#responseDone = true;
      this.#keepAlive = false;
      this.#responseBody.end(trailersOf(this.#reader.trailers));
      this.socket.destroy();
      return;
    }
    this.#fail(this.#reset());
  };

  readonly #onError = (error: Error): void => {
    this.#lastError = error;
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.#busy && !(this.#responseDone && this.#requestDone)) this.#fail(this.#reset());
    this.#owner?.closed(this);
  };

  readonly #onAbort = (): void => {
    this.#fail(interrupted(this.#signal?.reason));
  };

  /** The connection broke in the middle of the exchange. */
  #reset(): WeftError {
    if (!this.#wroteAny) return this.#notSent('the upstream connection closed before the request was sent');
    // A reused connection closed with not a byte of answer: most likely the server's idle timer
    // closed it as the request went out (the race every keep-alive client has). A request that can
    // be sent again as it is may be retried, as Go's net/http does; anything else may have been acted on.
    if (this.exchanges > 1 && !this.#gotBytes && this.#replayable) {
      return new WeftError('WEFT_E_HTTP_STALE_CONNECTION', 'http1: a reused upstream connection closed before any response; the request is idempotent and bodiless, safe to retry', {
        cause: this.#lastError,
        flags: { retryable: true },
      });
    }
    return new WeftError(
      'WEFT_E_HTTP_UPSTREAM_RESET',
      this.#responseBody === undefined
        ? 'http1: the upstream closed the connection before responding'
        : 'http1: the upstream closed the connection inside the response body',
      { cause: this.#lastError },
    );
  }

  #notSent(message: string): WeftError {
    return new WeftError('WEFT_E_HTTP_NOT_SENT', `http1: ${message}; safe to retry`, { cause: this.#lastError, flags: { retryable: true } });
  }

  /**
   * The upstream switched protocols (101 to an upgrade, 2xx to CONNECT): the socket leaves this
   * connection and the pool for good and becomes the response's tunnel. Bytes after the head in this
   * read are the new protocol's first (server-first protocols send them at once): they are put back
   * in front of the socket's stream, which stays paused until its new owner reads it.
   */
  #switch(head: Http1Head, chunk: Buffer, pos: number): void {
    if (!this.#requestDone) {
      // RFC 9110 §15.2.2: the switch takes place after the request; a switch before its body was
      // sent would put the rest of the body into the new protocol.
      this.#fail(new WeftError('WEFT_E_HTTP_EARLY_SWITCH', `http1: the upstream switched protocols (${head.status}) before the request body was sent`));
      return;
    }
    const socket = this.socket;
    socket.pause();
    socket.off('data', this.#onData);
    socket.off('drain', this.#onDrain);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onClose);
    // #onError stays: until the tunnel's owner adds its own listener, an error must not be thrown.
    if (pos < chunk.length) socket.unshift(chunk.subarray(pos));
    this.#switched = true;
    this.#busy = false;
    this.#responseDone = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = undefined;
    this.#requestBody = undefined;
    this.#owner?.closed(this);
    const res = new HttpResponse(head.status, headersOf(head), HttpBody.empty());
    res.tunnel = socket;
    const resolve = this.#resolve;
    this.#resolve = this.#reject = undefined;
    resolve?.(res);
  }

  /** Ends the exchange with `error` and destroys the connection. */
  #fail(error: unknown): void {
    if (!this.#busy) return;
    this.#busy = false;
    if (this.#continueTimer !== undefined) clearTimeout(this.#continueTimer);
    this.#continueTimer = undefined;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = undefined;
    const reject = this.#reject;
    this.#resolve = this.#reject = undefined;
    if (reject !== undefined) reject(error);
    else if (!this.#responseDone) this.#responseBody?.fail(error);
    if (!this.#requestDone) this.#requestBody?.cancel(error);
    this.#requestBody = undefined;
    this.socket.destroy();
  }

  #maybeRelease(): void {
    if (!(this.#requestDone && this.#responseDone)) return;
    this.#busy = false;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = undefined;
    this.#requestBody = undefined;
    this.#responseBody = undefined;
    if (this.#readPaused) {
      this.#readPaused = false;
      this.socket.resume();
    }
    if (this.#keepAlive && !this.#closed) this.#owner?.release(this);
    else this.socket.destroy();
  }
}

function interrupted(reason: unknown): WeftError {
  if (reason instanceof WeftError) return reason;
  return new WeftError('WEFT_E_HTTP_CANCELLED', 'http1: the caller went away; the upstream exchange was abandoned', {
    cause: reason,
    flags: { interrupted: true },
  });
}
