// Issue 6, safety: a meshed pod cannot reach the agent's admin port, with real pods, the real BPF
// programs and the real agent process.
//
// The admin listener binds 127.0.0.1 (config refuses anything else without admin.allowRemote). In
// this lab a node is a network namespace and the agent runs in the host's, so the test tries every
// address a pod can route to (its node's bridge and fabric addresses, which stand where a real
// node's own addresses are; its own IP; 127.0.0.1 inside its own netns) and the host's addresses,
// from a meshed pod and from an opted-out one, and requires that none of them answers as the admin
// server. The real risk is capture itself: the agent accepts a meshed pod's connection on the host
// and connects onward for it. That must never become a path to the admin port, so the test checks
// that those connections were captured, that the agent failed them, and that no admin answer came.
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { startTcpClient } from '../../../agent/lab/client.ts';
import type { TcpClient, TcpConnectResult } from '../../../agent/lab/client.ts';
import type { LabNode } from '../../../agent/lab/node.ts';
import type { LabPod } from '../../../agent/lab/pod.ts';
import type { AgentProcess } from '../../support/agent-process.ts';
import { LabAgent } from '../../support/lab-agent.ts';
import { labSkip, whyNoLab, withLab } from '../../support/lab.ts';

interface PodStatus { uid: string; state: string }
interface Record_ { destination: string; outcome: string; protocol?: string; error?: string }
interface AgentStatus { pods: PodStatus[]; connections: { recent: Record_[] } }

/** What the admin server would answer to this request: its status document. */
const probe = (host: string): string => `GET /status HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`;

function assertNotAdmin(result: TcpConnectResult, where: string): void {
  const text = result.received.toString('utf8');
  // The admin's answers: the status document (programs, pods) or any 2xx from it.
  assert.doesNotMatch(text, /"programs"|"inventory"/, `${where}: the admin status document came back`);
  assert.doesNotMatch(text, /^HTTP\/1\.[01] 2\d\d/, `${where}: a 2xx came back:\n${text.slice(0, 300)}`);
  // Anything HTTP that did come back is weft's proxy saying it could not connect, never the admin.
  if (/^HTTP\//.test(text)) assert.match(text, /\r\nl5d-proxy-error: /i, `${where}: an HTTP answer that is not weft's proxy error:\n${text.slice(0, 300)}`);
}

describe('the admin port is out of reach of pods', { skip: labSkip('admin safety e2e') }, () => {
  let node: LabNode;
  let client: LabPod;
  let legacy: LabPod;
  let clientTcp: TcpClient;
  let legacyTcp: TcpClient;
  let lab: LabAgent | undefined;
  let agent: AgentProcess | undefined;
  let adminPort: number;

  const labHost = whyNoLab() === undefined ? withLab({ after }) : undefined;

  const status = async (): Promise<AgentStatus> => {
    assert.ok(agent !== undefined);
    return agent.status<AgentStatus>();
  };

  /** Every address the pods can route to, and the host's own (they have no route to those). */
  const targets = (): string[] => {
    const host = Object.values(networkInterfaces()).flat().filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal).map((i) => i?.address as string);
    return [...new Set([node.bridgeIp, node.fabricIp, client.ip, legacy.ip, '127.0.0.1', ...host])];
  };

  before(async () => {
    assert.ok(labHost !== undefined);
    node = await labHost.addNode({ name: 'n1' });
    client = await node.addPod({ name: 'client', namespace: 'shop' });
    legacy = await node.addPod({ name: 'legacy', namespace: 'shop', annotations: { 'weft.io/mesh': 'disabled' } });
    clientTcp = await startTcpClient(client);
    legacyTcp = await startTcpClient(legacy);
    lab = await LabAgent.start({ node, pods: [client, legacy] });
    agent = lab.agent;
    adminPort = lab.adminPort;
  });

  after(async () => {
    await lab?.stop();
  });

  it('answers on the host\'s 127.0.0.1 (the control: the port is up and is the admin)', async () => {
    const res = await fetch(`http://127.0.0.1:${adminPort}/status`);
    assert.equal(res.status, 200);
    assert.ok('programs' in ((await res.json()) as Record<string, unknown>));
  });

  it('an opted-out pod (no capture) reaches no admin on any address it can route to, nor on the host\'s', async () => {
    for (const host of targets()) {
      const result = await legacyTcp.connect({ host, port: adminPort, send: probe(host), timeoutMs: 1500 });
      assertNotAdmin(result, `legacy → ${host}:${adminPort}`);
      assert.ok(!result.connected || result.received.length === 0, `legacy → ${host}: something answered (${result.how}):\n${result.received.toString().slice(0, 200)}`);
    }
  });

  it('a meshed pod reaches no admin on any of them either, and capture does not forward it there', async () => {
    for (const host of targets()) {
      // No half-close: weft's HTTP server takes a client's FIN as the client leaving.
      const result = await clientTcp.connect({ host, port: adminPort, send: probe(host), halfClose: false, timeoutMs: 3000 });
      assertNotAdmin(result, `client → ${host}:${adminPort}`);
      if (host === node.bridgeIp) {
        // Captured: weft's proxy took the request and answered itself, having failed to connect.
        assert.match(result.received.toString(), /^HTTP\/1\.1 50[234] [\s\S]*\r\nl5d-proxy-error: /i, result.received.toString().slice(0, 300));
      }
    }
    // Not HTTP (opaque TCP, spliced as is): the agent connects onward from the pod's own network
    // namespace, and that connect fails; the pod gets a reset and no byte from anywhere.
    const opaque = await clientTcp.connect({ host: node.bridgeIp, port: adminPort, send: Buffer.from([0, 1, 2, 3, 0xff]), halfClose: false, timeoutMs: 15_000 });
    assert.equal(opaque.received.length, 0, opaque.received.toString());
    const recent = (await status()).connections.recent.filter((r) => r.destination === `${node.bridgeIp}:${adminPort}`);
    assert.ok(recent.some((r) => r.protocol === 'http1'), `the HTTP probe was captured: ${JSON.stringify(recent)}`);
    assert.ok(recent.some((r) => r.protocol !== 'http1' && r.outcome === 'connect-failed' && /ECONNREFUSED/.test(r.error ?? '')),
      `the opaque probe was captured and its connect (from the pod) refused: ${JSON.stringify(recent)}`);
  });

  it('the agent\'s own outbound path, asked for 127.0.0.1 by a meshed pod, stays inside the pod', async () => {
    // 127.0.0.1 inside the pod is the pod's loopback: the capture listener is there (4140), the
    // admin port is not.
    const result = await clientTcp.connect({ host: '127.0.0.1', port: adminPort, send: probe('127.0.0.1'), timeoutMs: 1500 });
    assert.equal(result.connected, false, `connected to 127.0.0.1:${adminPort} inside the pod (${result.how})`);
    assert.equal(result.errorCode, 'ECONNREFUSED');
  });
});
