// Why the framing layer refused a message: a stable code per reason (metrics and logs branch on it),
// and the status weft answers with. A request is refused with the status its reason calls for (RFC
// 9112 and RFC 9110 name them); a bad response from upstream becomes a 502 to the client whatever the
// reason (RFC 9112 §5.2, §6.3: a proxy discards a response it cannot frame and sends 502).
// Rejections are preallocated and frozen: refusing garbage allocates nothing.
import { WeftError } from '../../errors.ts';

export const http1Reasons = {
  // Start line (RFC 9112 §3, §4).
  WEFT_E_HTTP1_BAD_REQUEST_LINE: [400, 'request-line is not "method SP request-target SP HTTP-version"'],
  WEFT_E_HTTP1_BAD_METHOD: [400, 'method is not a token'],
  WEFT_E_HTTP1_BAD_TARGET: [400, 'request-target has a byte outside visible ASCII, or a form the method does not allow'],
  WEFT_E_HTTP1_BAD_VERSION: [400, 'HTTP-version is not "HTTP/" DIGIT "." DIGIT'],
  WEFT_E_HTTP1_UNSUPPORTED_VERSION: [505, 'only HTTP/1.0 and HTTP/1.1 are spoken here'],
  WEFT_E_HTTP1_BAD_STATUS_LINE: [502, 'status-line is not "HTTP-version SP 3DIGIT SP reason-phrase"'],
  // Line structure (RFC 9112 §2.2: CRLF only; §5.2: no line folding).
  WEFT_E_HTTP1_BARE_LF: [400, 'a line ended in LF without CR'],
  WEFT_E_HTTP1_BARE_CR: [400, 'a CR not followed by LF'],
  WEFT_E_HTTP1_OBS_FOLD: [400, 'a field line starts with whitespace (obsolete line folding)'],
  // Field lines (RFC 9112 §5, RFC 9110 §5.5).
  WEFT_E_HTTP1_WHITESPACE_BEFORE_COLON: [400, 'whitespace between a field name and its colon (RFC 9112 §5.1)'],
  WEFT_E_HTTP1_BAD_FIELD_NAME: [400, 'a field name is empty or not a token'],
  WEFT_E_HTTP1_BAD_FIELD_VALUE: [400, 'a field value holds a control character'],
  // Limits (Http1Params).
  WEFT_E_HTTP1_REQUEST_LINE_TOO_LONG: [414, 'request-line longer than maxRequestLineBytes'],
  WEFT_E_HTTP1_HEAD_TOO_LARGE: [431, 'header section larger than maxHeadBytes'],
  WEFT_E_HTTP1_TOO_MANY_FIELDS: [431, 'more field lines than maxFields'],
  // Host (RFC 9112 §3.2: exactly one, valid, in HTTP/1.1).
  WEFT_E_HTTP1_MISSING_HOST: [400, 'an HTTP/1.1 request without Host'],
  WEFT_E_HTTP1_DUPLICATE_HOST: [400, 'more than one Host field line'],
  WEFT_E_HTTP1_BAD_HOST: [400, 'Host is not uri-host [ ":" port ]'],
  // Framing (RFC 9112 §6).
  WEFT_E_HTTP1_BAD_CONTENT_LENGTH: [400, 'Content-Length is not a list of digits within 2^53'],
  WEFT_E_HTTP1_CONTENT_LENGTH_MISMATCH: [400, 'Content-Length values differ'],
  WEFT_E_HTTP1_TE_AND_CL: [400, 'both Transfer-Encoding and Content-Length: ambiguous framing'],
  WEFT_E_HTTP1_TE_IN_HTTP10: [400, 'Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: faulty framing)'],
  WEFT_E_HTTP1_BAD_TRANSFER_ENCODING: [400, 'Transfer-Encoding is not a list of transfer-coding tokens, or applies chunked twice'],
  WEFT_E_HTTP1_CHUNKED_NOT_FINAL: [400, 'chunked is not the final transfer coding of a request'],
  WEFT_E_HTTP1_UNSUPPORTED_TRANSFER_CODING: [501, 'a transfer coding other than chunked'],
  WEFT_E_HTTP1_BAD_CONNECTION: [400, 'Connection is not a list of tokens'],
  WEFT_E_HTTP1_CONNECT_WITH_BODY: [400, 'a CONNECT request with content (RFC 9110 §9.3.6)'],
  WEFT_E_HTTP1_UNEXPECTED_UPGRADE: [502, '101 Switching Protocols to a request that did not ask to upgrade'],
  // Chunked bodies (RFC 9112 §7.1).
  WEFT_E_HTTP1_BAD_CHUNK_SIZE: [400, 'chunk-size is not 1*HEXDIG'],
  WEFT_E_HTTP1_CHUNK_SIZE_OVERFLOW: [400, 'chunk-size above 2^53'],
  WEFT_E_HTTP1_BAD_CHUNK_EXTENSION: [400, 'chunk-ext is not ; name [ = token / quoted-string ]'],
  WEFT_E_HTTP1_CHUNK_LINE_TOO_LONG: [400, 'chunk-size line longer than maxChunkLineBytes'],
  WEFT_E_HTTP1_CHUNK_EXTENSIONS_TOO_LARGE: [400, 'more chunk-extension bytes in one body than maxChunkExtensionBytes'],
  WEFT_E_HTTP1_BAD_CHUNK_END: [400, 'chunk-data not followed by CRLF'],
  WEFT_E_HTTP1_TRAILERS_TOO_LARGE: [431, 'trailer section larger than maxTrailerBytes'],
  // The peer closed before the message was whole.
  WEFT_E_HTTP1_TRUNCATED: [400, 'the connection closed inside a message'],
} as const satisfies Record<string, readonly [number, string]>;

export type Http1ErrorCode = keyof typeof http1Reasons;
export type Http1Side = 'request' | 'response';

export interface Http1Rejection {
  readonly kind: 'reject';
  readonly code: Http1ErrorCode;
  /** What weft answers with: the reason's status for a request, 502 for an upstream response. */
  readonly status: number;
  readonly side: Http1Side;
  readonly message: string;
}

function build(side: Http1Side): Readonly<Record<Http1ErrorCode, Http1Rejection>> {
  const out = {} as Record<Http1ErrorCode, Http1Rejection>;
  for (const [code, [status, message]] of Object.entries(http1Reasons) as [Http1ErrorCode, readonly [number, string]][]) {
    out[code] = Object.freeze({ kind: 'reject', code, status: side === 'request' ? status : 502, side, message });
  }
  return Object.freeze(out);
}

const requestRejections = build('request');
const responseRejections = build('response');

export function rejection(code: Http1ErrorCode, side: Http1Side): Http1Rejection {
  return side === 'request' ? requestRejections[code] : responseRejections[code];
}

/**
 * The rejection as a WeftError. A refused request is weft's own refusal (`rejected`); nothing reached
 * the application, but the same bytes would be refused again, so it is not retryable.
 */
export function rejectionError(r: Http1Rejection): WeftError {
  const what = r.side === 'request' ? `request refused with ${r.status}` : 'upstream response refused (502)';
  return new WeftError(r.code, `http1: ${what}: ${r.message}`, { flags: { rejected: r.side === 'request' } });
}
