// Body replay for retries (linkerd2-proxy's ReplayBody): the request body is read once from the
// client, streamed to the current attempt as it arrives, and a copy of it is kept up to a limit
// (64 KiB by default) so a retry can send it again. Past the limit the copy is dropped and the
// request is no longer replayable; the attempt in progress still gets the rest of the body live.
// A retry that starts before the client finished sending gets the copy, then the rest live: a
// refused connect (nothing read yet) is retried without waiting for the whole body.
import type { HttpHeaders } from './headers.ts';
import { HttpBody, type BodySink, type BodySource } from './body.ts';

const REPLACED = new Error('http: this attempt was replaced by a retry');

export class ReplayableBody implements BodySink, BodySource {
  readonly #original: HttpBody;
  readonly #limit: number;
  #copy: Buffer[] = [];
  #copied = 0;
  #overflowed = false;
  #ended = false;
  #trailers: HttpHeaders | undefined;
  #failed = false;
  #error: unknown;
  /** The body of the attempt in progress; undefined between attempts (the client is paused). */
  #view: HttpBody | undefined;
  /** The original was asked to pause and not yet resumed. */
  #paused = false;
  #attached = false;
  /** No attempt follows: the copy is dropped and a consumer that stops reading stops the client. */
  #retired = false;
  /** The current attempt's consumer stopped reading. */
  #viewCancelled: unknown;

  constructor(original: HttpBody, limit: number) {
    this.#original = original;
    this.#limit = limit;
  }

  /**
   * Bytes a retry would have to send, for the retry policy: what was read so far while the copy is
   * whole (everything, once the client finished), or more than the limit once it was dropped.
   */
  get replayBytes(): number {
    if (this.#overflowed) return Math.max(this.#limit + 1, this.#original.length ?? 0);
    return this.#original.length ?? this.#copied;
  }

  /** A retry can resend the body. */
  get replayable(): boolean {
    return !this.#overflowed;
  }

  /** The body for the next attempt; the previous attempt's body (if any) fails. */
  nextAttempt(): HttpBody {
    const previous = this.#view;
    if (previous !== undefined) previous.fail(REPLACED);
    const view = new HttpBody(this.#original.length, this);
    this.#view = view;
    this.#viewCancelled = undefined;
    if (previous !== undefined && this.#overflowed) {
      // Only the first attempt may go without the copy; callers check `replayable` before retrying.
      view.fail(new Error('http: the request body is larger than the replay limit and cannot be sent again'));
      return view;
    }
    for (const chunk of this.#copy) view.push(chunk);
    if (this.#failed) view.fail(this.#error);
    else if (this.#ended) view.end(this.#trailers);
    // The client's body is read from only once an attempt's consumer wants it (demand()):
    // attaching here would tell an HTTP/1.1 client "100 Continue" before any upstream asked for the
    // body, and a request answered without it (a 401, a 417) would upload it for nothing.
    if (this.#attached && this.#paused) this.resume();
    return view;
  }

  // BodySink: the client's body.
  onData(chunk: Buffer): boolean {
    if (!this.#overflowed && !this.#retired) {
      if (this.#copied + chunk.length > this.#limit) {
        this.#overflowed = true;
        this.#copy = [];
      } else {
        // Chunks are views of the transport's read buffers: the copy must own its bytes.
        this.#copy.push(Buffer.from(chunk));
      }
    }
    this.#copied += chunk.length;
    const view = this.#view;
    const more = view === undefined ? false : view.push(chunk);
    if (!more) this.#paused = true;
    return more;
  }

  onEnd(trailers: HttpHeaders | undefined): void {
    this.#ended = true;
    this.#trailers = trailers;
    this.#view?.end(trailers);
  }

  onError(error: unknown): void {
    this.#failed = true;
    this.#error = error;
    this.#view?.fail(error);
  }

  // BodySource: the current attempt's consumer.
  demand(): void {
    if (this.#attached) return;
    this.#attached = true;
    this.#original.pipeTo(this);
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#original.resume();
  }

  cancel(reason: unknown): void {
    // One attempt stopped reading (it failed or answered early). While a retry may still need the
    // rest, the client's body is only paused; once retired, the client is told.
    this.#paused = true;
    this.#viewCancelled = reason ?? new Error('http: the upstream stopped reading the request body');
    if (this.#retired) this.#original.cancel(this.#viewCancelled);
  }

  /**
   * No further attempt will be made (a response is being returned, or the request failed for good):
   * drop the copy. The attempt in progress keeps streaming the body (a gRPC bidi stream goes on long
   * after the response head); if its consumer already stopped reading, or the request failed, the
   * client's body is cancelled now.
   */
  retire(failure?: unknown): void {
    if (this.#retired) return;
    this.#retired = true;
    this.#copy = [];
    const reason = failure ?? this.#viewCancelled ?? (this.#view === undefined ? new Error('http: the request ended before its body was sent') : undefined);
    if (reason !== undefined) {
      this.#view?.fail(reason);
      this.#original.cancel(reason);
    }
  }
}
