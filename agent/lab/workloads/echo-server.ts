// Lab workload: a TCP echo server that reports every connection, with the peer address its kernel
// saw, as JSON lines on stdout (see protocol.ts). Run inside a pod:
//   node echo-server.ts [--port N] [--host ADDR] [--greet] [--reset]
// --greet  first writes one line `{"peer":"<ip>","port":<n>}\n` to the client, so a test that only
//          holds the client side still learns the source address the server saw
// --reset  answers the first bytes with a TCP reset instead of an echo
import net from 'node:net';
import { parseArgs } from 'node:util';
import type { ConnectionEnd, EchoServerEvent } from './protocol.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '0.0.0.0' },
    greet: { type: 'boolean', default: false },
    reset: { type: 'boolean', default: false },
  },
});

function report(event: EchoServerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

let nextId = 1;
const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  const id = nextId++;
  let bytesIn = 0;
  let how: ConnectionEnd = 'end';
  let errorCode: string | null = null;
  report({
    event: 'connection',
    id,
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
  });
  if (values.greet) socket.write(`${JSON.stringify({ peer: socket.remoteAddress, port: socket.remotePort })}\n`);
  socket.on('data', (chunk: Buffer) => {
    bytesIn += chunk.length;
    if (values.reset) {
      how = 'reset';
      socket.resetAndDestroy();
    } else {
      socket.write(chunk);
    }
  });
  // Echo until the client half-closes, then close our side once everything is written.
  socket.on('end', () => socket.end());
  socket.on('error', (error: NodeJS.ErrnoException) => {
    errorCode = error.code ?? null;
    how = error.code === 'ECONNRESET' || error.code === 'EPIPE' ? 'reset' : 'error';
  });
  socket.on('close', () => report({ event: 'closed', id, bytesIn, bytesOut: socket.bytesWritten, how, errorCode }));
});

server.on('error', (error) => {
  process.stderr.write(`echo-server: ${error.message}\n`);
  process.exit(1);
});
server.listen(Number(values.port), values.host, () => {
  const address = server.address() as net.AddressInfo;
  report({ event: 'listening', address: address.address, port: address.port });
});
process.on('SIGTERM', () => process.exit(0));
