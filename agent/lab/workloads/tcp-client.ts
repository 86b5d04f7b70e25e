// Lab workload: a long-lived TCP client driven over stdio, so a test can make NEW connections from
// a process that was started before the agent meshed its pod. Each stdin line is a ClientCommand
// ("connect to host:port, send these bytes, half-close"); each answer on stdout is a `result`
// line saying what came back and how the connection ended (see protocol.ts).
import net from 'node:net';
import { createInterface } from 'node:readline';
import type { ClientCommand, ClientEvent, ConnectionEnd } from './protocol.ts';

function report(event: ClientEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function parseCommand(line: string): ClientCommand {
  const value: unknown = JSON.parse(line);
  if (typeof value !== 'object' || value === null) throw new Error('not an object');
  const c = value as Record<string, unknown>;
  if (c['op'] !== 'connect') throw new Error(`unknown op ${JSON.stringify(c['op'])}`);
  const { id, host, port, data, halfClose, timeoutMs } = c;
  if (typeof id !== 'number' || typeof host !== 'string' || typeof port !== 'number' || typeof data !== 'string') {
    throw new Error('needs id (number), host (string), port (number), data (base64 string)');
  }
  return {
    id,
    op: 'connect',
    host,
    port,
    data,
    halfClose: halfClose !== false,
    timeoutMs: typeof timeoutMs === 'number' ? timeoutMs : 5000,
  };
}

function connect(command: ClientCommand): void {
  const started = performance.now();
  const received: Buffer[] = [];
  let connected = false;
  let how: ConnectionEnd | undefined;
  let errorCode: string | null = null;
  // Read at connect: a destroyed socket no longer knows its addresses.
  let local: { address: string | null; port: number | null } = { address: null, port: null };
  let remote: { address: string | null; port: number | null } = { address: null, port: null };
  const socket = net.connect({ host: command.host, port: command.port, allowHalfOpen: true });
  const timer = setTimeout(() => {
    how ??= 'timeout';
    socket.destroy();
  }, command.timeoutMs);

  socket.on('connect', () => {
    connected = true;
    local = { address: socket.localAddress ?? null, port: socket.localPort ?? null };
    remote = { address: socket.remoteAddress ?? null, port: socket.remotePort ?? null };
    socket.write(Buffer.from(command.data, 'base64'));
    if (command.halfClose) socket.end();
  });
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('end', () => {
    how ??= 'end';
    if (!command.halfClose) socket.end();
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    errorCode = error.code ?? null;
    // A reset is how the kernel reports an aborted peer; EPIPE is a write that met one.
    const reset = error.code === 'ECONNRESET' || error.code === 'EPIPE';
    if (how !== 'timeout') how = reset ? 'reset' : 'error';
  });
  socket.on('close', () => {
    clearTimeout(timer);
    report({
      event: 'result',
      id: command.id,
      connected,
      localAddress: local.address,
      localPort: local.port,
      remoteAddress: remote.address,
      remotePort: remote.port,
      received: Buffer.concat(received).toString('base64'),
      how: how ?? 'end',
      errorCode,
      durationMs: Math.round(performance.now() - started),
    });
  });
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  try {
    connect(parseCommand(line));
  } catch (error) {
    report({ event: 'bad-command', line, message: error instanceof Error ? error.message : String(error) });
  }
});
// When stdin closes (the driver is gone) nothing new comes; the process ends once open
// connections have reported, as nothing else keeps it alive.
process.on('SIGTERM', () => process.exit(0));
report({ event: 'ready', pid: process.pid });
