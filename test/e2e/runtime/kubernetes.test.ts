// Zero config in a cluster: with only a kubeconfig, the real agent takes this node's pods and the
// Services from the API server (the fixture that speaks the real list/watch protocol, driven by the
// real @kubernetes/client-node), meshes running pods, routes a Service address to its endpoints,
// and releases a pod deleted from the API.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startEchoServer } from '../../../agent/lab/echo.ts';
import { startTcpClient } from '../../../agent/lab/client.ts';
import type { TcpClient } from '../../../agent/lab/client.ts';
import type { LabPod } from '../../../agent/lab/pod.ts';
import { AgentProcess } from '../../support/agent-process.ts';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import type { JsonObject } from '../../support/kube-api/server.ts';
import { writeKubeconfig } from '../../support/kube-api/kubeconfig.ts';
import type { WrittenKubeconfig } from '../../support/kube-api/kubeconfig.ts';
import { labSkip, whyNoLab, withLab } from '../../support/lab.ts';
import { recordPid, recordPin } from '../../support/ledger.ts';
import { freePort } from '../../support/net.ts';
import { labPrefix } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';

const SERVICE_IP = '198.19.255.20';

interface Status {
  pods: Array<{ uid: string; state: string }>;
  inventory: { source: string; synced: boolean };
  connections: { totals: { connections: number } };
}

describe('agent with only a kubeconfig: pods and Services from the Kubernetes API', { skip: labSkip('kubernetes e2e') }, () => {
  const lab = whyNoLab() === undefined ? withLab({ after }) : undefined;
  const api = new FakeKubeApi();
  let kubeconfig: WrittenKubeconfig | undefined;
  let agent: AgentProcess | undefined;
  let web: LabPod;
  let client: LabPod;
  let tcp: TcpClient;
  let pinDir: string;

  const podState = async (pod: LabPod): Promise<string | undefined> =>
    (await agent?.status<Status>())?.pods.find((p) => p.uid === pod.uid)?.state;

  before(async () => {
    assert.ok(lab !== undefined);
    const node = await lab.addNode({ name: 'k1' });
    web = await node.addPod({ name: 'kweb', namespace: 'shop', qos: 'Burstable' });
    client = await node.addPod({ name: 'kclient', namespace: 'shop' });
    await startEchoServer(web, { port: 8080 });
    tcp = await startTcpClient(client);
    const url = await api.start();
    kubeconfig = writeKubeconfig(url);
    api.apply('namespaces', { metadata: { name: 'shop' } });
    for (const pod of [web, client]) api.apply('pods', pod.toKubernetes() as unknown as JsonObject);
    // A pod of another node: the agent must leave it out (fieldSelector spec.nodeName).
    api.apply('pods', { metadata: { namespace: 'shop', name: 'elsewhere', uid: '0b6f5a4e-1d7c-4c1b-9d2e-3f4a5b6c7d8e' }, spec: { nodeName: 'other-node' }, status: { phase: 'Running', podIP: '198.18.9.9' } });
    api.apply('services', { metadata: { namespace: 'shop', name: 'kweb' }, spec: { clusterIP: SERVICE_IP, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } });
    api.apply('endpointslices', {
      metadata: { namespace: 'shop', name: 'kweb-1', labels: { 'kubernetes.io/service-name': 'kweb' } },
      addressType: 'IPv4', endpoints: [{ addresses: [web.ip], conditions: { ready: true } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    const adminPort = await freePort();
    pinDir = `${labPrefix()}-kpins`;
    recordPin(`/sys/fs/bpf/${pinDir}`);
    agent = AgentProcess.start({
      adminPort, onPid: recordPid, env: { KUBECONFIG: kubeconfig.path },
      config: { node: { name: node.name }, cgroup: { podsRoot: node.podsRootPath }, bpf: { pinDir }, admin: { port: adminPort } },
    });
    await agent.waitReady();
  });

  after(async () => {
    await agent?.stop();
    rmSync(`/sys/fs/bpf/${pinDir}`, { recursive: true, force: true });
    kubeconfig?.remove();
    await api.close();
  });

  it('meshes this node\'s running pods from the API and routes a Service address to its endpoints', async () => {
    const status = await agent?.status<Status>();
    assert.match(status?.inventory.source ?? '', /^kubernetes/);
    await waitFor(async () => (await podState(client)) === 'meshed' && (await podState(web)) === 'meshed', { timeoutMs: 3000, what: 'pods meshed from the API' });
    assert.equal((await agent?.status<Status>())?.pods.length, 2, 'the other node\'s pod is left out');
    const result = await tcp.connect({ host: SERVICE_IP, port: 80, send: 'via the API' });
    assert.equal(result.how, 'end', `${result.how} ${result.errorCode}\n${agent?.tail()}`);
    assert.match(result.received.toString(), /via the API$/);
    assert.equal((await agent?.status<Status>())?.connections.totals.connections, 1);
  });

  it('releases a pod deleted from the API', async () => {
    assert.ok(api.delete('pods', 'shop', client.name));
    await waitFor(async () => (await podState(client)) === undefined, { timeoutMs: 3000, what: 'client released after its deletion' });
    const result = await tcp.connect({ host: web.ip, port: 8080, send: 'direct now' });
    assert.equal(result.how, 'end');
    assert.equal((await agent?.status<Status>())?.connections.totals.connections, 1, 'not through the agent any more');
  });
});
