// Lab workload: a gRPC server (@grpc/grpc-js, insecure: h2c) with one service, weft.lab.Echo, whose
// messages are JSON (no .proto): Unary echoes; ServerStream sends `count` replies; ClientStream
// answers once with every message joined; Bidi echoes each message. A request's `status`/`details`
// fields, or the metadata `x-status`/`x-details`, end the call with that status instead of OK;
// `delayMs` (or metadata `x-delay-ms`) waits first. Every call is reported as JSON lines on stdout
// (`call` when it arrives, `call-end` when it ends; see protocol.ts). A stdin line
// `{"op":"mode","id":1,"mode":{"code":14}}` makes every later call end with that status.
//   node grpc-server.ts [--port N] [--host ADDR]
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { echoService } from './grpc-echo.ts';
import { type GrpcEchoReply, type GrpcEchoRequest, type GrpcMethod, type GrpcServerCommand, type GrpcServerEvent, type GrpcServerMode } from './protocol.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '0.0.0.0' },
  },
});

function report(event: GrpcServerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const service = echoService;

type AnyCall = grpc.ServerUnaryCall<GrpcEchoRequest, GrpcEchoReply> | grpc.ServerReadableStream<GrpcEchoRequest, GrpcEchoReply> | grpc.ServerWritableStream<GrpcEchoRequest, GrpcEchoReply> | grpc.ServerDuplexStream<GrpcEchoRequest, GrpcEchoReply>;

// grpc-js removes grpc-timeout from the metadata it gives the application. To report the header
// as it arrived, the HTTP/2 servers grpc-js makes get a 'stream' listener of ours registered
// before its own, which queues each stream's grpc-timeout by peer and path; the call takes the
// oldest entry for its peer and path.
const timeouts = new Map<string, (string | null)[]>();
const createServer = http2.createServer.bind(http2);
http2.createServer = ((...args: Parameters<typeof http2.createServer>) => {
  const server = createServer(...args);
  server.on('stream', (stream, headers) => {
    const key = `${stream.session?.socket.remoteAddress ?? ''}:${stream.session?.socket.remotePort ?? 0}${headers[':path'] ?? ''}`;
    const value = headers['grpc-timeout'];
    timeouts.set(key, [...(timeouts.get(key) ?? []), typeof value === 'string' ? value : null]);
  });
  return server;
}) as typeof http2.createServer;

function takeTimeout(peer: string, path: string): string | null {
  const queue = timeouts.get(`${peer}${path}`);
  const value = queue?.shift() ?? null;
  if (queue?.length === 0) timeouts.delete(`${peer}${path}`);
  return value;
}

let nextCall = 1;
let mode: GrpcServerMode = {};
const OK: number = grpc.status.OK;

/** One call's bookkeeping: reports `call` now and `call-end` once, when `end` is called. */
class Tracked {
  readonly id = nextCall++;
  readonly started = performance.now();
  readonly metadata: Record<string, string>;
  messagesIn = 0;
  messagesOut = 0;
  cancelled = false;
  #ended = false;

  constructor(name: GrpcMethod, call: AnyCall) {
    this.metadata = {};
    for (const [key, value] of Object.entries(call.metadata.getMap())) {
      this.metadata[key] = Buffer.isBuffer(value) ? value.toString('base64') : value;
    }
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    report({
      event: 'call',
      id: this.id,
      method: name,
      metadata: this.metadata,
      peer: call.getPeer(),
      deadlineMs: Number.isFinite(at) ? Math.round(at - Date.now()) : null,
      grpcTimeout: takeTimeout(call.getPeer(), call.getPath()),
      at: Date.now(),
    });
    const events: NodeJS.EventEmitter = call;
    events.on('cancelled', () => {
      this.cancelled = true;
      this.end(grpc.status.CANCELLED, 'cancelled by the client or its deadline');
    });
  }

  /** The status this call should end with: from the request, else the metadata, else OK. */
  status(request: GrpcEchoRequest | undefined): { code: number; details: string } {
    if (mode.code !== undefined) return { code: mode.code, details: mode.details ?? '' };
    const code = request?.status ?? Number(this.metadata['x-status'] ?? OK);
    return { code: Number.isInteger(code) ? code : OK, details: request?.details ?? this.metadata['x-details'] ?? '' };
  }

  delayMs(request: GrpcEchoRequest | undefined): number {
    return (mode.delayMs ?? 0) + (request?.delayMs ?? (Number(this.metadata['x-delay-ms'] ?? 0) || 0));
  }

  end(code: number, details: string): void {
    if (this.#ended) return;
    this.#ended = true;
    report({
      event: 'call-end',
      id: this.id,
      code,
      details,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      cancelled: this.cancelled,
      durationMs: Math.round(performance.now() - this.started),
    });
  }
}

function reply(request: GrpcEchoRequest | undefined, index: number, peer: string): GrpcEchoReply {
  const bytes = request?.bytes ?? 0;
  return { message: request?.message ?? '', index, peer, ...(bytes > 0 ? { padding: 'x'.repeat(bytes) } : {}) };
}

function failure(code: number, details: string): Partial<grpc.StatusObject> {
  return { code, details, metadata: new grpc.Metadata() };
}

const handlers: grpc.UntypedServiceImplementation = {
  Unary: (call: grpc.ServerUnaryCall<GrpcEchoRequest, GrpcEchoReply>, callback: grpc.sendUnaryData<GrpcEchoReply>) => {
    const t = new Tracked('Unary', call);
    t.messagesIn = 1;
    void (async () => {
      await sleep(t.delayMs(call.request));
      if (t.cancelled) return;
      const { code, details } = t.status(call.request);
      if (code === OK) t.messagesOut = 1;
      t.end(code, details);
      if (code !== OK) return callback(failure(code, details));
      callback(null, reply(call.request, 0, call.getPeer()));
    })();
  },
  ServerStream: (call: grpc.ServerWritableStream<GrpcEchoRequest, GrpcEchoReply>) => {
    const t = new Tracked('ServerStream', call);
    t.messagesIn = 1;
    void (async () => {
      const count = call.request.count ?? 1;
      for (let i = 0; i < count; i++) {
        await sleep(t.delayMs(call.request));
        if (t.cancelled) return;
        call.write(reply(call.request, i, call.getPeer()));
        t.messagesOut += 1;
      }
      const { code, details } = t.status(call.request);
      t.end(code, details);
      if (code !== OK) call.emit('error', failure(code, details));
      else call.end();
    })();
  },
  ClientStream: (call: grpc.ServerReadableStream<GrpcEchoRequest, GrpcEchoReply>, callback: grpc.sendUnaryData<GrpcEchoReply>) => {
    const t = new Tracked('ClientStream', call);
    const seen: GrpcEchoRequest[] = [];
    call.on('data', (request: GrpcEchoRequest) => {
      t.messagesIn += 1;
      seen.push(request);
    });
    call.on('end', () => {
      void (async () => {
        const last = seen.at(-1);
        await sleep(t.delayMs(last));
        if (t.cancelled) return;
        const { code, details } = t.status(last);
        if (code === OK) t.messagesOut = 1;
        t.end(code, details);
        if (code !== OK) return callback(failure(code, details));
        callback(null, { message: seen.map((r) => r.message ?? '').join(','), index: seen.length, peer: call.getPeer() });
      })();
    });
  },
  Bidi: (call: grpc.ServerDuplexStream<GrpcEchoRequest, GrpcEchoReply>) => {
    const t = new Tracked('Bidi', call);
    let last: GrpcEchoRequest | undefined;
    call.on('data', (request: GrpcEchoRequest) => {
      last = request;
      call.write(reply(request, t.messagesIn, call.getPeer()));
      t.messagesIn += 1;
      t.messagesOut += 1;
    });
    call.on('end', () => {
      if (t.cancelled) return;
      const { code, details } = t.status(last);
      t.end(code, details);
      if (code !== OK) call.emit('error', failure(code, details));
      else call.end();
    });
  },
};

const server = new grpc.Server();
server.addService(service, handlers);
server.bindAsync(`${values.host}:${values.port}`, grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error !== null) {
    process.stderr.write(`grpc-server: cannot listen on ${values.host}:${values.port}: ${error.message}\n`);
    process.exit(1);
  }
  report({ event: 'listening', address: values.host, port });
});
function parseMode(value: unknown): GrpcServerMode {
  if (typeof value !== 'object' || value === null) throw new Error('mode must be an object');
  const { code, details, delayMs } = value as Record<string, unknown>;
  if (code !== undefined && (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > 16)) throw new Error('code must be a gRPC status, 0…16');
  if (details !== undefined && typeof details !== 'string') throw new Error('details must be a string');
  if (delayMs !== undefined && (typeof delayMs !== 'number' || delayMs < 0)) throw new Error('delayMs must be a number ≥ 0');
  return {
    ...(typeof code === 'number' ? { code } : {}),
    ...(typeof details === 'string' ? { details } : {}),
    ...(typeof delayMs === 'number' ? { delayMs } : {}),
  };
}

createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  if (line.trim() === '') return;
  try {
    const command = JSON.parse(line) as GrpcServerCommand;
    if (command.op !== 'mode' || typeof command.id !== 'number') throw new Error('expected {"op":"mode","id":<n>,"mode":{…}}');
    mode = parseMode(command.mode);
    report({ event: 'mode', id: command.id, mode });
  } catch (error) {
    report({ event: 'bad-command', line, message: error instanceof Error ? error.message : String(error) });
  }
});
process.on('SIGTERM', () => process.exit(0));
