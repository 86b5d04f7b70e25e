import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { spliceOpaque } from '../../../agent/proxy/opaque.ts';

// client ⇄ [proxy-side socket A | splice | proxy-side socket B] ⇄ server, all on loopback.
async function splicedPair(onServer: (socket: net.Socket) => void) {
  const server = net.createServer({ allowHalfOpen: true }, onServer);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const serverPort = (server.address() as net.AddressInfo).port;

  const results: Array<Promise<Awaited<ReturnType<typeof spliceOpaque>>>> = [];
  const proxy = net.createServer({ allowHalfOpen: true }, (accepted) => {
    const upstream = net.connect({ port: serverPort, host: '127.0.0.1', allowHalfOpen: true });
    upstream.once('connect', () => results.push(spliceOpaque(accepted, upstream)));
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const proxyPort = (proxy.address() as net.AddressInfo).port;
  return {
    connect: () => net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true }),
    results,
    close: () => {
      server.close();
      proxy.close();
    },
  };
}

function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

describe('spliceOpaque', () => {
  const closers: Array<() => void> = [];
  after(() => closers.forEach((close) => close()));

  it('carries 4 MiB byte for byte each way and propagates half-close in both directions', async () => {
    const payload = randomBytes(4 * 1024 * 1024);
    const reply = randomBytes(3 * 1024 * 1024 + 17);
    let serverGot: Promise<Buffer> | undefined;
    const pair = await splicedPair((socket) => {
      serverGot = collect(socket);
      // The server replies only after the client's FIN arrived: proves the half-close reached it
      // while the other direction stayed open.
      socket.once('end', () => socket.end(reply));
    });
    closers.push(pair.close);
    const client = pair.connect();
    const clientGot = collect(client);
    client.end(payload);
    assert.ok((await clientGot).equals(reply), 'client received the reply intact');
    assert.ok(serverGot !== undefined);
    assert.ok((await serverGot).equals(payload), 'server received the payload intact');
    const [result] = await Promise.all(pair.results);
    assert.equal(result?.ending, 'closed');
    assert.equal(result?.clientBytes, payload.length);
    assert.equal(result?.upstreamBytes, reply.length);
  });

  it('turns an upstream reset into a reset of the client', async () => {
    const pair = await splicedPair((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    closers.push(pair.close);
    const client = pair.connect();
    client.write('hello');
    const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNRESET');
    const [result] = await Promise.all(pair.results);
    assert.equal(result?.ending, 'upstream-reset');
  });

  it('turns a client reset into a reset of the upstream', async () => {
    let serverError: Promise<unknown[]> | undefined;
    const pair = await splicedPair((socket) => {
      serverError = once(socket, 'error');
    });
    closers.push(pair.close);
    const client = pair.connect();
    client.write('hello');
    await once(client, 'connect');
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.resetAndDestroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(serverError !== undefined, 'the server saw the connection');
    const [error] = (await serverError) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNRESET');
    const [result] = await Promise.all(pair.results);
    assert.equal(result?.ending, 'client-reset');
  });
});
