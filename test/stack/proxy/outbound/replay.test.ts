// Body replay on the live route over real sockets, for retries that start before the client has
// sent its whole body: the retry gets the copy so far, then the rest live, and the upstream that
// answers sees the body whole and once.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { Cleanups, ok, routeParams, sleep, waitFor } from './harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

/** PUT of 10 000 bytes: half now, half after `pauseMs`; resolves with the status line. */
async function slowUpload(port: number, pauseMs: number): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  cleanups.add(() => {
    socket.destroy();
    return Promise.resolve();
  });
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.write('PUT /upload HTTP/1.1\r\nhost: svc.default\r\ncontent-length: 10000\r\n\r\n');
  socket.write(Buffer.alloc(5000, 1));
  await sleep(pauseMs);
  socket.write(Buffer.alloc(5000, 2));
  await waitFor(() => got.includes('\r\n\r\n'), 'the response head', 5000);
  return got.slice(0, got.indexOf('\r\n'));
}

const noAccrual = { consecutiveFailures: 0, successRate: undefined };

describe('outbound route: body replay while the client is still sending', () => {
  it('after an early 503 (answered before the body was read) the retry sends the copy, then the rest of the body live', async () => {
    const early = await cleanups.upstream();
    // Answers at the head, without reading the body.
    early.server.removeAllListeners('request');
    early.server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(503, { 'content-length': 0 });
      res.end();
    });
    const good = await cleanups.upstream(ok());
    // Round robin with two endpoints: one of the two requests starts on the early one.
    const p = await cleanups.proxy([early, good], routeParams({ balance: { algorithm: 'round-robin' }, accrual: noAccrual }));
    for (let i = 0; i < 2; i++) assert.equal(await slowUpload(p.port, 150), 'HTTP/1.1 200 OK');
    assert.ok(p.metrics.count('retried') >= 1, 'at least one request started on the early endpoint');
    assert.deepEqual(good.seen.map((s) => s.bodyBytes), [10_000, 10_000], 'the good endpoint saw both bodies whole');
  });

  it('after a per-try timeout in the middle of the body the retry goes on with the copy and the rest, and answers', async () => {
    // The first request to arrive anywhere (at its head) hangs; every other is answered once its body is in.
    const arrivals: string[] = [];
    let hanging: IncomingMessage | undefined;
    const hangFirst = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
      if (req !== hanging) ok(200, String(body.length))(req, res, body);
    };
    const a = await cleanups.upstream(hangFirst);
    const b = await cleanups.upstream(hangFirst);
    for (const [name, u] of [['a', a], ['b', b]] as const) {
      u.server.prependListener('request', (req: IncomingMessage) => {
        hanging ??= req;
        arrivals.push(name);
      });
    }
    const p = await cleanups.proxy([a, b], routeParams({ policy: { perTryTimeoutMs: 300 }, accrual: noAccrual }));
    // Half the body, then the per-try timeout (300 ms) passes before the other half (at 500 ms).
    assert.equal(await slowUpload(p.port, 500), 'HTTP/1.1 200 OK');
    assert.equal(arrivals.length, 2);
    assert.notEqual(arrivals[0], arrivals[1], 'the retry went to the other endpoint');
    const retried = arrivals[1] === 'a' ? a : b;
    assert.deepEqual(retried.seen.map((s) => s.bodyBytes), [10_000]);
    const timedOut = retried === a ? b : a;
    await waitFor(() => timedOut.arrived[0]?.abortedAt !== undefined, 'the timed-out attempt cancelled upstream');
    assert.equal(timedOut.arrived[0]?.complete, false, 'the timed-out attempt never looked complete');
  });

  it('Expect: 100-continue passes through a replayable body: 100 only once the upstream asks, so a 401 answered at the head is never uploaded', async () => {
    const u = await cleanups.upstream(ok());
    let refused = 0;
    // Node answers 100 itself unless checkContinue is handled: this upstream refuses at the head.
    u.server.on('checkContinue', (_req: IncomingMessage, res: ServerResponse) => {
      refused++;
      res.writeHead(401, { 'content-length': 0 });
      res.end();
    });
    const p = await cleanups.proxy([u]);
    const socket = connect({ host: '127.0.0.1', port: p.port });
    socket.on('error', () => {});
    cleanups.add(() => {
      socket.destroy();
      return Promise.resolve();
    });
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.write('PUT /upload HTTP/1.1\r\nhost: svc.default\r\ncontent-length: 1000\r\nexpect: 100-continue\r\n\r\n');
    await waitFor(() => got.includes('\r\n\r\n'), 'the answer');
    assert.equal(refused, 1);
    assert.match(got, /^HTTP\/1\.1 401 /, `the client got only the final answer, no 100 Continue: ${JSON.stringify(got.slice(0, 40))}`);
  });

  it('Expect: 100-continue through the route: the upstream’s 100 reaches the client, and the body then arrives whole', async () => {
    // Node's server answers 100 Continue by itself.
    const u = await cleanups.upstream(ok());
    const p = await cleanups.proxy([u]);
    const socket = connect({ host: '127.0.0.1', port: p.port });
    socket.on('error', () => {});
    cleanups.add(() => {
      socket.destroy();
      return Promise.resolve();
    });
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.write('PUT /upload HTTP/1.1\r\nhost: svc.default\r\ncontent-length: 1000\r\nexpect: 100-continue\r\n\r\n');
    await waitFor(() => got.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 'the 100 Continue');
    socket.write(Buffer.alloc(1000, 3));
    await waitFor(() => got.includes('HTTP/1.1 200 OK'), 'the final answer');
    assert.deepEqual(u.seen.map((s) => s.bodyBytes), [1000]);
  });
});
