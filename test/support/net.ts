// Loopback-only network helpers for tests. This workplace allows traffic only on loopback and
// between namespaces we make, so these refuse any other address outright.
import { request, type IncomingHttpHeaders } from 'node:http';
import { createServer, isIP } from 'node:net';
import { once } from 'node:events';

/** A TCP port that was free on `host` a moment ago (the kernel picked it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  assertLoopback(host);
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error(`could not learn a free port on ${host}`);
  return address.port;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

export interface JsonResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The parsed body; narrow it (or assert on it) in the test. */
  readonly body: unknown;
}

export interface HttpGetOptions {
  /** Default 5000 ms for the whole exchange. */
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/** GET a loopback URL and return status, headers and body text, whatever the status. */
export function httpGet(url: string | URL, options: HttpGetOptions = {}): Promise<HttpResponse> {
  const target = new URL(url);
  assertLoopback(target.hostname);
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const req = request(target, { method: 'GET', headers: { ...options.headers }, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (error) => reject(new Error(`GET ${target.href} failed: ${error.message}`, { cause: error })));
    req.end();
  });
}

/** GET a loopback URL and parse the body as JSON; fails with the status and body if it is not JSON. */
export async function getJson(url: string | URL, options: HttpGetOptions = {}): Promise<JsonResponse> {
  const response = await httpGet(url, { ...options, headers: { accept: 'application/json', ...options.headers } });
  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch {
    throw new Error(`GET ${String(url)} answered ${response.status} with a body that is not JSON: ${JSON.stringify(response.text.slice(0, 300))}`);
  }
  return { status: response.status, headers: response.headers, body };
}

function assertLoopback(host: string): void {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const loopback = bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
  if (!loopback) throw new Error(`refusing ${host}: tests may only talk to loopback addresses (and pods in our own namespaces)`);
}
