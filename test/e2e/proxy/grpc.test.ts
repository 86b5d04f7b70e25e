// Issue: gRPC end to end through meshed pods — @grpc/grpc-js on both ends (a client in a meshed pod,
// servers in two meshed pods behind a Service address), through the real agent: unary and the three
// streaming kinds, a non-OK status with its details, the client's deadline enforced by weft (4,
// DEADLINE_EXCEEDED) and propagated, reduced, as grpc-timeout, and grpc-status on /metrics.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { GrpcClient, GrpcServer } from '../../../agent/lab/grpc.ts';
import { startGrpcClient, startGrpcServer } from '../../../agent/lab/grpc.ts';
import type { LabPod } from '../../../agent/lab/pod.ts';
import type { AgentProcess } from '../../support/agent-process.ts';
import { LabAgent, serviceObjects } from '../../support/lab-agent.ts';
import { labSkip, whyNoLab, withLab } from '../../support/lab.ts';

const VIP = '198.19.255.30';
const GRPC_PORT = 9090;
const TARGET = `${VIP}:${GRPC_PORT}`;

describe('gRPC through meshed pods', { skip: labSkip('gRPC e2e') }, () => {
  let client: LabPod;
  let servers: GrpcServer[];
  let rpc: GrpcClient;
  let lab: LabAgent | undefined;
  let agent: AgentProcess | undefined;
  const labHost = whyNoLab() === undefined ? withLab({ after }) : undefined;

  before(async () => {
    assert.ok(labHost !== undefined);
    const node = await labHost.addNode({ name: 'n1' });
    client = await node.addPod({ name: 'client', namespace: 'rpc' });
    const pods = [await node.addPod({ name: 'echo-1', namespace: 'rpc' }), await node.addPod({ name: 'echo-2', namespace: 'rpc' })];
    servers = await Promise.all(pods.map((pod) => startGrpcServer(pod, { port: GRPC_PORT })));
    rpc = await startGrpcClient(client);
    lab = await LabAgent.start({
      node,
      pods: [client, ...pods],
      discovery: serviceObjects('rpc', 'echo', VIP, [{ name: 'grpc', port: GRPC_PORT, targetPort: GRPC_PORT }], pods),
    });
    agent = lab.agent;
  });

  after(async () => {
    await lab?.stop();
  });

  it('carries unary calls to both server pods, which see the client pod’s own IP', async () => {
    const peers = new Set<string>();
    for (let i = 0; i < 8; i++) {
      // A channel per call: grpc-js keeps one connection per channel, and weft balances requests.
      const r = await rpc.call({ target: TARGET, call: 'unary', requests: [{ message: `hi ${i}` }], newChannel: i === 0 });
      assert.equal(r.code, 0, r.details);
      assert.equal(r.messages[0]?.message, `hi ${i}`);
      assert.equal(r.messages[0]?.peer.replace(/^ipv4:|^::ffff:/, '').split(':')[0], client.ip);
    }
    for (const server of servers) if (server.calls.length > 0) peers.add(server.pod.name);
    assert.deepEqual([...peers].sort(), ['echo-1', 'echo-2'], 'requests on one channel were balanced over both pods');
  });

  it('streams server, client and bidi messages through the agent', async () => {
    const stream = await rpc.call({ target: TARGET, call: 'server-stream', requests: [{ message: 's', count: 5 }] });
    assert.equal(stream.code, 0, stream.details);
    assert.deepEqual(stream.messages.map((m) => m.index), [0, 1, 2, 3, 4]);
    const upload = await rpc.call({ target: TARGET, call: 'client-stream', requests: [{ message: 'a' }, { message: 'b' }, { message: 'c' }] });
    assert.equal(upload.code, 0, upload.details);
    assert.equal(upload.messages.length, 1);
    const bidi = await rpc.call({ target: TARGET, call: 'bidi', requests: [{ message: 'x' }, { message: 'y' }] });
    assert.equal(bidi.code, 0, bidi.details);
    assert.deepEqual(bidi.messages.map((m) => m.message), ['x', 'y']);
  });

  it('delivers a non-OK status with its details, and counts it by grpc status on /metrics', async () => {
    const r = await rpc.call({ target: TARGET, call: 'unary', requests: [{ status: 5, details: 'no such echo' }] });
    assert.equal(r.code, 5);
    assert.equal(r.details, 'no such echo');
    assert.ok(agent !== undefined);
    const metrics = await (await fetch(`${agent.adminUrl}/metrics`)).text();
    assert.match(metrics, /^response_total\{[^}]*authority="rpc\/echo:grpc"[^}]*status_code="200"[^}]*\} [1-9]/m);
  });

  it('enforces the client’s deadline (DEADLINE_EXCEEDED) and propagates what is left as grpc-timeout', async () => {
    const slow = await rpc.call({ target: TARGET, call: 'unary', requests: [{ delayMs: 2000 }], deadlineMs: 300 });
    assert.equal(slow.code, 4, `code ${slow.code}: ${slow.details}`);
    assert.ok(slow.latencyMs < 1500, `ended at the deadline, took ${slow.latencyMs} ms`);
    const ok = await rpc.call({ target: TARGET, call: 'unary', requests: [{ message: 'timed' }], deadlineMs: 3000 });
    assert.equal(ok.code, 0, ok.details);
    // Every call carries a deadline downstream (the route's 10 s at most); the latest is this one.
    const latest = servers.flatMap((s) => s.calls).sort((a, b) => a.at - b.at).at(-1);
    assert.ok(latest?.grpcTimeout !== null && latest?.grpcTimeout !== undefined, 'the server saw grpc-timeout');
    assert.ok((latest.deadlineMs ?? 0) > 1000 && (latest.deadlineMs ?? 0) <= 3000, `the server had ${latest.deadlineMs} ms of the client's 3000`);
  });
});
