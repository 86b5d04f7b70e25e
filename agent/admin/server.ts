// The admin HTTP server (node:http): status, liveness and readiness on the host, bound to
// 127.0.0.1:4191 by default so pods can never reach it. Small and defensive: short header and
// request timeouts, bodies ignored but for PUT/POST (read up to 8 KiB, else 413), every error
// answered as JSON, and a bind failure turned into a message that says what to change. A handler
// may stream its answer (tap): chunked, ended when it is done or the client leaves.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError, WeftError } from '../errors.ts';
import { addCoreRoutes } from './core-routes.ts';
import type { AdminProvider } from './core-routes.ts';
import { AdminRouter, jsonResponse } from './router.ts';
import type { AdminResponse } from './router.ts';

export interface AdminServerParams {
  /** Time allowed for a client to send the request head (slowloris guard). */
  readonly headersTimeoutMs: number;
  /** Time allowed for the whole request. */
  readonly requestTimeoutMs: number;
  /** Idle time before a keep-alive connection is closed. */
  readonly keepAliveTimeoutMs: number;
  /** How often node:http looks for requests past those timeouts (its default, 30 s, is too lax). */
  readonly timeoutCheckIntervalMs: number;
  /** On close(), how long in-flight requests may finish before their sockets are destroyed. */
  readonly closeGraceMs: number;
}

export const adminServerParams: AdminServerParams = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  timeoutCheckIntervalMs: 1_000,
  closeGraceMs: 2_000,
};

export type AdminLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface AdminServerOptions {
  readonly address: string;
  /** 0 binds any free port (tests); listen() reports the one chosen. */
  readonly port: number;
  readonly provider: AdminProvider;
  readonly params?: AdminServerParams;
  readonly log?: AdminLog;
}

export interface AdminAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  /** `http://127.0.0.1:4191`, `http://[::1]:4191` */
  readonly url: string;
}

