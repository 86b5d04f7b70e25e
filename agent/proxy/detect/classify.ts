// Protocol detection, the pure part: what the first bytes of a client-first connection say it is.
// The answer is a function of the bytes alone (never of how they were cut into reads), and once it is
// not need-more, more bytes never change it: a decision at any prefix is the decision for the whole.
// Only the first maxPeekBytes are ever looked at, so past that bound the answer is final too.
// When in doubt the answer is opaque: the bytes then go upstream untouched and the server judges
// them, exactly as it would have without the mesh (a lenient server may accept what weft's strict
// http1 layer would refuse; detection is not the place to refuse it).
import { CR, LF, SP, TCHAR } from '../http1/chars.ts';
import { NEED_MORE } from '../http1/field-line.ts';
import type { Http1ErrorCode } from '../http1/rejection.ts';
import { StartLine, type TargetForm, parseRequestLine } from '../http1/start-line.ts';
import { HELLO_NEED_MORE, NOT_TLS, type TlsHello, classifyClientHello } from './client-hello.ts';
import { detectParams } from './params.ts';

export type { TlsHello } from './client-hello.ts';

/** RFC 9113 §3.4: the client connection preface of HTTP/2 with prior knowledge. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface Http2Detected {
  readonly kind: 'http2';
}

export interface Http1Detected {
  readonly kind: 'http1';
  readonly method: string;
  /** 0 or 1: HTTP/1.0 or HTTP/1.1. */
  readonly minor: 0 | 1;
  readonly targetForm: TargetForm;
}

export type OpaqueReason =
  /** The first bytes are none of HTTP/1, HTTP/2 or TLS. */
  | 'unrecognized'
  /** It began like an HTTP/1 request line, but the line breaks RFC 9112 (see `http1Code`). */
  | 'http1-refused'
  /** Still undecided at maxPeekBytes, or a request line longer than maxRequestLineBytes. */
  | 'bound';

export interface OpaqueDetected {
  readonly kind: 'opaque';
  readonly reason: OpaqueReason;
  /** For 'http1-refused': the http1 layer's reason code, for logs and metrics. */
  readonly http1Code?: Http1ErrorCode;
}

export interface NeedMore {
  readonly kind: 'need-more';
}

export type Classification = Http2Detected | Http1Detected | TlsHello | OpaqueDetected | NeedMore;

export interface ClassifyLimits {
  /** Bytes looked at, at most; see DetectParams.maxPeekBytes. */
  readonly maxPeekBytes: number;
  /** Longest request line (CRLF excluded) waited for; see DetectParams.maxRequestLineBytes. */
  readonly maxRequestLineBytes: number;
}

const HTTP2: Http2Detected = Object.freeze({ kind: 'http2' });
const NEED_MORE_RESULT: NeedMore = Object.freeze({ kind: 'need-more' });
const UNRECOGNIZED: OpaqueDetected = Object.freeze({ kind: 'opaque', reason: 'unrecognized' });
const BOUND: OpaqueDetected = Object.freeze({ kind: 'opaque', reason: 'bound' });

/**
 * Classifies the first bytes a client sent. `bytes` is everything received so far (from the first
 * byte); call again with more while the answer is need-more. Never throws.
 */
export function classify(bytes: Uint8Array, limits: ClassifyLimits = detectParams): Classification {
  const atBound = bytes.length >= limits.maxPeekBytes;
  const window = atBound ? bytes.subarray(0, limits.maxPeekBytes) : bytes;
  const r = decide(toBuffer(window), atBound, limits.maxRequestLineBytes);
  // Whatever is still undecided at the bound will stay undecided: a client cannot make weft buffer more.
  return r.kind === 'need-more' && atBound ? BOUND : r;
}

function decide(b: Buffer, atBound: boolean, maxLine: number): Classification {
  if (b.length === 0) return NEED_MORE_RESULT;
  const first = b[0] as number;
  if (first === H2_PREFACE[0]) {
    // "PRI" is also a token, so a preface cut short is a request line so far; the preface decides first.
    const n = Math.min(b.length, H2_PREFACE.length);
    if (b.compare(H2_PREFACE, 0, n, 0, n) === 0) return n === H2_PREFACE.length ? HTTP2 : NEED_MORE_RESULT;
  }
  const hello = classifyClientHello(b, atBound);
  if (hello === HELLO_NEED_MORE) return NEED_MORE_RESULT;
  if (hello !== NOT_TLS) return hello;
  return requestLine(b, maxLine);
}

/** A scratch StartLine: classify runs to completion synchronously, so one is enough. */
const scratch = new StartLine();

function requestLine(b: Buffer, maxLine: number): Classification {
  // RFC 9112 §2.2: a server SHOULD ignore empty lines before the request line; the http1 head parser
  // does, so detection does too (they count towards the bound like any other byte).
  let start = 0;
  while (start < b.length && b[start] === CR) {
    if (start + 1 === b.length) return NEED_MORE_RESULT;
    if (b[start + 1] !== LF) return UNRECOGNIZED;
    start += 2;
  }
  if (start === b.length) return NEED_MORE_RESULT;
  // Only bytes within the line bound (and its CRLF) are looked at, so a longer line is undecided at
  // a fixed position whatever follows, and goes opaque there.
  const lineEnd = start + maxLine + 2;
  const end = Math.min(b.length, lineEnd);
  const r = parseRequestLine(b, start, end, start, scratch);
  if (r === NEED_MORE) return end === lineEnd ? BOUND : NEED_MORE_RESULT;
  if (typeof r === 'string') {
    // Bytes that never formed "method SP" are not HTTP at all; past a method and SP the client was
    // trying to speak HTTP/1 and broke a rule, which is worth telling apart in metrics.
    return startsWithMethod(b, start, end) ? { kind: 'opaque', reason: 'http1-refused', http1Code: r } : UNRECOGNIZED;
  }
  return { kind: 'http1', method: scratch.method, minor: scratch.minor === 0 ? 0 : 1, targetForm: scratch.targetForm };
}

/** Whether the line begins with a non-empty method token and SP (parseRequestLine got past the method). */
function startsWithMethod(b: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end && TCHAR[b[i] as number] === 1) i++;
  return i > start && i < end && b[i] === SP;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
