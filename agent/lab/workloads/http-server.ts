// Lab workload: an HTTP server in one process. --port serves HTTP/1.1 (node:http) and h2c (node:http2,
// prior knowledge) both, told apart by the HTTP/2 preface; --h2c-port serves h2c only. 0 lets the
// kernel pick. Every request is reported as JSON lines on stdout (a `request` line when its head
// arrives, a `request-end` line when the exchange ends; see protocol.ts).
//   node http-server.ts [--port N] [--h2c-port N] [--host ADDR]
//
// Each request scripts its own answer with query parameters, or the same names as `x-lab-<name>`
// headers (the query wins):
//   status=N        answer N (default 200)
//   delay=MS        wait before the head
//   body=N          N bytes of body instead of the default JSON echo of the request
//   chunks=N        stream N chunks of `chunk-bytes` (default 64) bytes, `interval` ms apart
//   fail=N          the first N requests of `key` (default: the path without query) answer
//                   `fail-status` (default 503); later ones answer as scripted
//   retry-after=S   a Retry-After header
//   header=NAME:VALUE   an extra response header (repeatable)
//   trailer=NAME:VALUE  with chunks=N: a trailer after the body (repeatable)
//   reset=1|body|connection  abort instead of answering: before the head; after the head and half
//                   the body; or (h2) the whole connection rather than the stream. h1 always
//                   resets the TCP connection.
// The default answer is JSON: { method, path, protocol, headers, bodyBytes, sha256, remoteAddress }.
// Stdin lines `{"op":"mode","id":1,"mode":{"mode":"fail","status":503}}`, or `POST /_control` with
// the mode as its JSON body, change what every later request gets (see HttpServerMode): a mode
// other than `ok` overrides the request's own script.
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { HttpProtocol, HttpServerCommand, HttpServerEvent, HttpServerMode } from './protocol.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'h2c-port': { type: 'string', default: '0' },
    host: { type: 'string', default: '0.0.0.0' },
  },
});

function report(event: HttpServerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const FILL = 'weft-lab-body.';

let mode: HttpServerMode = { mode: 'ok' };
let nextConnection = 1;
let nextRequest = 1;
/** `address:port` of the peer → connection id; h2 compat requests only expose a socket proxy. */
const connectionIds = new Map<string, number>();
/** Requests seen per `fail` key. */
const failCounts = new Map<string, number>();

type Request = http.IncomingMessage | http2.Http2ServerRequest;
/** What the handler uses of a response, common to node:http's and node:http2's compat one. */
interface Response {
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: Buffer): boolean;
  end(chunk: Buffer | string): unknown;
  end(): unknown;
  destroy(): void;
  addTrailers(trailers: Record<string, string>): void;
  on(event: 'finish' | 'close', listener: () => void): unknown;
  once(event: 'close', listener: () => void): unknown;
}

