// spliceTunnel with a tunnel that is not a socket (an HTTP/2 stream later): early data first,
// half-close both ways, and a tunnel already gone resetting the client.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { spliceTunnel } from '../../../../agent/proxy/http1/tunnel.ts';

/** A connected pair: `client` (the test's end) and `accepted` (the proxy's end, spliced). */
async function socketPair(): Promise<{ client: Socket; accepted: Socket; close: () => void }> {
  const server = createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [accepted] = (await once(server, 'connection')) as [Socket];
  return { client, accepted, close: () => server.close() };
}

class FakeStream extends Duplex {
  readonly written: Buffer[] = [];
  finished = false;
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written.push(chunk);
    callback();
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.finished = true;
    callback();
  }
}

describe('spliceTunnel', () => {
  it('writes early data before the client bytes, and carries half-closes both ways over a Duplex', async () => {
    const { client, accepted, close } = await socketPair();
    const tunnel = new FakeStream();
    const result = spliceTunnel(accepted, tunnel, Buffer.from('early|'));
    client.write('later');
    client.end();
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    while (!tunnel.finished) await new Promise((r) => setImmediate(r));
    assert.equal(Buffer.concat(tunnel.written).toString(), 'early|later');
    // The client's FIN ended the tunnel's writable side; its readable side still flows.
    tunnel.push('reply');
    tunnel.push(null);
    await once(client, 'end');
    assert.equal(Buffer.concat(got).toString(), 'reply');
    const r = await result;
    assert.deepEqual([r.ending, r.clientBytes, r.upstreamBytes], ['closed', 'early|later'.length, 'reply'.length]);
    close();
  });

  it('resets the client when the tunnel is already gone', async () => {
    const { client, accepted, close } = await socketPair();
    const tunnel = new FakeStream();
    tunnel.destroy();
    const errored = once(client, 'error');
    const r = await spliceTunnel(accepted, tunnel, undefined);
    assert.equal(r.ending, 'upstream-reset');
    const [error] = (await errored) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNRESET');
    close();
  });
});
