// Between HTTP/1.1 heads and the protocol-neutral model (agent/proxy/http/): a parsed head becomes
// an HttpRequest / HttpResponse with only end-to-end fields; a model head becomes bytes with
// framing and Connection written here, once and canonically, so whatever a layer put in the header
// list can never make a second framing for the next parser (RFC 9112 §11.2).
import { STATUS_CODES } from 'node:http';
import { WeftError } from '../../errors.ts';
import type { HttpBody } from '../http/body.ts';
import { HttpHeaders } from '../http/headers.ts';
import { HttpRequest, type HttpResponse } from '../http/message.ts';
import { requestAuthority } from './authority.ts';
import type { Http1Head } from './head.ts';
import { isForwarded } from './hop-by-hop.ts';
import { KnownField } from './known-fields.ts';

/** How a body is delimited on the wire for the next hop. -1: none; -2: chunked; -3: until close; n ≥ 0: content-length n. */
export type WireFraming = number;
export const NO_BODY = -1;
export const CHUNKED = -2;
export const UNTIL_CLOSE = -3;

/** Fields the transport writes itself; never copied from a header list. */
function isTransportField(name: string): boolean {
  switch (name) {
    case 'content-length':
    case 'transfer-encoding':
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'te':
    case 'upgrade':
    case 'host':
      return true;
    default:
      return false;
  }
}

/**
 * The end-to-end fields of `head`, names lower-cased. Host is the request's authority; Expect is
 * answered by the transport that received it (100 Continue), so neither travels in the list. Upgrade
 * is dropped too: weft does not relay protocol switches yet, so the upstream answers in HTTP/1.1.
 */
export function headersOf(head: Http1Head): HttpHeaders {
  const headers = new HttpHeaders();
  const request = head.kind === 'request';
  for (let i = 0; i < head.fieldCount; i++) {
    const known = head.known(i);
    if (known === KnownField.host || known === KnownField.upgrade) continue;
    if (request && known === KnownField.expect) continue;
    if (!isForwarded(head, i)) continue;
    headers.addTrusted(head.name(i).toLowerCase(), head.value(i));
  }
  return headers;
}

/** The path of a request target: origin-form as is, the path of an absolute-form URI, "*" for asterisk-form. */
export function pathOf(head: Http1Head): string {
  const target = head.target;
  if (head.targetForm !== 'absolute') return target;
  const slashes = target.indexOf('://');
  if (slashes < 0) return '/';
  let i = slashes + 3;
  while (i < target.length && target[i] !== '/' && target[i] !== '?' && target[i] !== '#') i++;
  const rest = target.slice(i);
  if (rest.length === 0) return '/';
  return rest[0] === '?' ? `/${rest}` : rest;
}

/** A parsed request head as the model; undefined when it names no authority (HTTP/1.0 without Host). */
export function requestOf(head: Http1Head, body: HttpBody, connectionScheme = 'http'): HttpRequest | undefined {
  const authority = requestAuthority(head);
  if (authority === undefined) return undefined;
  const scheme = head.targetForm === 'absolute' ? (head.target.slice(0, 6).toLowerCase() === 'https:' ? 'https' : 'http') : connectionScheme;
  return new HttpRequest(head.method, scheme, authority, pathOf(head), headersOf(head), body);
}

/** The body's length as the head declares it: 0 for none, n for Content-Length, undefined otherwise. */
export function declaredLength(head: Http1Head): number | undefined {
  if (head.body === 'none') return 0;
  if (head.body === 'length') return head.contentLength;
  return undefined;
}

/** Trailer field lines ("name: value" CRLF, already checked by the chunked decoder) as a list. */
export function trailersOf(lines: Buffer | undefined): HttpHeaders | undefined {
  if (lines === undefined || lines.length === 0) return undefined;
  const out = new HttpHeaders();
  for (const line of lines.toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.addTrusted(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return out;
}

// Methods whose requests mean nothing by content; an empty body for them is sent with no framing
// field at all, as clients do (RFC 9110 §8.6: a user agent SHOULD NOT send Content-Length then).
function bodylessMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'DELETE' || method === 'OPTIONS' || method === 'TRACE';
}

/** How to frame a request body for an HTTP/1.1 upstream. */
export function requestFraming(req: HttpRequest): WireFraming {
  const length = req.body.length;
  if (length === undefined) return CHUNKED;
  if (length === 0 && bodylessMethod(req.method)) return NO_BODY;
  return length;
}

function appendFields(out: string, headers: HttpHeaders, keepContentLength: boolean): string {
  const l = headers.list;
  for (let i = 0; i < l.length; i += 2) {
    const name = l[i] as string;
    if (isTransportField(name) && !(keepContentLength && name === 'content-length')) continue;
    out += `${name}: ${l[i + 1] as string}\r\n`;
  }
  return out;
}

function appendFraming(out: string, framing: WireFraming): string {
  if (framing >= 0) return `${out}content-length: ${framing}\r\n`;
  if (framing === CHUNKED) return `${out}transfer-encoding: chunked\r\n`;
  return out;
}

// Layers rewrite method, path and authority; checked here so that no rewrite can split the start
// line or Host (RFC 9112 §3: token, then a request-target of visible ASCII; RFC 3986 authority).
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e]+$/;
const AUTHORITY = /^[A-Za-z0-9\-._~%!$&'()*+,;=:[\]]+$/;

/** The request head for an upstream: start line, Host, the list's fields, framing. */
export function encodeRequestHead(req: HttpRequest, framing: WireFraming): Buffer {
  if (!METHOD.test(req.method) || !TARGET.test(req.path) || !AUTHORITY.test(req.authority)) {
    throw new WeftError('WEFT_E_HTTP_BAD_REQUEST_HEAD', `http1: cannot send method ${JSON.stringify(req.method)}, path ${JSON.stringify(req.path)}, authority ${JSON.stringify(req.authority)}`);
  }
  let out = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${req.authority}\r\n`;
  out = appendFields(out, req.headers, false);
  out = appendFraming(out, framing);
  return Buffer.from(`${out}\r\n`, 'latin1');
}

/**
 * The response head for a client. `framing` NO_BODY for a HEAD answer, 1xx, 204 and 304: then a
 * content-length in the list (what a GET would have had, RFC 9110 §8.6) goes through as it is.
 */
export function encodeResponseHead(res: HttpResponse, framing: WireFraming, connection: 'close' | 'keep-alive' | undefined): Buffer {
  let out = `HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? 'Unknown'}\r\n`;
  out = appendFields(out, res.headers, framing === NO_BODY && res.status !== 204);
  out = appendFraming(out, framing);
  if (connection !== undefined) out += `connection: ${connection}\r\n`;
  return Buffer.from(`${out}\r\n`, 'latin1');
}

/** The last chunk with trailers, if any. */
export function encodeLastChunk(trailers: HttpHeaders | undefined): Buffer {
  if (trailers === undefined || trailers.size === 0) return Buffer.from('0\r\n\r\n', 'latin1');
  return Buffer.from(appendFields('0\r\n', trailers, false) + '\r\n', 'latin1');
}
