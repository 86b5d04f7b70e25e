// Lab workload: a long-lived HTTP client driven over stdio, so it can run INSIDE a (meshed) pod,
// be started before the agent meshes it, and make new requests whenever a test asks. Each stdin
// line is an HttpClientCommand: `request` (one exchange, answered by one `response` line) or `load`
// (an open-loop fixed-rate run, answered by a `load-summary` line, and with `each` one
// `load-response` line per exchange). See protocol.ts.
// HTTP/1.1 goes through one keep-alive agent (connections are reused); h2 is h2c with prior
// knowledge over one session per host:port. `newConnection` bypasses both.
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpClientCommand, HttpClientEvent, HttpLoadSummary, HttpOutcome, HttpRequestSpec, HttpResponseReport } from './protocol.ts';

function report(event: HttpClientEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const FILL = 'weft-lab-body.';
const BODY_KEPT = 64 * 1024;
const CHUNK_TIMES_KEPT = 1000;

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 256 });
const sessions = new Map<string, http2.ClientHttp2Session>();

function flatten(headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders | NodeJS.Dict<string | string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/** Collects one exchange's outcome; `settle` is called exactly once. */
class Exchange {
  readonly started = performance.now();
  readonly #hash = createHash('sha256');
  readonly #kept: Buffer[] = [];
  #keptBytes = 0;
  status: number | null = null;
  headers: Record<string, string> = {};
  trailers: Record<string, string> = {};
  bodyBytes = 0;
  headMs: number | null = null;
  readonly chunkMs: number[] = [];
  local: { address: string | null; port: number | null } = { address: null, port: null };
  #done = false;
  readonly #resolve: (r: HttpResponseReport) => void;
  readonly protocol: HttpRequestSpec['protocol'];

  constructor(protocol: HttpRequestSpec['protocol'], resolve: (r: HttpResponseReport) => void) {
    this.protocol = protocol;
    this.#resolve = resolve;
  }

  get done(): boolean {
    return this.#done;
  }

  head(status: number, headers: Record<string, string>): void {
    this.status = status;
    this.headers = headers;
    this.headMs = Math.round(performance.now() - this.started);
  }

  data(chunk: Buffer): void {
    this.bodyBytes += chunk.length;
    this.#hash.update(chunk);
    if (this.chunkMs.length < CHUNK_TIMES_KEPT) this.chunkMs.push(Math.round(performance.now() - this.started));
    if (this.#keptBytes < BODY_KEPT) {
      const part = chunk.subarray(0, BODY_KEPT - this.#keptBytes);
      this.#kept.push(part);
      this.#keptBytes += part.length;
    }
  }

  watchSocket(socket: net.Socket): void {
    const read = (): void => {
      this.local = { address: socket.localAddress ?? null, port: socket.localPort ?? null };
    };
    if (socket.localPort !== undefined) read();
    else socket.once('connect', read);
  }

  settle(how: HttpOutcome, error?: NodeJS.ErrnoException): void {
    if (this.#done) return;
    this.#done = true;
    this.#resolve({
      protocol: this.protocol,
      status: this.status,
      headers: this.headers,
      trailers: this.trailers,
      bodyBytes: this.bodyBytes,
      sha256: this.#hash.digest('hex'),
      body: Buffer.concat(this.#kept).toString('base64'),
      how,
      errorCode: error === undefined ? null : (error.code ?? error.name),
      errorMessage: error === undefined ? null : error.message,
      headMs: this.headMs,
      latencyMs: Math.round(performance.now() - this.started),
      chunkMs: this.chunkMs,
      localAddress: this.local.address,
      localPort: this.local.port,
    });
  }
}

function requestBody(spec: HttpRequestSpec): Buffer {
  return spec.bodyBytes > 0 ? Buffer.alloc(spec.bodyBytes, FILL) : Buffer.from(spec.body, 'base64');
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION', 'ERR_STREAM_PREMATURE_CLOSE']);

function outcomeOf(error: NodeJS.ErrnoException): HttpOutcome {
  return RESET_CODES.has(error.code ?? '') || /socket hang up|aborted/i.test(error.message) ? 'reset' : 'error';
}

function requestH1(spec: HttpRequestSpec): Promise<HttpResponseReport> {
  return new Promise((resolve) => {
    const x = new Exchange('http/1.1', resolve);
    const agent = spec.newConnection ? new http.Agent({ keepAlive: false }) : keepAlive;
    const req = http.request({ host: spec.host, port: spec.port, method: spec.method, path: spec.path, headers: spec.headers, agent });
    const timer = setTimeout(() => {
      x.settle('timeout');
      req.destroy();
    }, spec.timeoutMs);
    const settle = (how: HttpOutcome, error?: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      x.settle(how, error);
    };
    req.on('socket', (socket) => x.watchSocket(socket));
    req.on('error', (error: NodeJS.ErrnoException) => settle(outcomeOf(error), error));
    req.on('response', (res) => {
      x.head(res.statusCode ?? 0, flatten(res.headers));
      res.on('data', (chunk: Buffer) => x.data(chunk));
      res.on('end', () => {
        x.trailers = flatten(res.trailers);
        settle('complete');
      });
      res.on('aborted', () => settle('reset', Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
      res.on('error', (error: NodeJS.ErrnoException) => settle(outcomeOf(error), error));
    });
    req.end(requestBody(spec));
  });
}

function session(spec: HttpRequestSpec): http2.ClientHttp2Session {
  const key = `${spec.host}:${spec.port}`;
  const existing = spec.newConnection ? undefined : sessions.get(key);
  if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
  const created = http2.connect(`http://${key}`);
  created.on('error', () => {}); // surfaces on the streams
  if (!spec.newConnection) {
    sessions.set(key, created);
    const forget = (): void => {
      if (sessions.get(key) === created) sessions.delete(key);
    };
    created.once('close', forget);
    created.once('goaway', forget);
  }
  return created;
}

function requestH2(spec: HttpRequestSpec): Promise<HttpResponseReport> {
  return new Promise((resolve) => {
    const x = new Exchange('h2', resolve);
    const s = session(spec);
    const { host, ...headers } = spec.headers;
    const body = requestBody(spec);
    const stream = s.request(
      { ...headers, ':method': spec.method, ':path': spec.path, ...(host === undefined ? {} : { ':authority': host }) },
      { endStream: body.length === 0 },
    );
    x.watchSocket(s.socket);
    const timer = setTimeout(() => {
      x.settle('timeout');
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }, spec.timeoutMs);
    const settle = (how: HttpOutcome, error?: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      x.settle(how, error);
      if (spec.newConnection) s.close();
    };
    stream.on('response', (h) => x.head(Number(h[':status']), flatten(h)));
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => (x.trailers = flatten(t)));
    stream.on('data', (chunk: Buffer) => x.data(chunk));
    let ended = false;
    stream.on('end', () => (ended = true));
    stream.on('error', (error: NodeJS.ErrnoException) => settle(outcomeOf(error), error));
    // A stream of a destroyed session also emits 'end': only a response that ended and a stream
    // that closed without a reset code is complete.
    stream.on('close', () => {
      const code = stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR;
      if (ended && x.status !== null && code === http2.constants.NGHTTP2_NO_ERROR) settle('complete');
      else if (code !== http2.constants.NGHTTP2_NO_ERROR) settle('reset', Object.assign(new Error(`stream reset with code ${code}`), { code: 'ERR_HTTP2_STREAM_ERROR' }));
      else settle('reset', Object.assign(new Error('stream closed before its response ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
    if (body.length > 0) stream.end(body);
  });
}

function perform(spec: HttpRequestSpec): Promise<HttpResponseReport> {
  return spec.protocol === 'h2' ? requestH2(spec) : requestH1(spec);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function load(command: Extract<HttpClientCommand, { op: 'load' }>): Promise<HttpLoadSummary> {
  const started = performance.now();
  const planned = Math.floor((command.rate * command.durationMs) / 1000);
  const outcomes: Record<string, number> = {};
  const latencies: number[] = [];
  const running = new Set<Promise<void>>();
  let sent = 0;
  let skipped = 0;
  let lastEnd = started;
  for (let seq = 0; seq < planned; seq++) {
    const at = started + (seq * 1000) / command.rate;
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    if (running.size >= command.maxInFlight) {
      skipped += 1;
      continue;
    }
    sent += 1;
    const sentMs = Math.round(performance.now() - started);
    const one = perform(command.request).then((r) => {
      const key = r.how === 'complete' && r.status !== null ? String(r.status) : r.how;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      latencies.push(r.latencyMs);
      lastEnd = performance.now();
      if (command.each) report({ event: 'load-response', id: command.id, seq, status: r.status, how: r.how, latencyMs: r.latencyMs, sentMs });
    });
    running.add(one);
    void one.finally(() => running.delete(one));
  }
  const sendingMs = Math.max(command.durationMs, performance.now() - started);
  await Promise.all(running);
  latencies.sort((a, b) => a - b);
  const completed = latencies.length;
  return {
    planned,
    sent,
    skipped,
    completed,
    outcomes,
    durationMs: Math.round(performance.now() - started),
    sentRps: Math.round((sent * 1000 * 100) / sendingMs) / 100,
    completedRps: Math.round((completed * 1000 * 100) / Math.max(1, lastEnd - started)) / 100,
    latencyMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0 },
  };
}

function parseSpec(value: unknown): HttpRequestSpec {
  if (typeof value !== 'object' || value === null) throw new Error('request must be an object');
  const r = value as Record<string, unknown>;
  const { protocol, host, port, method, path, headers, body, bodyBytes, timeoutMs, newConnection } = r;
  if (protocol !== 'http/1.1' && protocol !== 'h2') throw new Error('protocol must be http/1.1 or h2');
  if (typeof host !== 'string' || typeof port !== 'number' || typeof path !== 'string') throw new Error('needs host, port and path');
  return {
    protocol,
    host,
    port,
    method: typeof method === 'string' ? method : 'GET',
    path,
    headers: typeof headers === 'object' && headers !== null ? (headers as Record<string, string>) : {},
    body: typeof body === 'string' ? body : '',
    bodyBytes: typeof bodyBytes === 'number' ? bodyBytes : 0,
    timeoutMs: typeof timeoutMs === 'number' ? timeoutMs : 5000,
    newConnection: newConnection === true,
  };
}

async function run(line: string): Promise<void> {
  const c = JSON.parse(line) as Record<string, unknown>;
  const id = c['id'];
  if (typeof id !== 'number') throw new Error('needs a numeric id');
  const request = parseSpec(c['request']);
  if (c['op'] === 'request') {
    report({ event: 'response', id, ...(await perform(request)) });
  } else if (c['op'] === 'load') {
    const { rate, durationMs, maxInFlight, each } = c;
    if (typeof rate !== 'number' || rate <= 0 || typeof durationMs !== 'number' || durationMs <= 0) {
      throw new Error('load needs rate > 0 (per second) and durationMs > 0');
    }
    const command = { op: 'load', id, request, rate, durationMs, maxInFlight: typeof maxInFlight === 'number' ? maxInFlight : 1000, each: each === true } as const;
    report({ event: 'load-summary', id, ...(await load(command)) });
  } else {
    throw new Error(`unknown op ${JSON.stringify(c['op'])}`);
  }
}

// When stdin closes (the driver is gone) nothing new comes: once the open commands have reported,
// the pooled connections are dropped so that the process ends.
let open = 0;
let closing = false;
const dropPools = (): void => {
  if (!closing || open > 0) return;
  keepAlive.destroy();
  for (const s of sessions.values()) s.close();
};
createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  if (line.trim() === '') return;
  open += 1;
  run(line)
    .catch((error: unknown) => report({ event: 'bad-command', line, message: error instanceof Error ? error.message : String(error) }))
    .finally(() => {
      open -= 1;
      dropPools();
    });
});
process.stdin.on('end', () => {
  closing = true;
  dropPools();
});
process.on('SIGTERM', () => process.exit(0));
report({ event: 'ready', pid: process.pid });
