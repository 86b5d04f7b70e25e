// A Content-Length body (RFC 9112 §6.2): exactly N bytes, then the next message.
import type { BodyReader, BodyStep } from './body-reader.ts';
import { type Http1Rejection, type Http1Side, rejection } from './rejection.ts';

export class LengthBodyReader implements BodyReader {
  readonly #side: Http1Side;
  #remaining = 0;
  dataStart = 0;
  dataEnd = 0;
  offset = 0;
  received = 0;
  rejection: Http1Rejection | undefined;

  constructor(side: Http1Side, length = 0) {
    this.#side = side;
    this.reset(length);
  }

  reset(length: number): void {
    this.#remaining = length;
    this.dataStart = this.dataEnd = this.offset = this.received = 0;
    this.rejection = undefined;
  }

  /** Content bytes still to come. */
  get remaining(): number {
    return this.#remaining;
  }

  next(buf: Buffer, pos: number): BodyStep {
    if (this.#remaining === 0) {
      this.offset = pos;
      return 'done';
    }
    if (pos >= buf.length) {
      this.offset = buf.length;
      return 'more';
    }
    const take = Math.min(this.#remaining, buf.length - pos);
    this.dataStart = pos;
    this.dataEnd = this.offset = pos + take;
    this.#remaining -= take;
    this.received += take;
    return 'data';
  }

  // RFC 9112 §8: a message closed before its Content-Length was reached is incomplete; a proxy must
  // not pass it on as if it were whole.
  close(): BodyStep {
    if (this.#remaining === 0) return 'done';
    this.rejection = rejection('WEFT_E_HTTP1_TRUNCATED', this.#side);
    return 'error';
  }
}
