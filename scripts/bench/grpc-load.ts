// gRPC unary load on @grpc/grpc-js at both ends (the issue asks for grpc-js, not a C client).
//   node grpc-load.ts server <port>                          → prints "listening", serves /bench.Echo/Unary
//   node grpc-load.ts client <host:port> <concurrency> <seconds> → one JSON line: { completed, errors, rps }
// The client keeps `concurrency` unary calls in flight on one channel (one HTTP/2 connection,
// multiplexed), closed loop, with 64-byte messages both ways. Messages are raw bytes: no protobuf
// cost on either side, so the figure is the transport's and the proxy's.
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;
const method = {
  path: '/bench.Echo/Unary',
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
} as const;

async function serve(port: number): Promise<void> {
  const server = new grpc.Server();
  server.addService({ Unary: method }, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`0.0.0.0:${port}`, grpc.ServerCredentials.createInsecure(), (error) => (error === null ? resolve() : reject(error))),
  );
  process.stdout.write('listening\n');
}

async function load(target: string, concurrency: number, seconds: number): Promise<void> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const payload = Buffer.alloc(64, 0x61);
  const call = (): Promise<boolean> =>
    new Promise((resolve) => {
      client.makeUnaryRequest(method.path, identity, identity, payload, (error) => resolve(error === null));
    });
  if (!(await call())) throw new Error(`gRPC warm-up call to ${target} failed`);
  let completed = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        if (await call()) completed += 1;
        else errors += 1;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  client.close();
  process.stdout.write(`${JSON.stringify({ completed, errors, rps: completed / elapsed })}\n`);
}

const [mode, a = '', b = '32', c = '3'] = process.argv.slice(2);
if (mode === 'server') await serve(Number(a));
else if (mode === 'client') await load(a, Number(b), Number(c));
else throw new Error('usage: grpc-load.ts server <port> | client <host:port> <concurrency> <seconds>');
