// Issue: transparent interception end to end, with real pods (netns + veth + cgroup), the real BPF
// programs and the real agent process.
//   - running pods are meshed within 1 s of appearing, without a restart; a pod that leaves is
//     released and its listener closed; opted-out pods are never touched
//   - opaque TCP to a Service address and to a pod IP arrives byte for byte, with half-close and
//     reset propagated, from the client pod's own IP
//   - kill -9 the agent: new connections go direct within 1 s; start it again: capture resumes,
//     nothing restarted, no stale pins or listeners
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEchoServer } from '../../../agent/lab/echo.ts';
import type { EchoServer } from '../../../agent/lab/echo.ts';
import { startTcpClient } from '../../../agent/lab/client.ts';
import type { TcpClient } from '../../../agent/lab/client.ts';
import type { LabNode } from '../../../agent/lab/node.ts';
import type { LabPod } from '../../../agent/lab/pod.ts';
import { AgentProcess } from '../../support/agent-process.ts';
import { labSkip, whyNoLab, withLab } from '../../support/lab.ts';
import { recordPid, recordPin } from '../../support/ledger.ts';
import { freePort } from '../../support/net.ts';
import { labPrefix } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';

const SERVICE_IP = '198.19.255.10';
const WEB_PORT = 8080;
const RESET_PORT = 8081;

interface PodStatus {
  uid: string;
  name: string;
  state: string;
  reason?: string;
  counters?: { captured: number; bypassed: number; failed: number; accepted: number; unaccepted: number };
}
interface AgentStatus {
  pods: PodStatus[];
  connections: { totals: { connections: number; failed: number } };
}

