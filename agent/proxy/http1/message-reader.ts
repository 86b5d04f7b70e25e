// One direction of an HTTP/1.1 connection as a sequence of messages: head, body, next head, ...
// It puts the head parser and the body readers together so the connection layer drives one loop,
// and pipelined messages in one chunk are framed one after another from exact offsets.
// Pull-style like the body readers: nothing is copied, data comes back as ranges of the caller's buffer.
import type { BodyReader } from './body-reader.ts';
import { ChunkedDecoder } from './chunked-decoder.ts';
import type { ResponseContext } from './framing.ts';
import type { Http1Head } from './head.ts';
import { HeadParser } from './head-parser.ts';
import { LengthBodyReader } from './length-body.ts';
import { http1Params, type Http1Params } from './params.ts';
import { type Http1Rejection, type Http1Side, rejection } from './rejection.ts';
import { UntilCloseBodyReader } from './until-close-body.ts';

/**
 * - head: a new message; see `head`. Its body (if any) follows from `offset`.
 * - data: body content buf[dataStart, dataEnd); go on from `offset`.
 * - end: the message is complete; the next one starts at `offset`.
 * - more: all of buf is consumed; call again with the next chunk at 0.
 * - tunnel: the connection is no longer HTTP (CONNECT, or a 101 / 2xx-to-CONNECT response); the
 *   opaque bytes start at `offset`. The reader stays here.
 * - error: refused, see `rejection`; close the connection (after refusalResponse for a request).
 */
export type MessageStep = 'head' | 'data' | 'end' | 'more' | 'tunnel' | 'error';

/** How a close by the peer ends things: between messages, as the end of a read-until-close body, or truncating a message. */
export type CloseStep = 'idle' | 'end' | 'error';

const HEAD = 0;
const BODY = 1;
const TUNNEL = 2;
const FAILED = 3;

export class MessageReader {
  readonly side: Http1Side;
  readonly #parser: HeadParser;
  readonly #length: LengthBodyReader;
  readonly #chunked: ChunkedDecoder;
  readonly #untilClose = new UntilCloseBodyReader();
  #body: BodyReader | undefined;
  #phase = HEAD;
  /** The head of the message being read (set at 'head', kept until the next one). */
  head: Http1Head | undefined;
  dataStart = 0;
  dataEnd = 0;
  offset = 0;
  rejection: Http1Rejection | undefined;

  constructor(side: Http1Side, params: Http1Params = http1Params) {
    this.side = side;
    this.#parser = new HeadParser(side, params);
    this.#length = new LengthBodyReader(side);
    this.#chunked = new ChunkedDecoder(side, params);
  }

  /** Bytes of a head received and not yet whole: non-zero means a slow head, zero an idle connection. */
  get headBytesPending(): number {
    return this.#phase === HEAD ? this.#parser.pendingBytes : 0;
  }

  /** The trailer field lines of a chunked body, once its 'end' has been returned. */
  get trailers(): Buffer | undefined {
    return this.#body === this.#chunked ? this.#chunked.trailers : undefined;
  }

  /**
   * Reads from buf[pos]. A response reader needs `request`, what the response answers (its head
   * will do). After 'end' of a request that asked to upgrade, stop reading until the response says
   * whether the connection switched (101): the bytes after it are not HTTP if it did.
   */
  next(buf: Buffer, pos: number, request?: ResponseContext): MessageStep {
    switch (this.#phase) {
      case HEAD: {
        const r = this.#parser.feed(buf, pos, request);
        if (r.kind === 'incomplete') {
          this.offset = buf.length;
          return 'more';
        }
        if (r.kind === 'reject') return this.#fail(r);
        this.head = r.head;
        this.offset = r.end;
        this.#body = this.#bodyFor(r.head);
        this.#phase = this.#body === undefined ? TUNNEL : BODY;
        return 'head';
      }
      case BODY: {
        const body = this.#body as BodyReader;
        const step = body.next(buf, pos);
        this.offset = body.offset;
        if (step === 'data') {
          this.dataStart = body.dataStart;
          this.dataEnd = body.dataEnd;
          return 'data';
        }
        if (step === 'done') {
          this.#phase = HEAD;
          return 'end';
        }
        if (step === 'error') return this.#fail(body.rejection as Http1Rejection);
        return 'more';
      }
      case TUNNEL:
        this.offset = pos;
        return 'tunnel';
      default:
        return 'error';
    }
  }

  /** The peer closed its side. */
  close(): CloseStep {
    switch (this.#phase) {
      case HEAD:
        if (this.#parser.pendingBytes === 0) return 'idle';
        this.#fail(rejection('WEFT_E_HTTP1_TRUNCATED', this.side));
        return 'error';
      case BODY: {
        const body = this.#body as BodyReader;
        if (body.close() === 'done') {
          this.#phase = HEAD;
          return 'end';
        }
        this.#fail(body.rejection as Http1Rejection);
        return 'error';
      }
      case TUNNEL:
        return 'idle';
      default:
        return 'error';
    }
  }

  #bodyFor(head: Http1Head): BodyReader | undefined {
    switch (head.body) {
      case 'tunnel':
        return undefined;
      case 'chunked':
        this.#chunked.reset();
        return this.#chunked;
      case 'close':
        this.#untilClose.reset();
        return this.#untilClose;
      case 'length':
        this.#length.reset(head.contentLength);
        return this.#length;
      case 'none':
        this.#length.reset(0);
        return this.#length;
    }
  }

  #fail(r: Http1Rejection): 'error' {
    this.#phase = FAILED;
    this.rejection = r;
    return 'error';
  }
}
