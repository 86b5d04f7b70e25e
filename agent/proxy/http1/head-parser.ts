// Incremental head parser: feed it chunks as they arrive; it says "incomplete", hands back a head
// and where it ended in the chunk, or refuses with a reason.
// - A head that arrives in one chunk is parsed in place: no copy, its bytes a view of the chunk.
// - Each line is checked in one pass that also finds its end. A head that straddles chunks is
//   gathered into one growing buffer (doubling, so gathering is linear); a line cut short is not
//   checked again from its start on every chunk, only searched for its LF in the new bytes, then
//   checked once when whole. So every byte is looked at a bounded number of times, however the head
//   was cut: no O(n²) rescans.
// - The first byte out of place decides the reason, a bad line is refused once it has ended, and
//   limits are positions (nothing is looked at past them): the same bytes get the same answer
//   however they were cut.
// - Limits are checked as bytes arrive, so an oversized line or head is refused before it is whole.
// - After a refusal the parser stays refused (the connection must close: RFC 9112 §11.2 — nothing
//   after a framing error can be trusted) until reset().
import { CR, LF } from './chars.ts';
import { FIELD_STRIDE, type LineResult, NEED_MORE, parseFieldLine } from './field-line.ts';
import { FramingFacts, type ResponseContext } from './framing.ts';
import { Http1Head } from './head.ts';
import type { KnownField } from './known-fields.ts';
import { http1Params, type Http1Params, validateHttp1Params } from './params.ts';
import { type Http1ErrorCode, type Http1Rejection, type Http1Side, rejection } from './rejection.ts';
import { StartLine, parseRequestLine, parseStatusLine } from './start-line.ts';

export interface HeadIncomplete {
  readonly kind: 'incomplete';
}

export interface HeadParsed {
  readonly kind: 'head';
  readonly head: Http1Head;
  /** Offset in the chunk just fed, right after the head: the body, or the next message, starts here. */
  readonly end: number;
}

export type HeadResult = HeadIncomplete | HeadParsed | Http1Rejection;

const INCOMPLETE: HeadIncomplete = Object.freeze({ kind: 'incomplete' });
/** A response parser told nothing about the request frames as for a GET that did not ask to upgrade. */
const PLAIN_REQUEST: ResponseContext = Object.freeze({ method: 'GET', upgrade: false });
/** Bytes copied per step while gathering a straddling head, so a large chunk with a short head tail copies little body. */
const WINDOW = 4096;
const MORE = -1;
const FAILED = -2;
const HEAD_END = -3;

function hasLf(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] === LF) return true;
  return false;
}

export class HeadParser {
  readonly side: Http1Side;
  readonly #maxLine: number;
  readonly #maxHead: number;
  readonly #maxFields: number;
  readonly #line_ = new StartLine();
  readonly #facts = new FramingFacts();
  #fields: number[] = [];
  #failed: Http1Rejection | undefined;
  /** Bytes of empty lines skipped before this head (RFC 9112 §2.2), and whether a CR of one is pending. */
  #skipped = 0;
  #leadingCr = false;
  /** The first byte of the start line has been seen. */
  #started = false;
  #inFields = false;
  /** The head so far, when it straddles chunks: acc[0, accLen). */
  #buffered = false;
  #acc: Buffer | undefined;
  #accLen = 0;
  /** Where the current line starts and where the search for its LF resumes, relative to the head's start. */
  #lineStart = 0;
  #scanPos = 0;
  /** Set with HEAD_END: where the head ended (absolute in the buffer being scanned). */
  #headEnd = 0;

  constructor(side: Http1Side, params: Http1Params = http1Params) {
    validateHttp1Params(params);
    this.side = side;
    this.#maxLine = params.maxRequestLineBytes;
    this.#maxHead = params.maxHeadBytes;
    this.#maxFields = params.maxFields;
  }

  /**
   * Bytes of a head received so far and not yet a whole head (0 between messages): what the
   * connection layer needs to tell a slow head (408) from an idle keep-alive connection.
   */
  get pendingBytes(): number {
    return this.#skipped + (this.#leadingCr ? 1 : 0) + (this.#buffered ? this.#accLen : 0);
  }

