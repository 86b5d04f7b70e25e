// Between nghttp2's flat header lists and the model's HttpHeaders. Node hands us `rawHeaders` as
// [name, value, name, value, ...], the same layout as HttpHeaders.list, so a head is copied once with
// a filter and never goes through an object. Pseudo-headers become the request's fields; framing and
// connection-specific fields (RFC 9113 §8.2.2) are dropped in both directions: an HTTP/1.1 hop may
// have added them, and nghttp2 treats a request or response carrying them as malformed.
import type { OutgoingHttpHeaders } from 'node:http2';
import { HttpHeaders } from '../http/headers.ts';
import { statusHasNoBody, type HttpRequest, type HttpResponse } from '../http/message.ts';

/** Fields that never cross an HTTP/2 hop (te is kept only as "te: trailers", which gRPC needs). */
export const connectionSpecificFields: readonly string[] = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te'];

/** Whether a field is end-to-end: not a pseudo-header, not framing, not connection-specific. */
function isForwarded(name: string, value: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
    case 'host':
    case 'content-length':
      return false;
    case 'te':
      return value.trim().toLowerCase() === 'trailers';
    default:
      return name.length > 0 && name.charCodeAt(0) !== 0x3a; // ':'
  }
}

/** The parts of an HTTP/2 request head the model needs, or a reason to refuse it. */
export interface Http2RequestHead {
  readonly status?: undefined;
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  readonly headers: HttpHeaders;
  /** From content-length, when the client sent one (nghttp2 checks the DATA against it). */
  readonly length: number | undefined;
}

/** Why a request head is answered by the transport itself. */
export interface Http2Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/**
 * The request head, or a refusal. `maxHeaderListSize` is checked here too (RFC 9113 §6.5.2 size:
 * name + value + 32 per field) because nghttp2 enforces our SETTINGS only once the client has
 * acknowledged them: a client that never sends the ACK would otherwise pass any size upstream.
 */
export function requestHeadOf(raw: readonly string[], defaultScheme: string, maxHeaderListSize: number): Http2RequestHead | Http2Refusal {
  let listSize = 0;
  for (let i = 0; i < raw.length; i++) listSize += (raw[i] as string).length + 16;
  if (listSize > maxHeaderListSize) {
    return { status: 431, code: 'WEFT_E_HTTP2_HEADERS_TOO_LARGE', message: `the header list is larger than ${maxHeaderListSize} bytes` };
  }
  let method = '';
  let scheme = defaultScheme;
  let authority: string | undefined;
  let host: string | undefined;
  let path = '';
  let length: number | undefined;
  const headers = new HttpHeaders();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    switch (name) {
      case ':method':
        method = value;
        continue;
      case ':scheme':
        scheme = value;
        continue;
      case ':authority':
        authority = value;
        continue;
      case ':path':
        path = value;
        continue;
      case 'host':
        host ??= value;
        continue;
      case 'content-length':
        length = Number(value);
        continue;
      default:
        if (isForwarded(name, value)) headers.addTrusted(name, value);
    }
  }
  if (method === 'CONNECT') return { status: 501, code: 'WEFT_E_HTTP2_TUNNEL_UNSUPPORTED', message: 'CONNECT (and extended CONNECT) is not relayed over HTTP/2' };
  if (method === '' || path === '') return { status: 400, code: 'WEFT_E_HTTP2_BAD_REQUEST', message: 'the request lacks :method or :path' };
  // RFC 9113 §8.3.1: :authority, else Host; a request with neither cannot be routed.
  const target = authority ?? host;
  if (target === undefined || target === '') return { status: 400, code: 'WEFT_E_HTTP2_BAD_REQUEST', message: 'the request has neither :authority nor host' };
  if (length !== undefined && !(Number.isSafeInteger(length) && length >= 0)) length = undefined;
  return { method, scheme, authority: target, path, headers, length };
}

/** Response fields from upstream; a bodiless answer keeps its content-length (the model's one exception). */
export function responseHeadersOf(raw: readonly string[], bodiless: boolean): { headers: HttpHeaders; length: number | undefined } {
  const headers = new HttpHeaders();
  let length: number | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name === 'content-length') {
      const n = Number(value);
      if (bodiless) headers.addTrusted(name, value);
      else if (Number.isSafeInteger(n) && n >= 0) length = n;
      continue;
    }
    if (isForwarded(name, value)) headers.addTrusted(name, value);
  }
  return { headers, length: bodiless ? 0 : length };
}

/** Trailer fields as the model holds them. */
export function trailersOf(raw: readonly string[]): HttpHeaders | undefined {
  if (raw.length === 0) return undefined;
  const trailers = new HttpHeaders();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (isForwarded(name, value)) trailers.addTrusted(name, value);
  }
  return trailers;
}

function appendForwarded(out: string[], headers: HttpHeaders): void {
  const l = headers.list;
  for (let i = 0; i + 1 < l.length; i += 2) {
    const name = l[i] as string;
    const value = l[i + 1] as string;
    if (isForwarded(name, value)) out.push(name, value);
  }
}

/** The request head for nghttp2, pseudo-headers first (RFC 9113 §8.3). */
export function requestFields(req: HttpRequest): string[] {
  const out = [':method', req.method, ':scheme', req.scheme, ':authority', req.authority, ':path', req.path];
  appendForwarded(out, req.headers);
  const length = req.body.length;
  if (length !== undefined && length > 0) out.push('content-length', String(length));
  return out;
}

/** The response head for nghttp2. */
export function responseFields(res: HttpResponse, headRequest: boolean): string[] {
  const out = [':status', String(res.status)];
  appendForwarded(out, res.headers);
  if (headRequest || statusHasNoBody(res.status)) {
    const length = res.headers.get('content-length');
    if (length !== undefined && res.status !== 204 && res.status >= 200) out.push('content-length', length);
  } else if (res.body.length !== undefined) {
    out.push('content-length', String(res.body.length));
  }
  return out;
}

/** Trailers for Http2Stream.sendTrailers, which takes an object; repeats become arrays. Empty → {}. */
export function trailerObject(trailers: HttpHeaders | undefined): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  if (trailers === undefined) return out;
  const l = trailers.list;
  for (let i = 0; i + 1 < l.length; i += 2) {
    const name = l[i] as string;
    const value = l[i + 1] as string;
    if (!isForwarded(name, value)) continue;
    const prior = out[name];
    if (prior === undefined) out[name] = value;
    else if (typeof prior === 'string') out[name] = [prior, value];
    else prior.push(value);
  }
  return out;
}
