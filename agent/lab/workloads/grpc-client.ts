// Lab workload: a long-lived gRPC client (@grpc/grpc-js, insecure: h2c) for weft.lab.Echo, driven
// over stdio like tcp-client: each stdin line is a GrpcClientCommand (one call of any of the four
// kinds, with metadata and a deadline), answered by one `result` line with the status code,
// details, the replies, and the response headers and trailers. One channel per target is reused
// unless a command asks for a new one. See protocol.ts.
import * as grpc from '@grpc/grpc-js';
import { createInterface } from 'node:readline';
import { echoService } from './grpc-echo.ts';
import { GRPC_ECHO_SERVICE, type GrpcCallReport, type GrpcClientCommand, type GrpcClientEvent, type GrpcEchoReply, type GrpcEchoRequest } from './protocol.ts';

function report(event: GrpcClientEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const EchoClient = grpc.makeGenericClientConstructor(echoService, GRPC_ECHO_SERVICE);

const clients = new Map<string, grpc.Client>();

function clientFor(command: GrpcClientCommand): grpc.Client {
  const existing = command.newChannel ? undefined : clients.get(command.target);
  if (existing !== undefined) return existing;
  // A fresh subchannel pool per client, so `newChannel` really makes a new connection.
  const created = new EchoClient(command.target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  if (!command.newChannel) clients.set(command.target, created);
  return created;
}

function flatten(metadata: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.toJSON())) {
    out[key] = value.map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v)).join(', ');
  }
  return out;
}

function call(command: GrpcClientCommand): Promise<GrpcCallReport> {
  const client = clientFor(command);
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(command.metadata)) metadata.set(key, value);
  const options: grpc.CallOptions = command.deadlineMs === null ? {} : { deadline: Date.now() + command.deadlineMs };
  const started = performance.now();
  const messages: GrpcEchoReply[] = [];
  let headers: Record<string, string> = {};
  const first = command.requests[0] ?? {};

  return new Promise((resolve) => {
    const done = (status: grpc.StatusObject): void => {
      if (command.newChannel) client.close();
      resolve({
        code: status.code,
        details: status.details,
        messages,
        headers,
        trailers: flatten(status.metadata),
        latencyMs: Math.round(performance.now() - started),
      });
    };
    const unaryCallback = (_error: grpc.ServiceError | null, value?: GrpcEchoReply): void => {
      if (value !== undefined) messages.push(value);
    };
    let surface: grpc.ClientUnaryCall | grpc.ClientReadableStream<GrpcEchoReply> | grpc.ClientWritableStream<GrpcEchoRequest> | grpc.ClientDuplexStream<GrpcEchoRequest, GrpcEchoReply>;
    switch (command.call) {
      case 'unary':
        surface = client.makeUnaryRequest(echoService.Unary.path, echoService.Unary.requestSerialize, echoService.Unary.responseDeserialize, first, metadata, options, unaryCallback);
        break;
      case 'server-stream':
        surface = client.makeServerStreamRequest(echoService.ServerStream.path, echoService.ServerStream.requestSerialize, echoService.ServerStream.responseDeserialize, first, metadata, options);
        break;
      case 'client-stream': {
        const stream = client.makeClientStreamRequest(echoService.ClientStream.path, echoService.ClientStream.requestSerialize, echoService.ClientStream.responseDeserialize, metadata, options, unaryCallback);
        for (const request of command.requests) stream.write(request);
        stream.end();
        surface = stream;
        break;
      }
      case 'bidi': {
        const stream = client.makeBidiStreamRequest(echoService.Bidi.path, echoService.Bidi.requestSerialize, echoService.Bidi.responseDeserialize, metadata, options);
        for (const request of command.requests) stream.write(request);
        stream.end();
        surface = stream;
        break;
      }
    }
    const events: NodeJS.EventEmitter = surface;
    events.on('metadata', (m: grpc.Metadata) => (headers = flatten(m)));
    events.on('data', (reply: GrpcEchoReply) => messages.push(reply));
    events.on('error', () => {}); // the status below says it all
    // 'status' comes after the unary callback and after the last message.
    events.on('status', (status: grpc.StatusObject) => setImmediate(() => done(status)));
  });
}

function parseCommand(line: string): GrpcClientCommand {
  const c = JSON.parse(line) as Record<string, unknown>;
  const { id, target, requests, metadata, deadlineMs, newChannel } = c;
  const kind = c['call'];
  if (c['op'] !== 'call') throw new Error(`unknown op ${JSON.stringify(c['op'])}`);
  if (typeof id !== 'number' || typeof target !== 'string') throw new Error('needs id (number) and target (host:port)');
  if (kind !== 'unary' && kind !== 'server-stream' && kind !== 'client-stream' && kind !== 'bidi') throw new Error('call must be unary, server-stream, client-stream or bidi');
  return {
    op: 'call',
    id,
    call: kind,
    target,
    requests: Array.isArray(requests) ? (requests as GrpcEchoRequest[]) : [],
    metadata: typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, string>) : {},
    deadlineMs: typeof deadlineMs === 'number' ? deadlineMs : null,
    newChannel: newChannel === true,
  };
}

let open = 0;
let closing = false;
const closeChannels = (): void => {
  if (!closing || open > 0) return;
  for (const client of clients.values()) client.close();
};
createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  if (line.trim() === '') return;
  let command: GrpcClientCommand;
  try {
    command = parseCommand(line);
  } catch (error) {
    report({ event: 'bad-command', line, message: error instanceof Error ? error.message : String(error) });
    return;
  }
  open += 1;
  void call(command)
    .then((result) => report({ event: 'result', id: command.id, ...result }))
    .finally(() => {
      open -= 1;
      closeChannels();
    });
});
// When stdin closes nothing new comes: once open calls have reported, the channels close and the
// process ends.
process.stdin.on('end', () => {
  closing = true;
  closeChannels();
});
process.on('SIGTERM', () => process.exit(0));
report({ event: 'ready', pid: process.pid });
