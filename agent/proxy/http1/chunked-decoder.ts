// Streaming decoder of the chunked transfer coding (RFC 9112 §7.1), byte-exact and strict:
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
// Chunk data is handed out as ranges of the caller's buffer. Extensions are checked and dropped (the
// encoder writes none), so a downstream parser never sees the extension syntax that parsers disagree
// on. Trailer fields are checked like header fields and kept, as bytes, for the encoder to forward.
// State survives any cut between chunks: every byte is looked at once.
import type { BodyReader, BodyStep } from './body-reader.ts';
import { BACKSLASH, CR, DQUOTE, EQUALS, HEX, HTAB, LF, QDTEXT, QUOTABLE, SEMI, SP, TCHAR } from './chars.ts';
import { FIELD_STRIDE, parseFieldLine } from './field-line.ts';
import { http1Params, type Http1Params } from './params.ts';
import { type Http1ErrorCode, type Http1Rejection, type Http1Side, rejection } from './rejection.ts';

// States. Plain numbers: the switch below runs per byte of every chunk-size line.
const SIZE_FIRST = 0;
const SIZE = 1;
const SIZE_BWS = 2;
const EXT_NAME_START = 3;
const EXT_NAME = 4;
const EXT_NAME_BWS = 5;
const EXT_VALUE_START = 6;
const EXT_TOKEN = 7;
const EXT_QUOTED = 8;
const EXT_QUOTED_ESCAPE = 9;
const EXT_AFTER_QUOTED = 10;
const EXT_VALUE_BWS = 11;
const LINE_LF = 12;
const DATA = 13;
const DATA_CR = 14;
const DATA_LF = 15;
const TRAILER_START = 16;
const TRAILER_LINE = 17;
const FINAL_LF = 18;
const DONE = 19;
const FAILED = 20;

/** Above this, size * 16 + 15 would pass 2^53 and stop being exact. */
const MAX_SIZE_BEFORE_SHIFT = Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16);

export class ChunkedDecoder implements BodyReader {
  readonly #side: Http1Side;
  readonly #maxLine: number;
  readonly #maxExt: number;
  readonly #maxTrailer: number;
  readonly #maxFields: number;
  #state = SIZE_FIRST;
  #size = 0;
  #remaining = 0;
  #lineBytes = 0;
  #extBytes = 0;
  #trailerAcc: Buffer | undefined;
  #trailerLen = 0;
  #trailerLineStart = 0;
  #trailerFields: number[] = [];
  dataStart = 0;
  dataEnd = 0;
  offset = 0;
  received = 0;
  rejection: Http1Rejection | undefined;

  constructor(side: Http1Side, params: Http1Params = http1Params) {
    this.#side = side;
    this.#maxLine = params.maxChunkLineBytes;
    this.#maxExt = params.maxChunkExtensionBytes;
    this.#maxTrailer = params.maxTrailerBytes;
    this.#maxFields = params.maxFields;
  }

  /** Starts a new body. */
  reset(): void {
    this.#state = SIZE_FIRST;
    this.#size = this.#remaining = this.#lineBytes = this.#extBytes = 0;
    this.#trailerAcc = undefined;
    this.#trailerLen = this.#trailerLineStart = 0;
    this.#trailerFields = [];
    this.dataStart = this.dataEnd = this.offset = this.received = 0;
    this.rejection = undefined;
  }

  /**
   * The trailer section once 'done': its field lines, each ending in CRLF, as received (checked); undefined if there were none. Owned by the caller
   * after reset().
   */
  get trailers(): Buffer | undefined {
    return this.#state === DONE && this.#trailerLen > 0 ? (this.#trailerAcc as Buffer).subarray(0, this.#trailerLen) : undefined;
  }

  /** FIELD_STRIDE ints per trailer field, offsets into `trailers`. */
  get trailerFields(): readonly number[] {
    return this.#trailerFields;
  }

