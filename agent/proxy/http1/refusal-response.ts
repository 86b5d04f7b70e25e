// The bytes weft answers a refused message with, made once per reason: the status, the reason code
// in l5d-proxy-error (DESIGN.md "every refusal says why"), the message as a short text body, and
// Connection: close, because after a framing error nothing else on the connection can be trusted
// (RFC 9112 §11.2).
import { http1Reasons, type Http1ErrorCode, type Http1Rejection } from './rejection.ts';

const statusText: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  505: 'HTTP Version Not Supported',
};

function build(status: number, code: Http1ErrorCode, message: string): Buffer {
  const body = `${message}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${statusText[status] ?? 'Error'}\r\n` +
      `l5d-proxy-error: ${code}\r\n` +
      'content-type: text/plain; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      'connection: close\r\n\r\n' +
      body,
    'utf8',
  );
}

const requestResponses = new Map<Http1ErrorCode, Buffer>();
const responseResponses = new Map<Http1ErrorCode, Buffer>();
for (const [code, [status, message]] of Object.entries(http1Reasons) as [Http1ErrorCode, readonly [number, string]][]) {
  requestResponses.set(code, build(status, code, message));
  responseResponses.set(code, build(502, code, `upstream response refused: ${message}`));
}

/** The complete response to send for `r` before closing the connection. Shared: do not modify it. */
export function refusalResponse(r: Http1Rejection): Buffer {
  return (r.side === 'request' ? requestResponses : responseResponses).get(r.code) as Buffer;
}
