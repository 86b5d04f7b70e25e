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
 * The end-to-end fields of `head`, names lower-cased, hop-by-hop ones dropped (RFC 9110 §7.6.1, see
 * hop-by-hop.ts). Host is the request's authority and a request's Upgrade is `HttpRequest.upgrade`,
 * so neither travels in the list. Three fields stay in a normalised form, because the next hop needs
 * to know of them and the writing transport re-creates them for its own hop:
 * - `expect: 100-continue` of an HTTP/1.1 request: it travels end to end so an upstream that refuses
 *   (413, 401, 417) answers before the client uploads (see client-connection.ts); any other
 *   expectation, or one from HTTP/1.0 (RFC 9110 §10.1.1: MUST be ignored), is dropped.
 * - `te: trailers` when a request's TE lists trailers (as Envoy and Go's ReverseProxy keep it): it is
 *   a statement about the client (it accepts trailers), which holds across weft since weft relays
 *   them; gRPC needs it. Other TE members are codings of this hop and go.
 * - `upgrade` of a 101 (head.upgrade is set only on a 101 to an upgrade request): the protocol
 *   switched to, which the server transport writes back to its client with connection: upgrade.
 */
export function headersOf(head: Http1Head): HttpHeaders {
  const headers = new HttpHeaders();
  const request = head.kind === 'request';
  let trailers = false;
  for (let i = 0; i < head.fieldCount; i++) {
    const known = head.known(i);
    if (known === KnownField.host) continue;
    if (request) {
      if (known === KnownField.upgrade) continue;
      if (known === KnownField.expect) {
        if (head.expectContinue && !headers.has('expect') && isExpectContinue(head.value(i))) headers.addTrusted('expect', '100-continue');
        continue;
      }
      if (known === KnownField.te) {
        if (!trailers && listHas(head.value(i), 'trailers')) {
          trailers = true;
          headers.addTrusted('te', 'trailers');
        }
        continue;
      }
    }
    if (!isForwarded(head, i)) continue;
    headers.addTrusted(head.name(i).toLowerCase(), head.value(i));
  }
  return headers;
}

function isExpectContinue(value: string): boolean {
  return value.toLowerCase() === '100-continue';
}

/** Whether a comma-separated list (TE, Connection) has `token` (lower-case) as a member, parameters ignored. */
export function listHas(value: string, token: string): boolean {
  for (const member of value.split(',')) {
    const semi = member.indexOf(';');
    if ((semi < 0 ? member : member.slice(0, semi)).trim().toLowerCase() === token) return true;
  }
  return false;
}

/** The protocols an upgrade request asks for, every Upgrade line in order (RFC 9110 §7.8). */
export function upgradeOf(head: Http1Head): string {
  let out = '';
  for (let i = 0; i < head.fieldCount; i++) {
    if (head.known(i) !== KnownField.upgrade) continue;
    const value = head.value(i);
    if (value.length > 0) out = out.length === 0 ? value : `${out}, ${value}`;
  }
  return out;
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
  // A CONNECT names no path (its target is the authority); '' keeps path-based routes from matching it.
  const tunnel = head.body === 'tunnel';
  const req = new HttpRequest(head.method, scheme, authority, tunnel ? '' : pathOf(head), headersOf(head), body);
  if (tunnel) req.upgrade = 'CONNECT';
  else if (head.upgrade) {
    const protocols = upgradeOf(head);
    if (protocols.length > 0) req.upgrade = protocols;
  }
  return req;
}

/** The body's length as the head declares it: 0 for none, n for Content-Length, undefined otherwise. */
export function declaredLength(head: Http1Head): number | undefined {
  // A CONNECT request has no content (RFC 9110 §9.3.6): what follows its head is the tunnel's.
  if (head.body === 'none' || head.body === 'tunnel') return 0;
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
  if (req.method === 'CONNECT') return NO_BODY;
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

// Upgrade = #protocol, protocol = token ["/" token] (RFC 9110 §7.8); checked like the start line,
// since `upgrade` is a plain model field a layer could set.
const UPGRADE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?)*$/;

/**
 * The request head for an upstream: start line, Host, the list's fields, then the fields of this
 * hop: TE and Upgrade with the Connection options naming them, and the framing. A CONNECT is sent
 * in authority-form with no framing (RFC 9110 §9.3.6); an upgrade request asks for `req.upgrade`.
 */
export function encodeRequestHead(req: HttpRequest, framing: WireFraming): Buffer {
  const connect = req.method === 'CONNECT';
  const upgrade = connect ? undefined : req.upgrade;
  if (
    !METHOD.test(req.method) ||
    (!connect && !TARGET.test(req.path)) ||
    !AUTHORITY.test(req.authority) ||
    (upgrade !== undefined && (upgrade === 'CONNECT' || !UPGRADE.test(upgrade)))
  ) {
    throw new WeftError(
      'WEFT_E_HTTP_BAD_REQUEST_HEAD',
      `http1: cannot send method ${JSON.stringify(req.method)}, path ${JSON.stringify(req.path)}, authority ${JSON.stringify(req.authority)}, upgrade ${JSON.stringify(upgrade)}`,
    );
  }
  let out = `${req.method} ${connect ? req.authority : req.path} HTTP/1.1\r\nhost: ${req.authority}\r\n`;
  out = appendFields(out, req.headers, false);
  // RFC 9110 §10.1.4: a sender of TE MUST also send a "TE" connection option.
  const te = req.headers.get('te');
  const trailers = te !== undefined && listHas(te, 'trailers');
  if (trailers) out += 'te: trailers\r\n';
  if (upgrade !== undefined) out += `upgrade: ${upgrade}\r\n`;
  if (trailers) out += upgrade !== undefined ? 'connection: te, upgrade\r\n' : 'connection: te\r\n';
  else if (upgrade !== undefined) out += 'connection: upgrade\r\n';
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

/**
 * The head that switches a client's connection: a 101 with connection: upgrade and the protocol the
 * upstream chose (the response list's `upgrade`, relayed as it came: the client checks it, RFC 6455
 * §4.1), or a 2xx to CONNECT. Neither has framing (RFC 9110 §9.3.6: a 2xx to CONNECT MUST NOT carry
 * Content-Length or Transfer-Encoding); after the blank line the bytes are the tunnel's.
 */
export function encodeSwitchHead(res: HttpResponse): Buffer {
  let out = `HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? 'Unknown'}\r\n`;
  out = appendFields(out, res.headers, false);
  if (res.status === 101) {
    const protocols = res.headers.getAll('upgrade');
    if (protocols.length > 0) out += `upgrade: ${protocols.join(', ')}\r\n`;
    out += 'connection: upgrade\r\n';
  }
  return Buffer.from(`${out}\r\n`, 'latin1');
}

/** The last chunk with trailers, if any. */
export function encodeLastChunk(trailers: HttpHeaders | undefined): Buffer {
  if (trailers === undefined || trailers.size === 0) return Buffer.from('0\r\n\r\n', 'latin1');
  return Buffer.from(appendFields('0\r\n', trailers, false) + '\r\n', 'latin1');
}
