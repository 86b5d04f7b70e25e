// Listeners and clients for the HTTP/2 transport tests, all on 127.0.0.1.
import { once } from 'node:events';
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import type { HttpRequest, HttpResponse } from '../../../../agent/proxy/http/message.ts';
import { serveHttp2, type Http2ServerConnection, type Http2ServerDeps } from '../../../../agent/proxy/http2/server-connection.ts';
import { http2ServerParams, type Http2ServerParams } from '../../../../agent/proxy/http2/params.ts';
import type { Service } from '../../../../agent/stack/service.ts';

export interface Listener {
  readonly port: number;
  readonly server: Server;
  readonly connections: Http2ServerConnection[];
  close(): Promise<void>;
}

/** A TCP listener whose accepted sockets are served by serveHttp2. */
export async function listenHttp2(
  service: Service<HttpRequest, HttpResponse>,
  params: Http2ServerParams = http2ServerParams,
  deps: (socket: Socket) => Http2ServerDeps = () => ({}),
): Promise<Listener> {
  const connections: Http2ServerConnection[] = [];
  const server = createServer((socket) => {
    connections.push(serveHttp2(socket, service, params, deps(socket)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    server,
    connections,
    async close() {
      for (const conn of connections) conn.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

export interface ClientResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string[];
  readonly flags: number;
  readonly body: Buffer;
  readonly trailers: IncomingHttpHeaders | undefined;
}

export function h2session(port: number): ClientHttp2Session {
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return session;
}

/** One request on `session`; resolves at the end of the response. */
export function h2request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string, trailers?: OutgoingHttpHeaders): Promise<ClientResult> {
  const stream = session.request(headers, { endStream: body === undefined && trailers === undefined, waitForTrailers: trailers !== undefined });
  if (trailers !== undefined) stream.on('wantTrailers', () => stream.sendTrailers(trailers));
  if (body !== undefined || trailers !== undefined) stream.end(body);
  return collect(stream);
}

export function collect(stream: ClientHttp2Stream): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    let head: { headers: IncomingHttpHeaders; raw: string[]; flags: number } | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (headers, flags, raw) => {
      head = { headers, raw, flags };
    });
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('close', () => {
      if (head === undefined) {
        reject(new Error(`stream closed without a response (rst ${stream.rstCode})`));
        return;
      }
      resolve({ status: Number(head.headers[':status']), headers: head.headers, raw: head.raw, flags: head.flags, body: Buffer.concat(chunks), trailers });
    });
  });
}