describe('transparent interception end to end', { skip: labSkip('interception e2e') }, () => {
  const files = mkdtempSync(join(tmpdir(), 'weft-e2e-'));
  const inventoryFile = join(files, 'pods.json');
  const discoveryFile = join(files, 'services.json');
  let node: LabNode;
  let web: LabPod;
  let client: LabPod;
  let optedOut: LabPod;
  let echo: EchoServer;
  let clientTcp: TcpClient;
  let optedOutTcp: TcpClient;
  let agent: AgentProcess | undefined;
  let adminPort: number;
  let pinDir: string;
  let config: Record<string, unknown>;

  const writeInventory = (pods: LabPod[]): void => {
    // Write-then-rename, as kubelet-style tools and editors do: the watcher must see it.
    const tmp = `${inventoryFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods.map((pod) => pod.toKubernetes()) }));
    renameSync(tmp, inventoryFile);
  };
  const status = async (): Promise<AgentStatus> => {
    assert.ok(agent !== undefined);
    return agent.status<AgentStatus>();
  };
  const podState = async (pod: LabPod): Promise<PodStatus | undefined> => (await status()).pods.find((p) => p.uid === pod.uid);
  const startAgent = async (): Promise<AgentProcess> => {
    const started = AgentProcess.start({ config, adminPort, onPid: recordPid });
    agent = started;
    await started.waitReady();
    return started;
  };
  const listenersIn = async (pod: LabPod): Promise<string> => (await pod.run('ss', ['-Hltn'])).stdout;

  // Registered at suite level so the lab lives until every test of the suite has run.
  const lab = whyNoLab() === undefined ? withLab({ after }) : undefined;

  before(async () => {
    assert.ok(lab !== undefined);
    node = await lab.addNode({ name: 'n1' });
    web = await node.addPod({ name: 'web', namespace: 'shop', qos: 'Burstable' });
    client = await node.addPod({ name: 'client', namespace: 'shop', qos: 'Guaranteed' });
    optedOut = await node.addPod({ name: 'legacy', namespace: 'shop', annotations: { 'weft.io/mesh': 'disabled' } });
    // Workloads start BEFORE the agent exists: meshing must not need a restart.
    echo = await startEchoServer(web, { port: WEB_PORT, greet: true });
    await startEchoServer(web, { port: RESET_PORT, reset: true });
    clientTcp = await startTcpClient(client);
    optedOutTcp = await startTcpClient(optedOut);
    adminPort = await freePort();
    pinDir = `${labPrefix()}-pins`;
    recordPin(`/sys/fs/bpf/${pinDir}`);
    writeFileSync(discoveryFile, JSON.stringify({
      apiVersion: 'v1', kind: 'List', items: [
        { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'shop', name: 'web' },
          spec: { clusterIP: SERVICE_IP, ports: [{ name: 'http', port: 80, targetPort: WEB_PORT, protocol: 'TCP' }] } },
        { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
          metadata: { namespace: 'shop', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
          addressType: 'IPv4', endpoints: [{ addresses: [web.ip], conditions: { ready: true } }],
          ports: [{ name: 'http', port: WEB_PORT, protocol: 'TCP' }] },
      ],
    }));
    writeInventory([]);
    config = {
      node: { name: node.name },
      cgroup: { podsRoot: node.podsRootPath },
      bpf: { pinDir },
      inventory: { file: inventoryFile },
      discovery: { file: discoveryFile },
      admin: { address: '127.0.0.1', port: adminPort },
      log: { level: 'info' },
    };
    await startAgent();
  });

  after(async () => {
    if (agent !== undefined) await agent.stop();
    // An agent that died by SIGKILL (a failed test mid-way) leaves its pins for the next agent to
    // remove; no next agent comes here, so the test removes them itself.
    rmSync(`/sys/fs/bpf/${pinDir}`, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  });

  it('meshes running pods within 1 s of their appearing in the inventory, and lists opted-out ones with the reason', async () => {
    const pidsBefore = [...echo.pod.pids];
    const appeared = performance.now();
    writeInventory([web, client, optedOut]);
    await waitFor(async () => (await podState(client))?.state === 'meshed' && (await podState(web))?.state === 'meshed',
      { timeoutMs: 1000, what: 'client and web meshed within 1 s' });
    const took = performance.now() - appeared;
    assert.ok(took <= 1000, `meshed after ${took.toFixed(0)} ms`);
    const legacy = await podState(optedOut);
    assert.equal(legacy?.state, 'excluded');
    assert.match(legacy?.reason ?? '', /weft\.io\/mesh/);
    assert.deepEqual(echo.pod.pids, pidsBefore, 'no process was restarted');
    assert.match(await listenersIn(client), /127\.0\.0\.1:4140/, 'the capture listener is open inside the client pod');
  });

  it('carries a connection to a Service address byte for byte, half-closed, from the client pod\'s own IP', async () => {
    const before = (await status()).connections.totals.connections;
    const payload = randomBytes(256 * 1024).toString('base64');
    const result = await clientTcp.connect({ host: SERVICE_IP, port: 80, send: payload, timeoutMs: 10_000 });
    assert.equal(result.connected, true, `connect failed: ${result.how} ${result.errorCode}\n${agent?.tail()}`);
    assert.equal(result.how, 'end', 'the server saw our FIN (half-close), echoed everything, then closed');
    const [greeting, ...rest] = result.received.toString('utf8').split('\n');
    assert.equal((JSON.parse(greeting ?? '{}') as { peer: string }).peer, client.ip, 'the server saw the client pod IP');
    assert.equal(rest.join('\n'), payload, 'byte for byte');
    const after = await status();
    assert.equal(after.connections.totals.connections, before + 1, 'the connection went through the agent');
    const counters = (await podState(client))?.counters;
    assert.ok((counters?.captured ?? 0) >= 1, 'the BPF counter counted the capture');
    assert.equal(counters?.accepted, counters?.captured, 'self-check: every captured connection reached the agent');
    assert.equal(counters?.unaccepted, 0);
  });

  it('exposes Linkerd-named TCP metrics and the kernel capture counters on /metrics, in both formats', async () => {
    const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const labels = 'direction="outbound",authority="shop/web:http",source_namespace="shop",source_pod="client"';
    assert.match(text, new RegExp(`^tcp_open_total\\{${labels}\\} [1-9]`, 'm'));
    assert.match(text, new RegExp(`^tcp_read_bytes_total\\{${labels}\\} [1-9]\\d{5}`, 'm'), 'the ~350 KB payload counted');
    assert.match(text, /^weft_capture_connections_total\{namespace="shop",pod="client",outcome="captured"\} [1-9]/m);
    const open = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    assert.match(open.headers.get('content-type') ?? '', /^application\/openmetrics-text/);
    assert.match(await open.text(), /# EOF\s*$/);
  });

  it('passes a connection to a pod IP through the agent, and turns an upstream reset into a reset', async () => {
    const before = (await status()).connections.totals.connections;
    const ok = await clientTcp.connect({ host: web.ip, port: WEB_PORT, send: 'direct-ip' });
    assert.equal(ok.how, 'end');
    assert.match(ok.received.toString(), /direct-ip$/);
    const reset = await clientTcp.connect({ host: web.ip, port: RESET_PORT, send: 'please reset', halfClose: false });
    assert.equal(reset.how, 'reset', `expected a reset, got ${reset.how} ${reset.errorCode}`);
    const refused = await clientTcp.connect({ host: web.ip, port: 9, send: 'x' });
    assert.equal(refused.how, 'reset', 'a refused upstream reaches the client as a reset of its connection');
    assert.equal((await status()).connections.totals.connections, before + 3);
  });

  it('never touches an opted-out pod\'s connections', async () => {
    const before = (await status()).connections.totals.connections;
    const result = await optedOutTcp.connect({ host: web.ip, port: WEB_PORT, send: 'legacy' });
    assert.equal(result.how, 'end');
    assert.equal((await status()).connections.totals.connections, before, 'the agent saw nothing');
    assert.doesNotMatch(await listenersIn(optedOut), /:4140/, 'no capture listener in an opted-out pod');
  });

  it('keeps every pod meshed and serving when the inventory file turns malformed, and says why', async () => {
    writeFileSync(inventoryFile, '{"kind": "List", "items": [ {"kind": "Pod", "metadata": {"name": 42}} ]');
    const broken = await waitFor(async () => {
      const s = await agent?.status<{ inventory: { error?: { code: string; message: string } } }>();
      return s?.inventory.error;
    }, { timeoutMs: 3000, what: 'the inventory error on /status' });
    assert.match(broken.message, /pods\.json/, 'the error names the file');
    assert.equal((await podState(client))?.state, 'meshed', 'the last good set stays in force');
    const result = await clientTcp.connect({ host: SERVICE_IP, port: 80, send: 'still served' });
    assert.equal(result.how, 'end');
    assert.match(result.received.toString(), /still served$/);
    writeInventory([web, client, optedOut]);
    await waitFor(async () => (await agent?.status<{ inventory: { error?: unknown } }>())?.inventory.error === undefined,
      { timeoutMs: 3000, what: 'the inventory error cleared' });
  });

  it('releases a pod that leaves: its cgroup is unmarked and its listener closed', async () => {
    writeInventory([web, optedOut]);
    await waitFor(async () => (await podState(client)) === undefined, { timeoutMs: 2000, what: 'client released' });
    await waitFor(async () => !/:4140/.test(await listenersIn(client)), { timeoutMs: 2000, what: 'listener closed in the client pod' });
    const before = (await status()).connections.totals.connections;
    const result = await clientTcp.connect({ host: web.ip, port: WEB_PORT, send: 'after release' });
    assert.equal(result.how, 'end', 'goes direct');
    assert.equal((await status()).connections.totals.connections, before, 'not through the agent');
    writeInventory([web, client, optedOut]);
    await waitFor(async () => (await podState(client))?.state === 'meshed', { timeoutMs: 1000, what: 'client meshed again' });
  });

  it('fails open when the agent is killed, and resumes capture when it starts again with no stale pins or listeners', async () => {
    assert.ok(agent !== undefined);
    const pinsBefore = readdirSync(`/sys/fs/bpf/${pinDir}`, { recursive: true }).map(String).sort();
    await agent.stop('SIGKILL');
    const killed = performance.now();
    const direct = await waitFor(async () => {
      const r = await clientTcp.connect({ host: web.ip, port: WEB_PORT, send: 'agent is dead', timeoutMs: 500 });
      return r.how === 'end' ? r : undefined;
    }, { timeoutMs: 1000, intervalMs: 50, what: 'a direct connection while the agent is dead' });
    assert.match(direct.received.toString(), /agent is dead$/);
    assert.ok(performance.now() - killed <= 1000);

    await startAgent();
    await waitFor(async () => (await podState(client))?.state === 'meshed', { timeoutMs: 2000, what: 'client meshed by the new agent' });
    const through = await clientTcp.connect({ host: SERVICE_IP, port: 80, send: 'agent is back' });
    assert.equal(through.how, 'end');
    assert.match(through.received.toString(), /agent is back$/);
    assert.equal((await status()).connections.totals.connections, 1, 'the new agent carried it');
    const pinsAfter = readdirSync(`/sys/fs/bpf/${pinDir}`, { recursive: true }).map(String).sort();
    assert.deepEqual(pinsAfter, pinsBefore, 'the same set of pins: the dead agent\'s were replaced, none added');
    const listeners = (await listenersIn(client)).split('\n').filter((line) => line.includes('127.0.0.1:4140'));
    assert.equal(listeners.length, 1, `exactly one capture listener:\n${listeners.join('\n')}`);
  });

  it('on SIGTERM detaches, unpins and closes its listeners', async () => {
    assert.ok(agent !== undefined);
    const code = await agent.stop('SIGTERM');
    agent = undefined;
    assert.equal(code, 0);
    assert.equal(existsSync(`/sys/fs/bpf/${pinDir}`), false, 'pin dir removed');
    assert.doesNotMatch(await listenersIn(client), /:4140/);
    const result = await clientTcp.connect({ host: SERVICE_IP, port: 80, send: 'x', timeoutMs: 500 });
    assert.notEqual(result.how, 'end', 'with no agent, the Service address is not captured');
  });
});