  /**
   * Parses from chunk[start]. `request` is what a response answers (its method and whether it asked to
   * upgrade change the framing); request parsers ignore it.
   */
  feed(chunk: Buffer, start = 0, request: ResponseContext = PLAIN_REQUEST): HeadResult {
    if (this.#failed !== undefined) return this.#failed;
    const len = chunk.length;
    let pos = start;
    if (!this.#started) {
      pos = this.#skipEmptyLines(chunk, pos, len);
      if (pos === FAILED) return this.#rejected();
      if (!this.#started) return INCOMPLETE;
    }
    if (!this.#buffered) {
      const end = this.#scan(chunk, pos, len, request);
      if (end >= 0) return this.#done(chunk, pos, end, end);
      if (end === FAILED) return this.#rejected();
      this.#append(chunk, pos, len);
      this.#buffered = true;
      return INCOMPLETE;
    }
    while (pos < len) {
      const take = Math.min(len - pos, WINDOW);
      const before = this.#accLen;
      this.#append(chunk, pos, pos + take);
      const acc = this.#acc as Buffer;
      const end = this.#scan(acc, 0, this.#accLen, request);
      if (end >= 0) {
        // The head keeps the gathering buffer; the next straddling head gets a new one.
        this.#acc = undefined;
        return this.#done(acc, 0, end, pos + (end - before));
      }
      if (end === FAILED) return this.#rejected();
      pos += take;
    }
    return INCOMPLETE;
  }

  /** Forgets any partial head and any refusal: for a fresh connection. */
  reset(): void {
    this.#failed = undefined;
    this.#clear();
    this.#acc = undefined;
  }

  // RFC 9112 §2.2: "a server that is expecting to receive and parse a request-line SHOULD ignore at
  // least one empty line (CRLF) received prior to the request-line" (clients send one after a POST
  // body). Only before requests, and only CRLF: a bare CR or LF is refused here as anywhere.
  #skipEmptyLines(chunk: Buffer, pos: number, len: number): number {
    while (pos < len) {
      const b = chunk[pos];
      if (this.#leadingCr) {
        if (b !== LF) return this.#fail('WEFT_E_HTTP1_BARE_CR');
        this.#leadingCr = false;
        this.#skipped += 2;
        if (this.#skipped >= this.#maxHead) return this.#fail('WEFT_E_HTTP1_HEAD_TOO_LARGE');
        pos++;
      } else if (b === CR && this.side === 'request') {
        this.#leadingCr = true;
        pos++;
      } else if (b === LF) {
        return this.#fail('WEFT_E_HTTP1_BARE_LF');
      } else {
        this.#started = true;
        return pos;
      }
    }
    return pos;
  }

  /**
   * Parses lines from b[base + lineStart], where b[base] is the head's first byte and b[avail - 1] the
   * last byte there is. Returns the head's end (absolute in b), MORE, or FAILED.
   */
  #scan(b: Buffer, base: number, avail: number, request: ResponseContext): number {
    // The head must have ended by headLimit, and a request-line by lineLimit: nothing is looked at
    // beyond them, so the same bytes give the same answer however they were cut.
    const headLimit = base + this.#maxHead - this.#skipped;
    let lineStart = base + this.#lineStart;
    for (;;) {
      const lineLimit = !this.#inFields && this.side === 'request' ? lineStart + this.#maxLine + 2 : headLimit;
      const limit = Math.min(avail, headLimit, lineLimit);
      const resumeAt = base + this.#scanPos;
      if (resumeAt > lineStart) {
        // This line was cut short by an earlier chunk and its bytes so far are known good: look only
        // for its LF in the new bytes, and check the whole line once, when it is whole.
        let i = resumeAt;
        while (i < limit && b[i] !== LF) i++;
        if (i === limit) return this.#short(b, base, lineStart, limit, avail, lineLimit, headLimit);
      }
      const r = this.#line(b, base, lineStart, limit, request);
      // A bad byte is reported once its line has ended (or can no longer end): a line cut short is
      // afterwards only searched for its LF, so judging it sooner would make the answer depend on
      // where the chunks were cut.
      if (typeof r === 'string' && hasLf(b, lineStart, limit)) return this.#fail(r);
      if (typeof r === 'string' || r === NEED_MORE) return this.#short(b, base, lineStart, limit, avail, lineLimit, headLimit);
      if (r === HEAD_END) return this.#headEnd;
      lineStart = r;
      this.#lineStart = this.#scanPos = r - base;
    }
  }

  /** One line from b[lineStart]: where the next starts, NEED_MORE, a reason, or HEAD_END (the blank line; see #headEnd). */
  #line(b: Buffer, base: number, lineStart: number, limit: number, request: ResponseContext): LineResult {
    if (!this.#inFields) {
      const r = this.side === 'request'
        ? parseRequestLine(b, lineStart, limit, base, this.#line_)
        : parseStatusLine(b, lineStart, limit, base, this.#line_);
      if (typeof r === 'number' && r >= 0) this.#inFields = true;
      return r;
    }
    if (lineStart === limit) return NEED_MORE;
    if (b[lineStart] === CR) {
      if (lineStart + 1 === limit) return NEED_MORE;
      if (b[lineStart + 1] !== LF) return 'WEFT_E_HTTP1_BARE_CR';
      const line = this.#line_;
      const error =
        this.side === 'request'
          ? this.#facts.decideRequest(line.minor, line.method)
          : this.#facts.decideResponse(line.minor, line.status, request);
      if (error !== undefined) return error;
      this.#headEnd = lineStart + 2;
      return HEAD_END;
    }
    const fields = this.#fields;
    const index = fields.length / FIELD_STRIDE;
    if (index >= this.#maxFields) return 'WEFT_E_HTTP1_TOO_MANY_FIELDS';
    const r = parseFieldLine(b, lineStart, limit, base, fields);
    if (typeof r === 'number' && r >= 0) {
      const n = fields.length;
      const id = fields[n - 1] as KnownField;
      if (id !== 0) this.#facts.add(id, b, (fields[n - 3] as number) + base, (fields[n - 2] as number) + base, index);
    }
    return r;
  }

  /**
   * The line from lineStart has no end before `limit`. If a limit (not the end of the bytes) stopped
   * it, the line is refused: for a bad byte if it holds one (checked now if this line was only
   * searched for its LF), else as too long. Otherwise, remember how far it was searched.
   */
  #short(b: Buffer, base: number, lineStart: number, limit: number, avail: number, lineLimit: number, headLimit: number): number {
    this.#lineStart = lineStart - base;
    this.#scanPos = limit - base;
    if (limit === avail && limit < lineLimit && limit < headLimit) return MORE;
    const r = this.#line(b, base, lineStart, limit, PLAIN_REQUEST);
    if (typeof r === 'string') return this.#fail(r);
    const requestLine = this.side === 'request' && !this.#inFields && limit === lineLimit;
    return this.#fail(requestLine ? 'WEFT_E_HTTP1_REQUEST_LINE_TOO_LONG' : 'WEFT_E_HTTP1_HEAD_TOO_LARGE');
  }

  /** The head is source[start, end); the caller's chunk continues at `next`. */
  #done(source: Buffer, start: number, end: number, next: number): HeadParsed {
    const head = new Http1Head(this.side, source, start, end, this.#line_, this.#fields, this.#facts);
    this.#fields = [];
    this.#clear();
    return { kind: 'head', head, end: next };
  }

  #clear(): void {
    this.#facts.reset();
    this.#fields.length = 0;
    this.#skipped = 0;
    this.#leadingCr = false;
    this.#started = false;
    this.#inFields = false;
    this.#buffered = false;
    this.#accLen = 0;
    this.#lineStart = 0;
    this.#scanPos = 0;
  }

  #append(src: Buffer, start: number, end: number): void {
    const need = this.#accLen + (end - start);
    let acc = this.#acc;
    if (acc === undefined || acc.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, acc === undefined ? 1024 : acc.length * 2));
      if (acc !== undefined) acc.copy(grown, 0, 0, this.#accLen);
      acc = this.#acc = grown;
    }
    src.copy(acc, this.#accLen, start, end);
    this.#accLen = need;
  }

  /** The refusal #fail just recorded. */
  #rejected(): Http1Rejection {
    return this.#failed as Http1Rejection;
  }

  #fail(code: Http1ErrorCode): number {
    this.#failed = rejection(code, this.side);
    return FAILED;
  }
}