export class AdminServer {
  /** Register further routes here (before or after listen()). */
  readonly router: AdminRouter;
  readonly #options: AdminServerOptions;
  readonly #params: AdminServerParams;
  readonly #server: Server;
  readonly #log: AdminLog;
  #bound: AdminAddress | undefined;
  #closing: Promise<void> | undefined;
  /** Streaming answers in progress: ended at close() instead of holding it for the grace period. */
  readonly #streams = new Set<AbortController>();

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#params = options.params ?? adminServerParams;
    this.#log = options.log ?? (() => undefined);
    this.router = addCoreRoutes(new AdminRouter(), options.provider);
    this.#server = createServer(
      {
        headersTimeout: this.#params.headersTimeoutMs,
        requestTimeout: this.#params.requestTimeoutMs,
        keepAliveTimeout: this.#params.keepAliveTimeoutMs,
        connectionsCheckingInterval: this.#params.timeoutCheckIntervalMs,
        maxHeaderSize: 16 * 1024,
      },
      (request, response) => void this.#handle(request, response),
    );
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      // Malformed requests and timeouts: answer when the socket still can, never crash; logged
      // at debug because any local process can cause them.
      if (socket.writable) socket.end(`HTTP/1.1 ${clientErrorStatus(error.code)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
      this.#log('debug', 'admin client error', { error: describeError(error) });
    });
  }

  /** Binds and starts serving; resolves with the bound address. Throws WeftError WEFT_E_ADMIN_BIND. */
  async listen(): Promise<AdminAddress> {
    if (this.#bound !== undefined) return this.#bound;
    const { address, port } = this.#options;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        this.#server.off('listening', onListening);
        reject(bindError(error, address, port));
      };
      const onListening = (): void => {
        this.#server.off('error', onError);
        resolve();
      };
      this.#server.once('error', onError);
      this.#server.once('listening', onListening);
      this.#server.listen({ host: address, port, exclusive: true });
    });
    const info = this.#server.address() as AddressInfo;
    const family = info.family === 'IPv6' ? 6 : 4;
    this.#bound = { address: info.address, port: info.port, family, url: `http://${family === 6 ? `[${info.address}]` : info.address}:${info.port}` };
    this.#log('info', 'admin listening', { url: this.#bound.url });
    return this.#bound;
  }

  /** The bound address, once listening. */
  address(): AdminAddress | undefined {
    return this.#bound;
  }

  /**
   * Stops accepting, closes idle keep-alive sockets at once (else a client's idle connection holds
   * close() open for the keep-alive timeout) and destroys the rest after the grace period.
   */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      const grace = setTimeout(() => this.#server.closeAllConnections(), this.#params.closeGraceMs);
      grace.unref();
      this.#server.close(() => {
        clearTimeout(grace);
        resolve();
      });
      this.#server.closeIdleConnections();
      for (const stream of this.#streams) stream.abort();
    });
    return this.#closing;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let answer: AdminResponse;
    const method = request.method ?? 'GET';
    let path = '/';
    // Bodies are read only for methods that carry one; draining the rest keeps a keep-alive
    // connection usable after one was sent.
    const body = method === 'PUT' || method === 'POST' ? await readBody(request, MAX_BODY_BYTES) : (request.resume(), '');
    try {
      const url = new URL(request.url ?? '/', 'http://admin.invalid');
      path = url.pathname;
      const match = this.router.match(method, path);
      switch (match.kind) {
        case 'found':
          answer = body === undefined
            ? jsonResponse(413, { error: `the request body is larger than ${MAX_BODY_BYTES} bytes` })
            : await match.handler({ method, path, query: url.searchParams, headers: request.headers, body });
          break;
        case 'method-not-allowed':
          answer = jsonResponse(405, { error: `${method} is not allowed on ${path}; allowed: ${match.allow.join(', ')}` }, { headers: { allow: match.allow.join(', ') } });
          break;
        case 'not-found':
          answer = jsonResponse(404, { error: `no such path: ${path}; try ${this.router.paths().join(', ')}` });
          break;
      }
    } catch (error) {
      this.#log('error', 'admin handler failed', { method, path, error: describeError(error) });
      answer = jsonResponse(500, { error: `${method} ${path} failed: ${describeError(error)}` });
    }
    if (response.destroyed) return;
    if (answer.stream !== undefined) {
      await this.#stream(answer, answer.stream, response, method, path);
      return;
    }
    try {
      const body = typeof answer.body === 'string' ? Buffer.from(answer.body, 'utf8') : answer.body;
      response.writeHead(answer.status, { ...answer.headers, 'content-length': String(body.byteLength) });
      response.end(body);
    } catch (error) {
      // A handler's bad header value must not become an unhandled rejection that ends the agent.
      this.#log('error', 'admin response failed', { method, path, error: describeError(error) });
      response.destroy();
    }
  }

  /** A streaming answer: head now, chunks as the handler writes them, ended when it resolves. */
  async #stream(answer: AdminResponse, stream: NonNullable<AdminResponse['stream']>, response: ServerResponse, method: string, path: string): Promise<void> {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    response.once('close', onClose);
    this.#streams.add(abort);
    // A stream outlives the request timeout; only the client leaving or close() ends it early.
    response.socket?.setTimeout(0);
    try {
      response.writeHead(answer.status, { ...answer.headers });
      response.flushHeaders();
      await stream(response, abort.signal);
      if (!response.destroyed) response.end();
    } catch (error) {
      this.#log('error', 'admin stream failed', { method, path, error: describeError(error) });
      response.destroy();
    } finally {
      response.off('close', onClose);
      this.#streams.delete(abort);
    }
  }
}

const MAX_BODY_BYTES = 8 * 1024;

/** The body as UTF-8 text, or undefined when it is longer than `limit` (the rest is drained). */
function readBody(request: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    request.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')));
    request.on('error', () => resolve(undefined));
    request.on('close', () => resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')));
  });
}

export function createAdminServer(options: AdminServerOptions): AdminServer {
  return new AdminServer(options);
}

function clientErrorStatus(code: string | undefined): string {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  if (code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  return '400 Bad Request';
}

function bindError(error: NodeJS.ErrnoException, address: string, port: number): WeftError {
  const where = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  const change = 'set admin.port or WEFT_ADMIN_PORT';
  switch (error.code) {
    case 'EADDRINUSE':
      return new WeftError('WEFT_E_ADMIN_BIND', `${where} is in use: another agent running? ${change}`, { cause: error });
    case 'EACCES':
    case 'EPERM':
      return new WeftError('WEFT_E_ADMIN_BIND', `not permitted to bind ${where}: ports below 1024 need CAP_NET_BIND_SERVICE; ${change}`, { cause: error });
    case 'EADDRNOTAVAIL':
      return new WeftError('WEFT_E_ADMIN_BIND', `${address} is not an address of this host: set admin.address or WEFT_ADMIN_ADDRESS`, { cause: error });
    default:
      return new WeftError('WEFT_E_ADMIN_BIND', `cannot bind the admin server to ${where}: ${describeError(error)}`, { cause: error });
  }
}
