// The request/response model every protocol maps to (HTTP/1.1 now, HTTP/2 later), so the route
// stack above the transports never sees a protocol. Deliberately small: fields are plain, the header
// list is one flat array, and a body is one object per message (no per-chunk promises, no per-layer
// closures): the hot path allocates a request, a header list and a body, and nothing else.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HttpBody } from './body.ts';
import { HttpHeaders } from './headers.ts';

/** The wire protocol a request arrived in; the endpoint client speaks the same one to the next hop. */
export type HttpProtocol = 'HTTP/1.1' | 'HTTP/2';

/**
 * Who sent a request and how to reach the next hop on its behalf, set by the listener that accepted
 * the connection (like a request extension in hyper/tower): admission counts per `source`, and the
 * endpoint client opens its connections through `connect`, so they leave from the source pod's
 * network namespace with its IP.
 */
export interface RequestOrigin {
  /** The source pod as "namespace/name" (or an address when the pod is unknown). */
  readonly source: string;
  /** The client's address as the agent saw it. */
  readonly clientAddress: string;
  /** Opens a socket (possibly still connecting) to `address:port` from the source's network namespace. */
  readonly connect: (address: string, port: number) => Socket;
  /** A stable key for `connect`'s network namespace: connection pools are kept per key and endpoint. */
  readonly poolKey: string;
}

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
  protocol: HttpProtocol = 'HTTP/1.1';
  /**
   * HTTP/1.1 only: the protocols of an Upgrade request (RFC 9110 §7.8, e.g. "websocket"), or
   * "CONNECT" for a CONNECT request (authority-form target in `authority`). The transports write
   * the hop-by-hop fields; a 101 (or a 2xx to CONNECT) comes back with `HttpResponse.tunnel`.
   */
  upgrade: string | undefined = undefined;
  /** Set by the accepting listener; undefined in tests that call a stack directly. */
  origin: RequestOrigin | undefined = undefined;

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
  /**
   * After a 101 Switching Protocols (or a 2xx to CONNECT): the upstream connection, now carrying
   * the new protocol's bytes. The server transport writes the head, then splices the client's
   * socket to it; whoever drops such a response must destroy the tunnel.
   */
  tunnel: Duplex | undefined = undefined;

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