  next(buf: Buffer, pos: number): BodyStep {
    const len = buf.length;
    let i = pos;
    while (i < len) {
      const state = this.#state;
      if (state === DATA) {
        const take = Math.min(this.#remaining, len - i);
        this.dataStart = i;
        this.dataEnd = this.offset = i + take;
        this.#remaining -= take;
        this.received += take;
        if (this.#remaining === 0) this.#state = DATA_CR;
        return 'data';
      }
      if (state === TRAILER_LINE) {
        i = this.#trailerLine(buf, i, len);
        if (i < 0) return 'error';
        continue;
      }
      if (state === DONE) {
        this.offset = i;
        return 'done';
      }
      if (state === FAILED) return 'error';
      const b = buf[i] as number;
      if (state === TRAILER_START && b !== CR && b !== LF && b !== SP && b !== HTAB) {
        this.#state = TRAILER_LINE;
        continue;
      }
      // The line's CR is its last counted byte (consumed before LINE_LF), hence the + 1.
      if (state < LINE_LF && ++this.#lineBytes > this.#maxLine + 1) return this.#fail('WEFT_E_HTTP1_CHUNK_LINE_TOO_LONG');
      if (state >= SIZE_BWS && state <= EXT_VALUE_BWS && ++this.#extBytes > this.#maxExt) {
        return this.#fail('WEFT_E_HTTP1_CHUNK_EXTENSIONS_TOO_LARGE');
      }
      const failure = this.#step(state, b);
      if (failure !== undefined) return this.#fail(failure);
      i++;
      if (this.#state === DONE) {
        this.offset = i;
        return 'done';
      }
    }
    if (this.#state === DONE) {
      this.offset = i;
      return 'done';
    }
    if (this.#state === FAILED) return 'error';
    this.offset = len;
    return 'more';
  }

  close(): BodyStep {
    if (this.#state === DONE) return 'done';
    if (this.#state !== FAILED) this.#fail('WEFT_E_HTTP1_TRUNCATED');
    return 'error';
  }

  /** One byte of the line grammar; returns the reason if it is refused. */
  #step(state: number, b: number): Http1ErrorCode | undefined {
    switch (state) {
      case SIZE_FIRST: {
        const h = HEX[b] as number;
        if (h < 0) return b === LF ? 'WEFT_E_HTTP1_BARE_LF' : 'WEFT_E_HTTP1_BAD_CHUNK_SIZE';
        this.#size = h;
        this.#state = SIZE;
        return undefined;
      }
      case SIZE: {
        const h = HEX[b] as number;
        if (h >= 0) {
          if (this.#size > MAX_SIZE_BEFORE_SHIFT) return 'WEFT_E_HTTP1_CHUNK_SIZE_OVERFLOW';
          this.#size = this.#size * 16 + h;
          return undefined;
        }
        // "0x1a", "-1", "1a.5" all stop here: after the hex digits only ";", BWS or CRLF may come.
        if (b === CR) this.#state = LINE_LF;
        else if (b === SEMI) this.#state = EXT_NAME_START;
        else if (b === SP || b === HTAB) this.#state = SIZE_BWS;
        else return b === LF ? 'WEFT_E_HTTP1_BARE_LF' : 'WEFT_E_HTTP1_BAD_CHUNK_SIZE';
        return undefined;
      }
      case SIZE_BWS:
        // BWS is only allowed before ";" (RFC 9112 §7.1.1); "5 \r\n" is not a chunk-size line.
        if (b === SEMI) this.#state = EXT_NAME_START;
        else if (b !== SP && b !== HTAB) return b === LF ? 'WEFT_E_HTTP1_BARE_LF' : 'WEFT_E_HTTP1_BAD_CHUNK_SIZE';
        return undefined;
      case EXT_NAME_START:
        if (TCHAR[b] === 1) this.#state = EXT_NAME;
        else if (b !== SP && b !== HTAB) return this.#badExtension(b);
        return undefined;
      case EXT_NAME:
        if (TCHAR[b] === 1) return undefined;
        if (b === CR) this.#state = LINE_LF;
        else if (b === SEMI) this.#state = EXT_NAME_START;
        else if (b === EQUALS) this.#state = EXT_VALUE_START;
        else if (b === SP || b === HTAB) this.#state = EXT_NAME_BWS;
        else return this.#badExtension(b);
        return undefined;
      case EXT_NAME_BWS:
        if (b === SEMI) this.#state = EXT_NAME_START;
        else if (b === EQUALS) this.#state = EXT_VALUE_START;
        else if (b !== SP && b !== HTAB) return this.#badExtension(b);
        return undefined;
      case EXT_VALUE_START:
        if (TCHAR[b] === 1) this.#state = EXT_TOKEN;
        else if (b === DQUOTE) this.#state = EXT_QUOTED;
        else if (b !== SP && b !== HTAB) return this.#badExtension(b);
        return undefined;
      case EXT_TOKEN:
        if (TCHAR[b] === 1) return undefined;
        if (b === CR) this.#state = LINE_LF;
        else if (b === SEMI) this.#state = EXT_NAME_START;
        else if (b === SP || b === HTAB) this.#state = EXT_VALUE_BWS;
        else return this.#badExtension(b);
        return undefined;
      case EXT_QUOTED:
        if (b === DQUOTE) this.#state = EXT_AFTER_QUOTED;
        else if (b === BACKSLASH) this.#state = EXT_QUOTED_ESCAPE;
        else if (QDTEXT[b] !== 1) return this.#badExtension(b);
        return undefined;
      case EXT_QUOTED_ESCAPE:
        if (QUOTABLE[b] !== 1) return this.#badExtension(b);
        this.#state = EXT_QUOTED;
        return undefined;
      case EXT_AFTER_QUOTED:
        if (b === CR) this.#state = LINE_LF;
        else if (b === SEMI) this.#state = EXT_NAME_START;
        else if (b === SP || b === HTAB) this.#state = EXT_VALUE_BWS;
        else return this.#badExtension(b);
        return undefined;
      case EXT_VALUE_BWS:
        if (b === SEMI) this.#state = EXT_NAME_START;
        else if (b !== SP && b !== HTAB) return this.#badExtension(b);
        return undefined;
      case LINE_LF:
        if (b !== LF) return 'WEFT_E_HTTP1_BARE_CR';
        this.#lineBytes = 0;
        if (this.#size === 0) {
          this.#state = TRAILER_START;
        } else {
          this.#remaining = this.#size;
          this.#state = DATA;
        }
        return undefined;
      case DATA_CR:
        if (b !== CR) return b === LF ? 'WEFT_E_HTTP1_BARE_LF' : 'WEFT_E_HTTP1_BAD_CHUNK_END';
        this.#state = DATA_LF;
        return undefined;
      case DATA_LF:
        if (b !== LF) return 'WEFT_E_HTTP1_BARE_CR';
        this.#state = SIZE_FIRST;
        return undefined;
      case TRAILER_START:
        // Only the end of the section gets here; a field line's first byte goes to #trailerLine.
        if (b === CR) this.#state = FINAL_LF;
        else if (b === LF) return 'WEFT_E_HTTP1_BARE_LF';
        else return 'WEFT_E_HTTP1_OBS_FOLD';
        return undefined;
      case FINAL_LF:
        if (b !== LF) return 'WEFT_E_HTTP1_BARE_CR';
        this.#state = DONE;
        return undefined;
      default:
        return undefined;
    }
  }

  #badExtension(b: number): Http1ErrorCode {
    if (b === LF) return 'WEFT_E_HTTP1_BARE_LF';
    return 'WEFT_E_HTTP1_BAD_CHUNK_EXTENSION';
  }

  /**
   * Gathers trailer line bytes from buf[i] up to its LF (or the end of buf) and checks the line once
   * whole. Returns where to go on, or -1 on refusal.
   */
  #trailerLine(buf: Buffer, i: number, len: number): number {
    let j = i;
    while (j < len && buf[j] !== LF) j++;
    const end = j < len ? j + 1 : len;
    if (this.#trailerLen + (end - i) > this.#maxTrailer) return this.#failAt('WEFT_E_HTTP1_TRAILERS_TOO_LARGE');
    this.#appendTrailer(buf, i, end);
    if (j === len) return len;
    if (this.#trailerFields.length / FIELD_STRIDE >= this.#maxFields) return this.#failAt('WEFT_E_HTTP1_TOO_MANY_FIELDS');
    // The gathered line ends in its LF, so the checker either takes it whole or names the first bad byte.
    const r = parseFieldLine(this.#trailerAcc as Buffer, this.#trailerLineStart, this.#trailerLen, 0, this.#trailerFields);
    if (typeof r === 'string') return this.#failAt(r);
    if (r !== this.#trailerLen) return this.#failAt('WEFT_E_HTTP1_BARE_LF');
    this.#trailerLineStart = this.#trailerLen;
    this.#state = TRAILER_START;
    return end;
  }

  #failAt(code: Http1ErrorCode): -1 {
    this.#fail(code);
    return -1;
  }

  #appendTrailer(src: Buffer, start: number, end: number): void {
    const need = this.#trailerLen + (end - start);
    let acc = this.#trailerAcc;
    if (acc === undefined || acc.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, acc === undefined ? 256 : acc.length * 2));
      if (acc !== undefined) acc.copy(grown, 0, 0, this.#trailerLen);
      acc = this.#trailerAcc = grown;
    }
    src.copy(acc, this.#trailerLen, start, end);
    this.#trailerLen = need;
  }

  #fail(code: Http1ErrorCode): 'error' {
    this.#state = FAILED;
    this.rejection = rejection(code, this.#side);
    return 'error';
  }
}
