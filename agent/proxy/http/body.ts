// A message body: a stream of Buffers with backpressure, a known length or not, and trailers at the
// end. One object per body with a push side (the transport reading a socket) and a sink side (the
// transport writing the next hop), instead of a Readable: no per-chunk promise or event object, and
// the producer learns "stop" from push()'s return value and "go on" from one call on its source.
// Chunks are views of the producer's read buffers; a consumer that keeps one must not expect a copy.
import type { HttpHeaders } from './headers.ts';

/** The consumer of a body (one per body). */
export interface BodySink {
  /** One chunk of content. Return false to be sent nothing more until HttpBody.resume(). */
  onData(chunk: Buffer): boolean;
  /** The body is complete (trailers only from a chunked or HTTP/2 body that had some). */
  onEnd(trailers: HttpHeaders | undefined): void;
  /** The body failed (the producer's connection broke, the message was malformed); no onEnd follows. */
  onError(error: unknown): void;
}

/** The producer of a body, told when to go on and when nobody wants the rest. */
export interface BodySource {
  /** The consumer can take more after a push() returned false. */
  resume(): void;
  /** The consumer will read no more; release what feeds the body. */
  cancel(reason: unknown): void;
  /** A consumer attached: someone wants the content now (HTTP/1.1 answers Expect: 100-continue here). */
  demand?(): void;
}

/** Bytes a body holds for a slow (or not yet attached) consumer before telling its producer to pause. */
export const BODY_HIGH_WATER = 64 * 1024;

const OPEN = 0;
const ENDED = 1;
const FAILED = 2;
const DONE = 3;

export class HttpBody {
  /** Content length when known up front (Content-Length, a fixed buffer), else undefined. */
  readonly length: number | undefined;
  readonly #source: BodySource | undefined;
  #sink: BodySink | undefined;
  #queue: Buffer[] = [];
  #queued = 0;
  #sinkPaused = false;
  /** A push() returned false and the source has not been resumed since. */
  #sourcePaused = false;
  #state = OPEN;
  #trailers: HttpHeaders | undefined;
  #error: unknown;
  /** Content bytes pushed so far. */
  received = 0;
  /** Most bytes held at once (for tests and /status: backpressure keeps this near BODY_HIGH_WATER). */
  maxBuffered = 0;

  constructor(length: number | undefined, source?: BodySource) {
    this.length = length;
    this.#source = source;
  }

  static empty(): HttpBody {
    const body = new HttpBody(0);
    body.end();
    return body;
  }

  static from(data: Buffer | string): HttpBody {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const body = new HttpBody(buf.length);
    if (buf.length > 0) body.push(buf);
    body.end();
    return body;
  }

  /** A consumer is attached (a body is read once). */
  get attached(): boolean {
    return this.#sink !== undefined;
  }

  /** The body has ended or failed, and everything was handed to the consumer. */
  get finished(): boolean {
    return this.#state === DONE;
  }

  // ---- producer side ----

  /** Adds content. false: pause the producer until its source's resume(). */
  push(chunk: Buffer): boolean {
    if (this.#state !== OPEN) return false;
    this.received += chunk.length;
    const sink = this.#sink;
    if (sink !== undefined && !this.#sinkPaused && this.#queued === 0) {
      if (!sink.onData(chunk)) {
        this.#sinkPaused = true;
        this.#sourcePaused = true;
        return false;
      }
      return true;
    }
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (this.#queued > this.maxBuffered) this.maxBuffered = this.#queued;
    if (this.#queued >= BODY_HIGH_WATER) {
      this.#sourcePaused = true;
      return false;
    }
    return true;
  }

  end(trailers?: HttpHeaders): void {
    if (this.#state !== OPEN) return;
    this.#state = ENDED;
    this.#trailers = trailers;
    this.#flush();
  }

  fail(error: unknown): void {
    if (this.#state !== OPEN && this.#state !== ENDED) return;
    this.#state = FAILED;
    this.#error = error;
    this.#queue = [];
    this.#queued = 0;
    this.#flush();
  }

  // ---- consumer side ----

  /** Attaches the consumer; queued content is delivered at once. */
  pipeTo(sink: BodySink): void {
    if (this.#sink !== undefined) throw new Error('http: a body is read once');
    this.#sink = sink;
    if (this.#state === OPEN) this.#source?.demand?.();
    this.#flush();
  }

  /** The consumer can take more after onData returned false. */
  resume(): void {
    this.#sinkPaused = false;
    this.#flush();
  }

  /** The consumer gives up: the producer is told, and nothing more is delivered. */
  cancel(reason: unknown): void {
    if (this.#state === DONE) return;
    const wasOpen = this.#state === OPEN;
    this.#state = DONE;
    this.#queue = [];
    this.#queued = 0;
    if (wasOpen) this.#source?.cancel(reason);
  }

  #flush(): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    if (this.#state === FAILED) {
      this.#state = DONE;
      sink.onError(this.#error);
      return;
    }
    while (this.#queue.length > 0 && !this.#sinkPaused) {
      const chunk = this.#queue.shift() as Buffer;
      this.#queued -= chunk.length;
      if (!sink.onData(chunk)) this.#sinkPaused = true;
      // The sink may have cancelled or failed us from inside onData.
      if (this.#state === DONE) return;
    }
    if (this.#queue.length > 0 || this.#sinkPaused) return;
    if (this.#state === ENDED) {
      this.#state = DONE;
      sink.onEnd(this.#trailers);
      return;
    }
    if (this.#sourcePaused && this.#state === OPEN) {
      this.#sourcePaused = false;
      this.#source?.resume();
    }
  }
}

/** Reads a whole body into one buffer; refuses more than `limit` bytes. For tests and small bodies. */
export function readBody(body: HttpBody, limit = 16 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.pipeTo({
      onData(chunk) {
        size += chunk.length;
        if (size > limit) {
          body.cancel(new Error('body too large'));
          reject(new Error(`http: body larger than ${limit} bytes`));
          return false;
        }
        chunks.push(Buffer.from(chunk));
        return true;
      },
      onEnd() {
        resolve(Buffer.concat(chunks));
      },
      onError: reject,
    });
  });
}
