// The request/response model every protocol maps to (HTTP/1.1 now, HTTP/2 later), so the route
// stack above the transports never sees a protocol. Deliberately small: fields are plain, the header
// list is one flat array, and a body is one object per message (no per-chunk promises, no per-layer
// closures): the hot path allocates a request, a header list and a body, and nothing else.
import { HttpBody } from './body.ts';
import { HttpHeaders } from './headers.ts';

export class HttpRequest {
  /** Case kept: methods are case-sensitive (RFC 9110 §9.1). */
  method: string;
  /** 'http' or 'https'. */
  scheme: string;
  /** host [":" port]; the request's logical destination (Host / :authority / absolute-form target). */
  authority: string;
  /** origin-form path and query ("/a?b"), or "*" for OPTIONS *. */
  path: string;
  /** End-to-end fields only: framing, Host and hop-by-hop fields are the transport's (see headers.ts). */
  headers: HttpHeaders;
  body: HttpBody;

  constructor(method: string, scheme: string, authority: string, path: string, headers = new HttpHeaders(), body: HttpBody = HttpBody.empty()) {
    this.method = method;
    this.scheme = scheme;
    this.authority = authority;
    this.path = path;
    this.headers = headers;
    this.body = body;
  }
}

export class HttpResponse {
  status: number;
  headers: HttpHeaders;
  body: HttpBody;

  constructor(status: number, headers = new HttpHeaders(), body: HttpBody = HttpBody.empty()) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
}

/** Statuses whose responses never carry content, whatever the request (RFC 9110 §6.4.1). */
export function statusHasNoBody(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}
