// Outbound capture: a meshed pod dialled some address, connect4 rewrote it to the agent's listener
// inside that pod's netns, and here the connection is accepted, its original destination recovered,
// routed, and spliced to an upstream opened from inside the same netns (so the destination sees the
// pod's own source IP, and NetworkPolicies keep working).
//
// Each connection's protocol is detected first: HTTP/1.1 and HTTP/2 are served request by request
// through the destination's route stack (outbound-http.ts); TLS, server-first ports, anything
// unrecognised and clients that stay silent past the detection timeout are spliced as opaque TCP,
// with the bytes detection read written upstream first.
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { describeError, WeftError } from '../errors.ts';
import type { Service } from '../stack/service.ts';
import type { Clock } from '../time/clock.ts';
import type { DetectCounters } from './detect/detect-protocol.ts';
import { detectProtocol } from './detect/detect-protocol.ts';
import type { DetectParams } from './detect/params.ts';
import type { HttpRequest, HttpResponse } from './http/message.ts';
import { spliceOpaque } from './opaque.ts';

export interface OriginalDestination {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

export interface UpstreamTarget {
  readonly address: string;
  readonly port: number;
}

/** Where a connection to `dst` should go: a known service's endpoints, or straight through. */
export type RouteDecision =
  | { readonly kind: 'service'; readonly name: string; readonly endpoints: readonly UpstreamTarget[] }
  | { readonly kind: 'passthrough' };

export interface OutboundRouter {
  route(dst: OriginalDestination): RouteDecision;
}

/** Opens unconnected-then-connecting sockets in the pod's own network namespace. */
export interface UpstreamConnector {
  connect(target: UpstreamTarget): Socket;
}

export interface OutboundParams {
  /** Per-attempt connect timeout (Linkerd's outbound default is 1 s). */
  readonly connectTimeoutMs: number;
  /** Endpoints tried for one connection when connecting fails (a refused connect is always safe to retry). */
  readonly maxConnectAttempts: number;
}

export const outboundParams: OutboundParams = { connectTimeoutMs: 1000, maxConnectAttempts: 3 };

export interface OutboundEvents {
  /** A connection finished (or failed); `error` names why it failed. */
  onConnection(record: OutboundConnectionRecord): void;
}

export interface OutboundConnectionRecord {
  readonly client: string;
  readonly destination: string;
  readonly route: string;
  readonly upstream: string | undefined;
  readonly outcome: 'closed' | 'client-reset' | 'upstream-reset' | 'no-original-destination' | 'connect-failed';
  /** What detection decided: http1, http2, or opaque (TLS, server-first, unknown, timeout). */
  readonly protocol?: 'http1' | 'http2' | 'opaque';
  readonly error: string | undefined;
  readonly clientBytes: number;
  readonly upstreamBytes: number;
  readonly durationMs: number;
}

/** The request-level half of the outbound proxy; without it every connection is opaque. */
export interface OutboundHttp {
  readonly detect: DetectParams;
  readonly counters: DetectCounters;
  readonly clock: Clock;
  /** HTTP/2 is served request by request; false: an h2c connection is spliced as opaque TCP. */
  readonly http2: boolean;
  /** The service one HTTP connection's requests go to: each is named, bound and routed on its own. */
  readonly connectionService: (dst: OriginalDestination) => Service<HttpRequest, HttpResponse>;
  /** Serves an HTTP connection until it closes; `prefix` is what detection already read. */
  readonly serve: (protocol: 'http1' | 'http2', socket: Socket, prefix: Buffer, service: Service<HttpRequest, HttpResponse>) => void;
}

export interface OutboundDeps {
  /** Looks up (and consumes) the original destination recorded by sockops for this client port. */
  readonly originalDestination: (family: 4 | 6, clientPort: number) => OriginalDestination | undefined;
  readonly router: OutboundRouter;
  readonly connector: UpstreamConnector;
  readonly events: OutboundEvents;
  readonly now: () => number;
  readonly http?: OutboundHttp;
}

const HTTP1_VERSION = Buffer.from(' HTTP/1.', 'latin1');

/** The first line (up to LF) carries " HTTP/1." — the client meant HTTP/1, however badly. */
function namesHttp1(prefix: Buffer): boolean {
  const lineEnd = prefix.indexOf(0x0a);
  const at = prefix.indexOf(HTTP1_VERSION);
  return at > 0 && (lineEnd < 0 || at < lineEnd);
}

export function formatHostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Handles the connections accepted on one pod's outbound listener. */
export class OutboundHandler {
  readonly #params: OutboundParams;
  readonly #deps: OutboundDeps;
  readonly #rotation = new Map<string, number>();
  #active = 0;

  constructor(params: OutboundParams, deps: OutboundDeps) {
    this.#params = params;
    this.#deps = deps;
  }

  get active(): number {
    return this.#active;
  }