function flatten(headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders | http.OutgoingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

function parseMode(value: unknown): HttpServerMode {
  if (typeof value !== 'object' || value === null) throw new Error('mode must be an object');
  const m = value as Record<string, unknown>;
  if (m['mode'] !== 'ok' && m['mode'] !== 'fail' && m['mode'] !== 'reset' && m['mode'] !== 'hang') {
    throw new Error(`mode must be ok, fail, reset or hang, not ${JSON.stringify(m['mode'])}`);
  }
  const status = m['status'];
  const delayMs = m['delayMs'];
  if (status !== undefined && (typeof status !== 'number' || status < 100 || status > 599)) throw new Error('status must be 100…599');
  if (delayMs !== undefined && (typeof delayMs !== 'number' || delayMs < 0)) throw new Error('delayMs must be a number ≥ 0');
  return {
    mode: m['mode'],
    ...(typeof status === 'number' ? { status } : {}),
    ...(typeof delayMs === 'number' ? { delayMs } : {}),
  };
}

async function handle(protocol: HttpProtocol, req: Request, res: Response): Promise<void> {
  const id = nextRequest++;
  const started = performance.now();
  const url = new URL(req.url ?? '/', 'http://lab');
  const headers = flatten(req.headers);
  const param = (name: string): string | undefined => url.searchParams.get(name) ?? headers[`x-lab-${name}`];
  const number = (name: string, fallback: number): number => {
    const raw = param(name);
    const n = raw === undefined ? NaN : Number(raw);
    return Number.isFinite(n) ? n : fallback;
  };
  const remoteAddress = req.socket.remoteAddress ?? '';
  const remotePort = req.socket.remotePort ?? 0;
  const control = url.pathname === '/_control' && req.method === 'POST';

  const hash = createHash('sha256');
  const sent = createHash('sha256');
  let bodyBytes = 0;
  let bodyComplete = false;
  let responseBytes = 0;
  let status: number | null = null;
  let reset = false;
  let ended = false;
  let finished = false;
  let endCalled = false;
  let closed = false;
  const write = (chunk: Buffer): void => {
    responseBytes += chunk.length;
    sent.update(chunk);
    res.write(chunk);
  };
  const finish = (): void => {
    if (ended || control) return;
    ended = true;
    report({
      event: 'request-end',
      id,
      status,
      bodyBytes,
      sha256: hash.digest('hex'),
      bodyComplete,
      aborted: !reset && !completed(),
      reset,
      responseBytes,
      responseSha256: sent.digest('hex'),
      durationMs: Math.round(performance.now() - started),
    });
  };
  // node:http emits 'finish' only once the response was handed over whole; node:http2's compat
  // response emits it whenever the stream closes, so there a reset code or a missing end() says
  // the client left first.
  const completed = (): boolean => {
    if (protocol === 'http/1.1') return finished;
    const rst = (req as http2.Http2ServerRequest).stream.rstCode;
    return endCalled && (rst === undefined || rst === http2.constants.NGHTTP2_NO_ERROR);
  };
  const gone = (): boolean => closed || ended;
  res.on('finish', () => {
    finished = true;
    finish();
  });
  res.on('close', () => {
    closed = true;
    finish();
  });

  if (!control) {
    report({
      event: 'request',
      id,
      connection: connectionIds.get(`${remoteAddress}:${remotePort}`) ?? 0,
      protocol,
      method: req.method ?? '',
      path: req.url ?? '',
      authority: headers[':authority'] ?? headers['host'] ?? '',
      headers,
      remoteAddress,
      remotePort,
      at: Date.now(),
    });
  }

  const abort = (how: string): void => {
    reset = true;
    if (protocol === 'h2' && how !== 'connection') {
      (req as http2.Http2ServerRequest).stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    } else if (protocol === 'h2') {
      (req as http2.Http2ServerRequest).stream.session?.destroy();
    } else {
      req.socket.resetAndDestroy();
    }
    finish();
  };

  const body: Buffer[] = [];
  req.on('data', (chunk: Buffer) => {
    bodyBytes += chunk.length;
    hash.update(chunk);
    if (control) body.push(chunk);
  });
  req.on('error', () => {}); // an aborted request: reported through the response's 'close'
  await new Promise<void>((resolve) => {
    req.once('end', () => {
      bodyComplete = true;
      resolve();
    });
    res.once('close', resolve);
  });
  if (gone()) return;

  if (control) {
    let text: string;
    try {
      mode = parseMode(JSON.parse(Buffer.concat(body).toString('utf8')) as unknown);
      report({ event: 'mode', id: 0, mode });
      res.writeHead(200, { 'content-type': 'application/json' });
      text = JSON.stringify(mode);
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      text = error instanceof Error ? error.message : String(error);
    }
    endCalled = true;
    res.end(text);
    return;
  }

  const delayMs = number('delay', 0) + (mode.delayMs ?? 0);
  if (delayMs > 0) await sleep(delayMs);
  if (gone()) return;

  // A mode other than ok overrides whatever the request scripts.
  if (mode.mode === 'hang') return; // never answered; reported when the client leaves
  const resetParam = mode.mode === 'reset' ? 'before' : param('reset');
  if (resetParam === '1' || resetParam === 'before' || resetParam === 'connection') {
    abort(resetParam);
    return;
  }

  status = mode.mode === 'fail' ? (mode.status ?? 503) : number('status', 200);
  const failKey = param('key') ?? url.pathname;
  const failFirst = number('fail', 0);
  if (failFirst > 0 && mode.mode === 'ok') {
    const seen = (failCounts.get(failKey) ?? 0) + 1;
    failCounts.set(failKey, seen);
    if (seen <= failFirst) status = number('fail-status', 503);
  }

  const responseHeaders: Record<string, string> = { 'x-lab-request-id': String(id) };
  const retryAfter = param('retry-after');
  if (retryAfter !== undefined) responseHeaders['retry-after'] = retryAfter;
  for (const header of url.searchParams.getAll('header')) {
    const colon = header.indexOf(':');
    if (colon > 0) responseHeaders[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
  }

  const bodyParam = param('body');
  const chunks = number('chunks', 0);
  if (chunks > 0) {
    const size = number('chunk-bytes', 64);
    const interval = number('interval', 0);
    const trailers: Record<string, string> = {};
    for (const trailer of url.searchParams.getAll('trailer')) {
      const colon = trailer.indexOf(':');
      if (colon > 0) trailers[trailer.slice(0, colon).trim().toLowerCase()] = trailer.slice(colon + 1).trim();
    }
    const announce = Object.keys(trailers).length > 0 && protocol === 'http/1.1' ? { trailer: Object.keys(trailers).join(', ') } : {};
    res.writeHead(status, { ...responseHeaders, ...announce, 'content-type': 'application/octet-stream' });
    for (let i = 0; i < chunks; i++) {
      if (i > 0 && interval > 0) await sleep(interval);
      if (gone()) return;
      write(Buffer.alloc(size, FILL));
      if (resetParam === 'body' && i + 1 >= Math.ceil(chunks / 2)) return abort('body');
    }
    if (Object.keys(trailers).length > 0) res.addTrailers(trailers);
    endCalled = true;
    res.end();
    return;
  }
  let payload: Buffer;
  let type: string;
  if (bodyParam !== undefined) {
    payload = Buffer.alloc(Math.max(0, Number(bodyParam) || 0), FILL);
    type = 'application/octet-stream';
  } else {
    payload = Buffer.from(
      JSON.stringify({ id, method: req.method, path: req.url, protocol, headers, bodyBytes, sha256: hash.copy().digest('hex'), remoteAddress, remotePort }),
    );
    type = 'application/json';
  }
  if (status === 204 || status === 304 || req.method === 'HEAD') {
    // No body allowed (node:http2 would fail the write).
    endCalled = true;
    res.writeHead(status, responseHeaders);
    res.end();
    return;
  }
  res.writeHead(status, { ...responseHeaders, 'content-type': type, 'content-length': String(payload.length) });
  if (resetParam === 'body') {
    write(payload.subarray(0, Math.floor(payload.length / 2)));
    // Let the head and the first half leave before the abort.
    await sleep(20);
    abort('body');
    return;
  }
  responseBytes += payload.length;
  sent.update(payload);
  endCalled = true;
  res.end(payload);
}

function handler(protocol: HttpProtocol): (req: Request, res: Response) => void {
  return (req, res) => {
    handle(protocol, req, res).catch((error: unknown) => {
      process.stderr.write(`http-server: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      res.destroy();
    });
  };
}

const h1 = http.createServer({ keepAliveTimeout: 30_000 }, handler('http/1.1'));
const h2Handler = handler('h2');
const h2 = http2.createServer({}, (req, res) => h2Handler(req, res));
h2.on('sessionError', () => {});

function track(protocol: HttpProtocol) {
  return (socket: net.Socket): void => {
    const connection = nextConnection++;
    const key = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    connectionIds.set(key, connection);
    socket.once('close', () => connectionIds.delete(key));
    report({
      event: 'connection',
      connection,
      protocol,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
    });
  };
}
h1.on('connection', track('http/1.1'));
h2.on('connection', track('h2'));

function listen(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve) => {
    server.once('error', (error) => {
      process.stderr.write(`http-server: cannot listen on ${values.host}:${port}: ${error.message}\n`);
      process.exit(1);
    });
    server.listen(port, values.host, () => resolve((server.address() as net.AddressInfo).port));
  });
}
// --port takes both: a connection whose first bytes are the HTTP/2 preface goes to node:http2, any
// other to node:http. node:http2 reads what is already buffered itself; node:http takes it
// through 'data' once the socket is resumed.
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const front = net.createServer((socket) => {
  let seen = Buffer.alloc(0);
  socket.on('error', () => {});
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const isH2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isH2 && seen.length < PREFACE.length) return; // could still be the preface: wait for more
    socket.off('data', onData);
    socket.pause();
    socket.unshift(seen);
    (isH2 ? h2 : h1).emit('connection', socket);
    if (!isH2) socket.resume();
  };
  socket.on('data', onData);
});
const [port, h2cPort] = await Promise.all([listen(front, Number(values.port)), listen(h2, Number(values['h2c-port']))]);
report({ event: 'listening', address: values.host, port, h2cPort });

createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  if (line.trim() === '') return;
  try {
    const command = JSON.parse(line) as HttpServerCommand;
    if (command.op !== 'mode' || typeof command.id !== 'number') throw new Error('expected {"op":"mode","id":<n>,"mode":{…}}');
    mode = parseMode(command.mode);
    report({ event: 'mode', id: command.id, mode });
  } catch (error) {
    report({ event: 'bad-command', line, message: error instanceof Error ? error.message : String(error) });
  }
});
process.on('SIGTERM', () => process.exit(0));
