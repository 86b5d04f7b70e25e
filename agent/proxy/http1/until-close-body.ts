// A response with neither Content-Length nor Transfer-Encoding (RFC 9112 §6.3 rule 8): every byte
// until the server closes is body, and the close is its end — never an error.
import type { BodyReader, BodyStep } from './body-reader.ts';
import type { Http1Rejection } from './rejection.ts';

export class UntilCloseBodyReader implements BodyReader {
  dataStart = 0;
  dataEnd = 0;
  offset = 0;
  received = 0;
  readonly rejection: Http1Rejection | undefined = undefined;

  reset(): void {
    this.dataStart = this.dataEnd = this.offset = this.received = 0;
  }

  next(buf: Buffer, pos: number): BodyStep {
    if (pos >= buf.length) {
      this.offset = buf.length;
      return 'more';
    }
    this.dataStart = pos;
    this.dataEnd = this.offset = buf.length;
    this.received += buf.length - pos;
    return 'data';
  }

  close(): BodyStep {
    return 'done';
  }
}
