// Limits of the HTTP/1.1 framing layer. Every limit bounds memory or work a peer can make weft spend
// before a message is framed; none of them is a timeout (a slow head is the connection layer's 408).
import { WeftError } from '../../errors.ts';

export interface Http1Params {
  /** Longest request-line, CRLF excluded; longer → 414 (RFC 9112 §3: at least 8000 octets SHOULD be supported). */
  readonly maxRequestLineBytes: number;
  /** Longest head, start line through the blank line; longer → 431 (502 for a response). */
  readonly maxHeadBytes: number;
  /** Most field lines in a head, and in a trailer section; more → 431. */
  readonly maxFields: number;
  /** Longest chunk-size line (size and extensions), CRLF excluded; longer → 400. */
  readonly maxChunkLineBytes: number;
  /** Chunk-extension bytes allowed over one whole body, so a peer cannot send endless extensions and no data (CVE-2024-22019). */
  readonly maxChunkExtensionBytes: number;
  /** Longest trailer section of a chunked body; longer → 431. */
  readonly maxTrailerBytes: number;
}

export const http1Params: Http1Params = {
  maxRequestLineBytes: 8 * 1024,
  maxHeadBytes: 64 * 1024,
  maxFields: 100,
  maxChunkLineBytes: 4 * 1024,
  maxChunkExtensionBytes: 16 * 1024,
  maxTrailerBytes: 16 * 1024,
};

export function validateHttp1Params(params: Http1Params): void {
  for (const [name, value] of Object.entries(params) as [keyof Http1Params, number][]) {
    if (!(Number.isSafeInteger(value) && value >= 1)) {
      throw new WeftError('WEFT_E_HTTP1_PARAMS', `http1 ${name} must be a positive integer, got ${value}`);
    }
  }
  if (params.maxRequestLineBytes + 2 > params.maxHeadBytes) {
    throw new WeftError(
      'WEFT_E_HTTP1_PARAMS',
      `http1 maxHeadBytes (${params.maxHeadBytes}) must leave room for a request line of maxRequestLineBytes (${params.maxRequestLineBytes})`,
    );
  }
}
