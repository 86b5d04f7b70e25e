// The HTTP and gRPC lab workloads tested for real, without the agent: servers in one pod, clients
// in another, pod IP to pod IP. What the request-level proxy's e2e tests rely on: every scripted
// behaviour does what it says, and the servers report what they saw.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startGrpcClient, startGrpcServer, type GrpcClient, type GrpcServer } from '../../../agent/lab/grpc.ts';
import { startHttpClient, startHttpServer, type HttpClient, type HttpServer } from '../../../agent/lab/http.ts';
import type { LabPod } from '../../../agent/lab/pod.ts';
import { labSkip, whyNoLab, withLab } from '../../support/lab.ts';

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
const GRPC = { OK: 0, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14 } as const;

describe('lab HTTP and gRPC workloads', { skip: labSkip('lab workloads e2e') }, () => {
  let serverPod: LabPod;
  let clientPod: LabPod;
  let web: HttpServer;
  let http: HttpClient;
  let grpcServer: GrpcServer;
  let grpc: GrpcClient;
  // Registered at suite level so the lab lives until every test of the suite has run.
  const lab = whyNoLab() === undefined ? withLab({ after }) : undefined;

  before(async () => {
    assert.ok(lab !== undefined);
    const node = await lab.addNode({ name: 'node-a' });
    [serverPod, clientPod] = await Promise.all([node.addPod({ name: 'server' }), node.addPod({ name: 'client' })]);
    [web, grpcServer, http, grpc] = await Promise.all([
      startHttpServer(serverPod, { port: 8080, h2cPort: 8081 }),
      startGrpcServer(serverPod, { port: 9090 }),
      startHttpClient(clientPod),
      startGrpcClient(clientPod),
    ]);
  });

  const h1 = (path: string, extra: Partial<Parameters<HttpClient['request']>[0]> = {}): ReturnType<HttpClient['request']> =>
    http.request({ host: serverPod.ip, port: web.port, path, ...extra });
  const h2 = (path: string, extra: Partial<Parameters<HttpClient['request']>[0]> = {}): ReturnType<HttpClient['request']> =>
    http.request({ host: serverPod.ip, port: web.h2cPort, protocol: 'h2', path, ...extra });

  for (const protocol of ['http/1.1', 'h2'] as const) {
    const send = protocol === 'h2' ? h2 : h1;
    describe(protocol, () => {
      it('echoes the request (size, sha256, headers) and the server reports it with the client pod’s IP', async () => {
        const body = `payload over ${protocol}`;
        const r = await send(`/echo/${protocol}?x=1`, { method: 'POST', body, headers: { 'weft-deadline': '1234', 'grpc-timeout': '5S' } });
        assert.equal(r.how, 'complete', `${r.errorCode} ${r.errorMessage}`);
        assert.equal(r.status, 200);
        assert.equal(r.protocol, protocol);
        const echo = JSON.parse(r.body.toString()) as { bodyBytes: number; sha256: string; protocol: string; headers: Record<string, string> };
        assert.equal(echo.bodyBytes, Buffer.byteLength(body));
        assert.equal(echo.sha256, sha256(body));
        assert.equal(echo.protocol, protocol);
        assert.equal(r.localAddress, clientPod.ip);
        const seen = await web.waitForRequestEnd((s) => s.path === `/echo/${protocol}?x=1`);
        assert.equal(seen.protocol, protocol);
        assert.equal(seen.method, 'POST');
        assert.equal(seen.remoteAddress, clientPod.ip);
        assert.equal(seen.headers['weft-deadline'], '1234');
        assert.equal(seen.headers['grpc-timeout'], '5S');
        assert.equal(seen.end.status, 200);
        assert.equal(seen.end.sha256, sha256(body));
        assert.equal(seen.end.aborted, false);
        assert.equal(seen.end.responseSha256, r.sha256, 'what the server sent is what the client got');
      });

      it('answers a scripted status with Retry-After and extra headers, and a generated body of the asked size', async () => {
        const r = await send('/s?status=503&retry-after=2&header=x-a:b');
        assert.equal(r.status, 503);
        assert.equal(r.headers['retry-after'], '2');
        assert.equal(r.headers['x-a'], 'b');
        const big = await send('/big?body=200000');
        assert.equal(big.bodyBytes, 200_000);
        const end = (await web.waitForRequestEnd((s) => s.path === '/big?body=200000' && s.protocol === protocol)).end;
        assert.equal(big.sha256, end.responseSha256);
        const viaHeader = await send('/h', { headers: { 'x-lab-status': '418' } });
        assert.equal(viaHeader.status, 418, 'x-lab-<name> headers script like the query');
      });

      it('delays the head, streams chunks at an interval, and fails the first n of a key', async () => {
        const slow = await send('/slow?delay=300');
        assert.ok((slow.headMs ?? 0) >= 290, `head after ${slow.headMs} ms`);
        const stream = await send('/stream?chunks=4&interval=100&chunk-bytes=10');
        assert.equal(stream.bodyBytes, 40);
        assert.ok(stream.latencyMs >= 290, `streamed over ${stream.latencyMs} ms`);
        assert.ok(stream.chunkMs.length >= 2, 'the body came in more than one piece');
        const trailed = await send('/trailers?chunks=2&trailer=x-checksum:abc');
        assert.equal(trailed.trailers['x-checksum'], 'abc');
        const key = `k-${protocol}`;
        const statuses = [];
        for (let i = 0; i < 3; i++) statuses.push((await send(`/flaky?fail=2&key=${key}`)).status);
        assert.deepEqual(statuses, [503, 503, 200]);
      });

      it('resets before the head and mid-body, and reports a client that gave up as aborted', async () => {
        const before = await send(`/reset-${protocol}?reset=1`);
        assert.equal(before.how, 'reset', `${before.errorCode} ${before.errorMessage}`);
        assert.equal(before.status, null);
        assert.equal((await web.waitForRequestEnd((s) => s.path === `/reset-${protocol}?reset=1`)).end.reset, true);
        const mid = await send('/mid?reset=body&body=100000');
        assert.equal(mid.how, 'reset');
        assert.equal(mid.status, 200);
        assert.ok(mid.bodyBytes < 100_000);
        const gaveUp = await send(`/gave-up-${protocol}?delay=2000`, { timeoutMs: 200 });
        assert.equal(gaveUp.how, 'timeout');
        const end = (await web.waitForRequestEnd((s) => s.path === `/gave-up-${protocol}?delay=2000`)).end;
        assert.equal(end.aborted, true);
        assert.equal(end.status, null);
      });

      it('reuses one connection for sequential requests unless asked for a new one', async () => {
        const [a, b] = await http.sequence([0, 1].map((i) => ({ host: serverPod.ip, port: web.portFor(protocol), protocol, path: `/reuse-${protocol}-${i}` })));
        assert.equal(a?.localPort, b?.localPort);
        const fresh = await send(`/fresh-${protocol}`, { newConnection: true });
        assert.notEqual(fresh.localPort, a?.localPort);
        // The server's lines may trail the client's answers: wait for all three.
        const seen = await web.waitForRequests(3, (r) => r.path.startsWith(`/reuse-${protocol}`) || r.path === `/fresh-${protocol}`);
        assert.equal(new Set(seen.map((r) => r.connection)).size, 2);
      });
    });
  }

  it('the main port serves HTTP/1.1 and h2c both, told apart by the preface', async () => {
    const [a, b] = await Promise.all([h1('/both-h1'), http.request({ host: serverPod.ip, port: web.port, protocol: 'h2', path: '/both-h2' })]);
    assert.deepEqual([a.status, a.protocol, b.status, b.protocol], [200, 'http/1.1', 200, 'h2']);
    const seen = await web.waitForRequests(2, (r) => r.path.startsWith('/both-'));
    assert.deepEqual(seen.map((r) => r.protocol).sort(), ['h2', 'http/1.1']);
  });

  it('a mode set at runtime overrides every request until set back', async () => {
    await web.setMode({ mode: 'fail', status: 502 });
    assert.equal((await h1('/mode?status=200')).status, 502);
    assert.equal((await h2('/mode')).status, 502);
    await web.setMode({ mode: 'reset' });
    assert.equal((await h1('/mode')).how, 'reset');
    await web.setMode({ mode: 'ok' });
    assert.equal((await h1('/mode')).status, 200);
  });

  it('the fixed-rate client sends at the asked rate and the server counts the same requests', async () => {
    for (const protocol of ['http/1.1', 'h2'] as const) {
      const path = `/load-${protocol}?status=204`;
      const load = await http.load({ host: serverPod.ip, port: web.portFor(protocol), protocol, path, rate: 50, durationMs: 2000, each: true });
      assert.equal(load.planned, 100);
      assert.equal(load.sent, 100);
      assert.ok(Math.abs(load.sentRps - 50) <= 5, `sent ${load.sentRps} rps`);
      assert.deepEqual(load.outcomes, { '204': 100 });
      assert.equal(load.responses.length, 100);
      const seen = await web.waitForRequests(100, (r) => r.path === path);
      assert.equal(seen.length, 100);
      const spanMs = (seen.at(-1)?.at ?? 0) - (seen[0]?.at ?? 0);
      assert.ok(spanMs >= 1700 && spanMs <= 2600, `the server saw them over ${spanMs} ms`);
    }
  });

  describe('gRPC', () => {
    const target = (): string => `${serverPod.ip}:${grpcServer.port}`;

    it('unary echoes and the server sees the metadata, the deadline and the client pod', async () => {
      const r = await grpc.call({ target: target(), call: 'unary', requests: [{ message: 'hi' }], metadata: { 'x-trace': 't1' }, deadlineMs: 3000 });
      assert.equal(r.code, GRPC.OK, r.details);
      assert.equal(r.messages[0]?.message, 'hi');
      assert.match(r.messages[0]?.peer ?? '', new RegExp(`^${clientPod.ip.replaceAll('.', '\\.')}:`));
      const seen = await grpcServer.waitForCallEnd((c) => c.metadata['x-trace'] === 't1');
      assert.equal(seen.method, 'Unary');
      assert.ok(seen.deadlineMs !== null && seen.deadlineMs > 2000 && seen.deadlineMs <= 3000, `deadline ${seen.deadlineMs}`);
      assert.match(seen.grpcTimeout ?? '', /^\d+[mu]$/, `grpc-timeout as sent: ${seen.grpcTimeout}`);
      const noDeadline = await grpc.call({ target: target(), call: 'unary', metadata: { 'x-trace': 't2' } });
      assert.equal(noDeadline.code, GRPC.OK);
      const without = await grpcServer.waitForCallEnd((c) => c.metadata['x-trace'] === 't2');
      assert.deepEqual([without.deadlineMs, without.grpcTimeout], [null, null]);
      assert.deepEqual({ code: seen.end.code, in: seen.end.messagesIn, out: seen.end.messagesOut }, { code: GRPC.OK, in: 1, out: 1 });
    });

    it('server, client and bidi streams carry every message', async () => {
      const server = await grpc.call({ target: target(), call: 'server-stream', requests: [{ message: 's', count: 5 }] });
      assert.equal(server.code, GRPC.OK, server.details);
      assert.deepEqual(server.messages.map((m) => m.index), [0, 1, 2, 3, 4]);
      const client = await grpc.call({ target: target(), call: 'client-stream', requests: ['a', 'b', 'c'].map((message) => ({ message })) });
      assert.equal(client.code, GRPC.OK, client.details);
      assert.equal(client.messages[0]?.message, 'a,b,c');
      const bidi = await grpc.call({ target: target(), call: 'bidi', requests: ['x', 'y'].map((message) => ({ message })) });
      assert.equal(bidi.code, GRPC.OK, bidi.details);
      assert.deepEqual(bidi.messages.map((m) => m.message), ['x', 'y']);
      const ends = (await Promise.all(['ServerStream', 'ClientStream', 'Bidi'].map((m) => grpcServer.waitForCallEnd((c) => c.method === m)))).map((c) => c.end);
      assert.deepEqual(ends.map((e) => [e.messagesIn, e.messagesOut]), [[1, 5], [3, 1], [2, 2]]);
    });

    it('ends with a scripted status from the request or the metadata, and with DEADLINE_EXCEEDED past the deadline', async () => {
      const failed = await grpc.call({ target: target(), call: 'unary', requests: [{ status: GRPC.UNAVAILABLE, details: 'scripted' }] });
      assert.deepEqual([failed.code, failed.details], [GRPC.UNAVAILABLE, 'scripted']);
      const byMetadata = await grpc.call({ target: target(), call: 'unary', metadata: { 'x-status': String(GRPC.RESOURCE_EXHAUSTED) } });
      assert.equal(byMetadata.code, GRPC.RESOURCE_EXHAUSTED);
      const streamFailed = await grpc.call({ target: target(), call: 'server-stream', requests: [{ count: 2, status: GRPC.INVALID_ARGUMENT }] });
      assert.equal(streamFailed.code, GRPC.INVALID_ARGUMENT);
      assert.equal(streamFailed.messages.length, 2, 'the messages before the error status arrived');
      const late = await grpc.call({ target: target(), call: 'unary', requests: [{ message: 'late', delayMs: 2000 }], deadlineMs: 300 });
      assert.equal(late.code, GRPC.DEADLINE_EXCEEDED);
      const seen = await grpcServer.waitForCallEnd((c) => c.deadlineMs !== null && c.deadlineMs <= 300);
      assert.equal(seen.end.cancelled, true, 'the server saw the call cancelled');
    });

    it('a mode set at runtime fails every call until set back', async () => {
      await grpcServer.setMode({ code: GRPC.UNAVAILABLE, details: 'mode' });
      const failed = await grpc.call({ target: target(), call: 'bidi', requests: [{ message: 'a' }] });
      assert.deepEqual([failed.code, failed.details, failed.messages.length], [GRPC.UNAVAILABLE, 'mode', 1]);
      await grpcServer.setMode({});
      assert.equal((await grpc.call({ target: target(), call: 'unary' })).code, GRPC.OK);
    });
  });

  it('a server that cannot start fails with its stderr, not silently', async () => {
    await assert.rejects(startHttpServer(serverPod, { port: 8080 }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'WEFT_E_LAB_WORKLOAD');
      assert.match(error.message, /EADDRINUSE/);
      return true;
    });
    await assert.rejects(startGrpcServer(serverPod, { port: 9090 }), { code: 'WEFT_E_LAB_WORKLOAD' });
  });
});
