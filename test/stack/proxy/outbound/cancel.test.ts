// Cancellation on the live route over real sockets: a client that goes away cancels the upstream
// request promptly (the upstream sees its connection close before it answered), and a request body
// cut short reaches the upstream as an aborted request, never as a complete (truncated) one, and is
// not retried.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { AUTHORITY, Cleanups, delayed, ok, routeParams, sleep, waitFor } from './harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

async function client(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  cleanups.add(() => {
    socket.destroy();
    return Promise.resolve();
  });
  return socket;
}

describe('outbound route: cancellation', () => {
  for (const how of ['closes', 'half-closes'] as const) {
    it(`a client that ${how} its connection while waiting for the response cancels the upstream request promptly`, async () => {
      const u = await cleanups.upstream(delayed(5000));
      const p = await cleanups.proxy([u]);
      const socket = await client(p.port);
      socket.write('GET /slow HTTP/1.1\r\nhost: svc.default\r\n\r\n');
      await waitFor(() => u.arrived.length === 1, 'the request at the upstream');
      const leftAt = performance.now();
      if (how === 'closes') socket.destroy();
      else socket.end();
      await waitFor(() => u.arrived[0]?.abortedAt !== undefined, 'the upstream request cancelled', 2000);
      const after = (u.arrived[0]?.abortedAt ?? 0) - leftAt;
      assert.ok(after < 1000, `cancelled ${Math.round(after)} ms after the client left`);
      await sleep(100);
      assert.equal(u.arrived.length, 1, 'a cancelled request is not retried');
      assert.equal(p.route.status().inFlight, 0);
      // Nobody got a response: the client's cancellation is not the destination's failure.
      assert.deepEqual(p.metrics.events, [`request ${AUTHORITY}`], 'counted as a request, with no (failed) response');
    });
  }

  it('a request body cut mid-way (past the replay limit) reaches the upstream as aborted, not complete', async () => {
    const u = await cleanups.upstream(ok());
    const p = await cleanups.proxy([u]);
    const socket = await client(p.port);
    socket.write('PUT /upload HTTP/1.1\r\nhost: svc.default\r\ncontent-length: 100000\r\n\r\n');
    socket.write(Buffer.alloc(30_000, 1));
    await waitFor(() => (u.arrived[0]?.bodyBytes ?? 0) === 30_000, 'the first 30 000 bytes at the upstream');
    socket.destroy();
    await waitFor(() => u.arrived[0]?.abortedAt !== undefined, 'the upstream request aborted', 2000);
    await sleep(100);
    assert.equal(u.arrived[0]?.complete, false);
    assert.deepEqual(u.seen, [], 'no complete request reached the upstream');
    assert.equal(u.arrived.length, 1, 'not retried');
  });

  it('a small chunked body cut mid-way (replayable size) is aborted upstream and not retried as a whole one', async () => {
    const u = await cleanups.upstream(ok());
    const p = await cleanups.proxy([u]);
    const socket = await client(p.port);
    socket.write('PUT /upload HTTP/1.1\r\nhost: svc.default\r\ntransfer-encoding: chunked\r\n\r\n');
    socket.write(`3e8\r\n${'x'.repeat(1000)}\r\n`);
    await waitFor(() => (u.arrived[0]?.bodyBytes ?? 0) === 1000, 'the first chunk at the upstream');
    // Half-close: the client stops sending inside the body (no last chunk).
    socket.end();
    await waitFor(() => u.arrived[0]?.abortedAt !== undefined, 'the upstream request aborted', 2000);
    await sleep(200);
    assert.deepEqual(u.seen, [], 'no complete request reached the upstream');
    assert.equal(u.arrived.length, 1, 'not retried');
    assert.equal(p.route.status().inFlight, 0);
  });

  it('a client that leaves during a retry backoff gets no retry sent for it', async () => {
    const u = await cleanups.upstream(ok(503));
    const p = await cleanups.proxy([u], routeParams({ policy: { backoff: { minMs: 400, maxMs: 400, jitter: 0 } } }));
    const socket = await client(p.port);
    socket.write('GET /a HTTP/1.1\r\nhost: svc.default\r\n\r\n');
    await waitFor(() => p.metrics.count('retried') === 1, 'the retry scheduled');
    socket.destroy();
    await sleep(600);
    assert.equal(u.arrived.length, 1, 'the retry was dropped with its caller');
    assert.equal(p.route.status().inFlight, 0);
  });
});