  handle(client: Socket): void {
    this.#active += 1;
    const started = this.#deps.now();
    const clientName = formatHostPort(client.remoteAddress ?? '?', client.remotePort ?? 0);
    // A reset from the client while we are still connecting upstream must not crash the agent.
    client.on('error', () => undefined);
    this.#serve(client, clientName, started)
      .catch((error: unknown) => {
        client.resetAndDestroy();
        this.#record({
          client: clientName, destination: '?', route: '?', upstream: undefined, outcome: 'connect-failed',
          error: describeError(error), clientBytes: 0, upstreamBytes: 0, durationMs: this.#deps.now() - started,
        });
      })
      .finally(() => {
        this.#active -= 1;
      });
  }

  async #serve(client: Socket, clientName: string, started: number): Promise<void> {
    const family = client.remoteFamily === 'IPv6' ? 6 : 4;
    const dst = this.#deps.originalDestination(family, client.remotePort ?? 0);
    if (dst === undefined) {
      // Not redirected by our programs (something dialled the capture port itself): refuse
      // rather than guess where it meant to go.
      client.resetAndDestroy();
      this.#record({
        client: clientName, destination: '?', route: 'none', upstream: undefined,
        outcome: 'no-original-destination', error: 'no original destination recorded for this connection',
        clientBytes: 0, upstreamBytes: 0, durationMs: this.#deps.now() - started,
      });
      return;
    }
    const destination = formatHostPort(dst.address, dst.port);
    const decision = this.#deps.router.route(dst);
    const routeName = decision.kind === 'service' ? decision.name : 'passthrough';
    let prefix: Buffer | undefined;
    const http = this.#deps.http;
    if (http !== undefined) {
      const detected = await detectProtocol(client, dst.port, http.detect, http.clock, http.counters);
      const protocol = detected.protocol;
      // A first line that names HTTP/1 as its version but breaks RFC 9112 (bad target, bare LF)
      // goes to the HTTP/1 layer too, which refuses it with 400 and the reason: passing it through
      // opaque would hand the server exactly the ambiguous framing request smuggling is made of.
      // A line that merely starts with a word and a space (memcached's "get k", SMTP's "EHLO x")
      // is not HTTP and stays opaque.
      const kind = protocol.kind === 'opaque' && protocol.reason === 'http1-refused' && namesHttp1(detected.prefix) ? 'http1' : protocol.kind;
      if (kind === 'http1' || (kind === 'http2' && http.http2)) {
        await this.#serveHttp(http, kind, client, detected.prefix, http.connectionService(dst), clientName, destination, routeName, started);
        return;
      }
      if (protocol.kind === 'client-closed' && protocol.how === 'reset') {
        client.destroy();
        return;
      }
      prefix = detected.prefix;
      // Opaque from here: reading resumes when the splice pipes the socket.
    }
    const candidates = decision.kind === 'service' ? this.#rotate(decision.name, decision.endpoints) : [dst];

    let upstream: Socket | undefined;
    let lastError: unknown = new WeftError('WEFT_E_PROXY_NO_ENDPOINTS', `${routeName} has no endpoints`);
    let upstreamName: string | undefined;
    for (const target of candidates.slice(0, this.#params.maxConnectAttempts)) {
      if (client.destroyed) break;
      upstreamName = formatHostPort(target.address, target.port);
      try {
        upstream = await this.#connect(target);
        break;
      } catch (error) {
        lastError = error;
      }
    }
    if (upstream === undefined) {
      // The application would have seen a refused connection; give it the same: an RST.
      client.resetAndDestroy();
      this.#record({
        client: clientName, destination, route: routeName, upstream: upstreamName, outcome: 'connect-failed',
        error: describeError(lastError), clientBytes: 0, upstreamBytes: 0, durationMs: this.#deps.now() - started,
      });
      return;
    }
    if (prefix !== undefined && prefix.length > 0) upstream.write(prefix);
    const result = await spliceOpaque(client, upstream);
    this.#record({
      client: clientName, destination, route: routeName, upstream: upstreamName, outcome: result.ending,
      error: result.error === undefined ? undefined : (result.error.code ?? result.error.message),
      clientBytes: result.clientBytes, upstreamBytes: result.upstreamBytes, durationMs: this.#deps.now() - started,
    });
  }

  #serveHttp(
    http: OutboundHttp, protocol: 'http1' | 'http2', client: Socket, prefix: Buffer, route: Service<HttpRequest, HttpResponse>,
    clientName: string, destination: string, routeName: string, started: number,
  ): Promise<void> {
    return new Promise((resolve) => {
      let reset: string | undefined;
      client.on('error', (error: NodeJS.ErrnoException) => {
        reset ??= error.code ?? error.message;
      });
      client.once('close', () => {
        this.#record({
          client: clientName, destination, route: routeName, upstream: undefined, protocol,
          outcome: reset === undefined ? 'closed' : 'client-reset', error: reset,
          clientBytes: client.bytesRead, upstreamBytes: client.bytesWritten, durationMs: this.#deps.now() - started,
        });
        resolve();
      });
      http.serve(protocol, client, prefix, route);
    });
  }

  /** Round-robin start point per service, so successive connections spread over its endpoints. */
  #rotate(service: string, endpoints: readonly UpstreamTarget[]): UpstreamTarget[] {
    if (endpoints.length === 0) return [];
    const start = (this.#rotation.get(service) ?? 0) % endpoints.length;
    this.#rotation.set(service, start + 1);
    return [...endpoints.slice(start), ...endpoints.slice(0, start)];
  }

  #connect(target: UpstreamTarget): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = this.#deps.connector.connect(target);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new WeftError('WEFT_E_PROXY_CONNECT_TIMEOUT',
          `connect to ${formatHostPort(target.address, target.port)} timed out after ${this.#params.connectTimeoutMs} ms`,
          { flags: { retryable: true } }));
      }, this.#params.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        // The splice installs the real error handling; until then an error must not be unhandled.
        socket.removeAllListeners('error');
        socket.on('error', () => undefined);
        resolve(socket);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new WeftError('WEFT_E_PROXY_CONNECT_FAILED',
          `connect to ${formatHostPort(target.address, target.port)} failed: ${describeError(error)}`,
          { cause: error, flags: { retryable: true } }));
      });
    });
  }

  #record(record: OutboundConnectionRecord): void {
    this.#deps.events.onConnection(record);
  }
}
