// How a message's body is delimited (RFC 9112 §6) and whether its connection persists (§9.3),
// decided from the few fields that govern it. The head parser feeds each such field here as it
// passes; the decision is made once the head is complete. Anything two parsers could read two ways
// is refused, because request smuggling lives exactly there (RFC 9112 §11.2).
import { AUTHORITY, COMMA, HTAB, SP, TCHAR, equalsLower } from './chars.ts';
import { KnownField } from './known-fields.ts';
import type { Http1ErrorCode } from './rejection.ts';

const LIST_END = -1;
const LIST_BAD = -2;
/** Scratch [start, end) of the member nextListToken found; parsing is synchronous, so one serves. */
const SPAN: number[] = [0, 0];

/**
 * The next member of a `#token` list (RFC 9110 §5.6.1) in buf[i, ve): empty members and the
 * whitespace around them are skipped; a member is a token. Sets span to the member and returns where
 * to go on, LIST_END when the list has no more members, LIST_BAD when a member is not a token.
 */
function nextListToken(buf: Buffer, i: number, ve: number, span: number[]): number {
  while (i < ve) {
    const b = buf[i] as number;
    if (b === COMMA || b === SP || b === HTAB) {
      i++;
      continue;
    }
    const start = i;
    while (i < ve && TCHAR[buf[i] as number] === 1) i++;
    const end = i;
    while (i < ve && (buf[i] === SP || buf[i] === HTAB)) i++;
    if (end === start || (i < ve && buf[i] !== COMMA)) return LIST_BAD;
    span[0] = start;
    span[1] = end;
    return i;
  }
  return LIST_END;
}

/**
 * - none: no body; the next message starts right after the head.
 * - length: exactly `contentLength` bytes.
 * - chunked: the chunked transfer coding (RFC 9112 §7.1).
 * - close: a response read until the server closes (RFC 9112 §6.3 rule 8).
 * - tunnel: after the head the connection carries opaque bytes (CONNECT; a 101 or a 2xx to CONNECT).
 */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'close' | 'tunnel';

/** What a response parser must know of the request it answers (an Http1Head is one). */
export interface ResponseContext {
  readonly method: string;
  /** The request asked to upgrade (Connection: upgrade and Upgrade); only then is a 101 valid. */
  readonly upgrade: boolean;
}

export class FramingFacts {
  hostCount = 0;
  hostIndex = -1;
  hostBad = false;
  clCount = 0;
  /** The (agreeing) Content-Length value, -1 if none. */
  clValue = -1;
  clBad = false;
  clMismatch = false;
  teCount = 0;
  teChunked = 0;
  teOther = 0;
  teFinalChunked = false;
  teBad = false;
  connClose = false;
  connKeepAlive = false;
  connUpgrade = false;
  connBad = false;
  /** Connection options other than close, keep-alive and upgrade, lowercased: more hop-by-hop field names. */
  connOptions: string[] | undefined = undefined;
  upgradeCount = 0;
  expect100 = false;

  // The decision.
  body: BodyFraming = 'none';
  keepAlive = false;
  upgrade = false;
  expectContinue = false;

  reset(): void {
    this.hostCount = 0;
    this.hostIndex = -1;
    this.hostBad = false;
    this.clCount = 0;
    this.clValue = -1;
    this.clBad = false;
    this.clMismatch = false;
    this.teCount = 0;
    this.teChunked = 0;
    this.teOther = 0;
    this.teFinalChunked = false;
    this.teBad = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.connUpgrade = false;
    this.connBad = false;
    this.connOptions = undefined;
    this.upgradeCount = 0;
    this.expect100 = false;
    this.body = 'none';
    this.keepAlive = false;
    this.upgrade = false;
    this.expectContinue = false;
  }

  /** Notes one field whose value is buf[vs, ve) (already trimmed of OWS). */
  add(id: KnownField, buf: Buffer, vs: number, ve: number, index: number): void {
    switch (id) {
      case KnownField.host:
        this.hostCount++;
        this.hostIndex = index;
        for (let i = vs; i < ve; i++) if (AUTHORITY[buf[i] as number] !== 1) this.hostBad = true;
        return;
      case KnownField.contentLength:
        this.clCount++;
        this.#contentLength(buf, vs, ve);
        return;
      case KnownField.transferEncoding:
        this.teCount++;
        this.#transferEncoding(buf, vs, ve);
        return;
      case KnownField.connection:
        this.#connection(buf, vs, ve);
        return;
      case KnownField.upgrade:
        this.upgradeCount++;
        return;
      case KnownField.expect:
        // RFC 9110 §10.1.1: 100-continue is the only expectation defined; its token is case-insensitive.
        if (equalsLower(buf, vs, ve, '100-continue')) this.expect100 = true;
        return;
      default:
        return;
    }
  }

  // RFC 9110 §8.6: Content-Length = 1*DIGIT. A list of identical values ("42, 42", or the same value
  // on several lines) is one length, folded as §8.6 allows; any other list is refused. No sign, no
  // inner whitespace, no hex; values past 2^53 cannot be counted exactly, so they are refused too.
  #contentLength(buf: Buffer, vs: number, ve: number): void {
    let i = vs;
    let members = 0;
    while (i < ve) {
      const b = buf[i] as number;
      if (b === COMMA || b === SP || b === HTAB) {
        i++;
        continue;
      }
      let n = 0;
      const digitsStart = i;
      for (; i < ve; i++) {
        const d = (buf[i] as number) - 0x30;
        if (d < 0 || d > 9) break;
        n = n * 10 + d;
        // Rounding is monotonic, so a value past 2^53 never rounds back under it.
        if (n > Number.MAX_SAFE_INTEGER) {
          this.clBad = true;
          return;
        }
      }
      if (i === digitsStart) {
        this.clBad = true;
        return;
      }
      while (i < ve && (buf[i] === SP || buf[i] === HTAB)) i++;
      if (i < ve && buf[i] !== COMMA) {
        this.clBad = true;
        return;
      }
      members++;
      if (this.clValue === -1) this.clValue = n;
      else if (this.clValue !== n) this.clMismatch = true;
    }
    if (members === 0) this.clBad = true;
  }

  // RFC 9112 §6.1: Transfer-Encoding = #transfer-coding, across all its lines in order. Members are
  // bare tokens here (weft implements no coding that takes parameters).
  #transferEncoding(buf: Buffer, vs: number, ve: number): void {
    const span = SPAN;
    let members = 0;
    for (let i = nextListToken(buf, vs, ve, span); i !== LIST_END; i = nextListToken(buf, i, ve, span)) {
      if (i === LIST_BAD) {
        this.teBad = true;
        return;
      }
      members++;
      if (equalsLower(buf, span[0] as number, span[1] as number, 'chunked')) {
        this.teChunked++;
        this.teFinalChunked = true;
      } else {
        this.teOther++;
        this.teFinalChunked = false;
      }
    }
    if (members === 0) this.teBad = true;
  }

  // RFC 9110 §7.6.1: Connection = #connection-option; options are case-insensitive tokens.
  #connection(buf: Buffer, vs: number, ve: number): void {
    const span = SPAN;
    for (let i = nextListToken(buf, vs, ve, span); i !== LIST_END; i = nextListToken(buf, i, ve, span)) {
      if (i === LIST_BAD) {
        this.connBad = true;
        return;
      }
      const start = span[0] as number;
      const end = span[1] as number;
      if (equalsLower(buf, start, end, 'close')) this.connClose = true;
      else if (equalsLower(buf, start, end, 'keep-alive')) this.connKeepAlive = true;
      else if (equalsLower(buf, start, end, 'upgrade')) this.connUpgrade = true;
      else (this.connOptions ??= []).push(buf.toString('latin1', start, end).toLowerCase());
    }
  }

  // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 persists only with "keep-alive".
  #persistent(minor: number): boolean {
    if (this.connClose) return false;
    return minor === 1 || this.connKeepAlive;
  }

  /** Decides a request's framing (RFC 9112 §6.3 rules 3–7). Returns the reason to refuse it, if any. */
  decideRequest(minor: number, method: string): Http1ErrorCode | undefined {
    // RFC 9112 §3.2: "A server MUST respond with a 400 ... to any HTTP/1.1 request message that lacks
    // a Host header field and to any that contains more than one Host header field line or a Host
    // header field with an invalid field value." Two Hosts are refused in 1.0 too: two routes.
    if (this.hostCount > 1) return 'WEFT_E_HTTP1_DUPLICATE_HOST';
    if (this.hostBad) return 'WEFT_E_HTTP1_BAD_HOST';
    if (this.hostCount === 0 && minor === 1) return 'WEFT_E_HTTP1_MISSING_HOST';
    if (this.connBad) return 'WEFT_E_HTTP1_BAD_CONNECTION';
    const framingError = this.#framingFields(minor);
    if (framingError !== undefined) return framingError;
    if (method === 'CONNECT') {
      // RFC 9110 §9.3.6: a CONNECT request has no content; bytes after its head are the tunnel's.
      // Declaring a body anyway leaves two readings of those bytes.
      if (this.teCount > 0 || this.clValue > 0) return 'WEFT_E_HTTP1_CONNECT_WITH_BODY';
      this.body = 'tunnel';
    } else if (this.teCount > 0) this.body = 'chunked';
    else if (this.clCount > 0) this.body = 'length';
    else this.body = 'none'; // rule 7: a request with neither has no content
    this.keepAlive = this.#persistent(minor);
    // RFC 9110 §7.8: Upgrade needs the "upgrade" connection option, and is ignored in HTTP/1.0.
    this.upgrade = minor === 1 && this.upgradeCount > 0 && this.connUpgrade && method !== 'CONNECT';
    // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
    this.expectContinue = minor === 1 && this.expect100;
    return undefined;
  }

  /** Decides a response's framing (RFC 9112 §6.3 rules 1–8). Returns the reason to refuse it, if any. */
  decideResponse(minor: number, status: number, request: ResponseContext): Http1ErrorCode | undefined {
    this.upgrade = false;
    this.expectContinue = false;
    if (status === 101) {
      // RFC 9110 §15.2.2: a server switches only to a protocol the client listed in Upgrade.
      if (!request.upgrade) return 'WEFT_E_HTTP1_UNEXPECTED_UPGRADE';
      this.body = 'tunnel';
      this.upgrade = true;
      this.keepAlive = false;
      return undefined;
    }
    // Rule 2: a 2xx to CONNECT makes a tunnel; the client MUST ignore Content-Length and
    // Transfer-Encoding in it.
    if (request.method === 'CONNECT' && status >= 200 && status < 300) {
      this.body = 'tunnel';
      this.keepAlive = false;
      return undefined;
    }
    if (this.connBad) return 'WEFT_E_HTTP1_BAD_CONNECTION';
    // Rule 1: HEAD, 1xx, 204 and 304 end at the blank line "regardless of the header fields present",
    // so no field can make their boundary ambiguous.
    if (request.method === 'HEAD' || status < 200 || status === 204 || status === 304) {
      this.body = 'none';
      this.keepAlive = this.#persistent(minor);
      return undefined;
    }
    const framingError = this.#framingFields(minor);
    if (framingError !== undefined) return framingError;
    if (this.teCount > 0) this.body = 'chunked';
    else if (this.clCount > 0) this.body = 'length';
    else this.body = 'close'; // rule 8
    this.keepAlive = this.body !== 'close' && this.#persistent(minor);
    return undefined;
  }

  #framingFields(minor: number): Http1ErrorCode | undefined {
    if (this.teCount > 0) {
      // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
      if (minor === 0) return 'WEFT_E_HTTP1_TE_IN_HTTP10';
      // RFC 9112 §6.3 rule 3: both is the classic smuggling shape; "ought to be handled as an error",
      // and a proxy may not forward it as it came.
      if (this.clCount > 0) return 'WEFT_E_HTTP1_TE_AND_CL';
      // §7: "A sender MUST NOT apply the chunked transfer coding more than once".
      if (this.teBad || this.teChunked > 1) return 'WEFT_E_HTTP1_BAD_TRANSFER_ENCODING';
      // Rule 4: a request whose final coding is not chunked has no determinable length → 400. For a
      // response it would mean read-until-close, but weft does not relay transfer codings it does
      // not implement, so both sides are refused.
      if (this.teChunked === 1 && !this.teFinalChunked) return 'WEFT_E_HTTP1_CHUNKED_NOT_FINAL';
      // §6.1: "A server that receives a request message with a transfer coding it does not
      // understand SHOULD respond with 501".
      if (this.teOther > 0) return 'WEFT_E_HTTP1_UNSUPPORTED_TRANSFER_CODING';
      return undefined;
    }
    if (this.clBad) return 'WEFT_E_HTTP1_BAD_CONTENT_LENGTH';
    if (this.clMismatch) return 'WEFT_E_HTTP1_CONTENT_LENGTH_MISMATCH';
    return undefined;
  }
}
