// `weft demo`: the whole idea in one run. Two pods (real netns + cgroup, real processes) are
// started BEFORE the agent; the agent then meshes them without restarting anything, and a
// connection from one to a Service address flows through the agent to the other, arriving with
// the client pod's own IP. Prints what happened and the status URL; removes everything it made
// at the end or on Ctrl-C.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeError, WeftError } from '../errors.ts';
import { startEchoServer } from '../lab/echo.ts';
import { startTcpClient } from '../lab/client.ts';
import { Lab } from '../lab/lab.ts';
import { newPrefix } from '../lab/names.ts';
import { findLeftovers, isClean, removeLeftovers } from '../lab/sweep.ts';
import type { WeftConfig } from '../config/schema.ts';
import { startAgent } from '../runtime/start.ts';
import type { StartedAgent } from '../runtime/start.ts';

const SERVICE_IP = '198.19.255.10';
const SERVICE_PORT = 80;
const WEB_PORT = 8080;

export interface DemoOptions {
  /** Keep running (status page up) until Ctrl-C; default: only when stdout is a terminal. */
  readonly hold: boolean;
}

export async function runDemo(base: WeftConfig, options: DemoOptions): Promise<void> {
  if (process.getuid?.() !== 0) throw new WeftError('WEFT_E_DEMO_NOT_ROOT', 'the demo makes network namespaces, cgroups and BPF attachments: run it as root');
  const say = (line: string): void => void process.stdout.write(`${line}\n`);

  // A demo killed outright (SIGKILL) leaves its namespaces behind; the next run sweeps them.
  const stale = findLeftovers('weft-demo');
  if (!isClean(stale)) {
    say('· removing what an earlier demo left behind');
    await removeLeftovers(stale);
  }

  const prefix = newPrefix('weft-demo');
  const lab = new Lab({ prefix });
  const files = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  let agent: StartedAgent | undefined;
  let stopping: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    stopping ??= (async () => {
      await agent?.stop().catch((error: unknown) => say(`! stopping the agent: ${describeError(error)}`));
      await lab.destroy().catch((error: unknown) => say(`! removing the lab: ${describeError(error)}`));
      rmSync(files, { recursive: true, force: true });
    })();
    return stopping;
  };
  const onSignal = (): void => {
    say('\n· Ctrl-C: cleaning up');
    void cleanup().then(() => {
      say('6. removed the pods, namespaces, cgroups and BPF attachments the demo made');
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    say(`weft demo (${prefix})`);
    const node = await lab.addNode({ name: 'node1' });
    const web = await node.addPod({ name: 'web', namespace: 'demo', qos: 'Burstable', labels: { app: 'web' } });
    const client = await node.addPod({ name: 'client', namespace: 'demo', labels: { app: 'client' } });
    const server = await startEchoServer(web, { port: WEB_PORT, greet: true });
    const tcp = await startTcpClient(client);
    say(`1. two pods running, not meshed: web ${web.ip} (echo server :${WEB_PORT}), client ${client.ip}`);

    const direct = await tcp.connect({ host: web.ip, port: WEB_PORT, send: 'hello' });
    say(`2. client → web directly: ${direct.how}, server saw ${greetingPeer(direct.received)}`);

    const inventoryFile = join(files, 'pods.json');
    const discoveryFile = join(files, 'services.json');
    writeFileSync(inventoryFile, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [web.toKubernetes(), client.toKubernetes()] }, null, 2));
    writeFileSync(discoveryFile, JSON.stringify(serviceObjects(web.ip), null, 2));

    const config: WeftConfig = {
      ...base,
      node: { ...base.node, name: node.name },
      cgroup: { ...base.cgroup, podsRoot: node.podsRootPath },
      bpf: { ...base.bpf, pinDir: prefix },
      inventory: { ...base.inventory, file: inventoryFile },
      discovery: { ...base.discovery, file: discoveryFile },
    };
    agent = await startAgent(config, { quiet: true });
    const meshed = await agent.waitMeshed(2, 10_000);
    say(`3. agent started; meshed ${meshed} running pods without restarting them (their processes kept their PIDs: server ${server.pid})`);

    const through = await tcp.connect({ host: SERVICE_IP, port: SERVICE_PORT, send: 'hello through weft' });
    if (!through.connected) throw new WeftError('WEFT_E_DEMO_FAILED', `client → Service ${SERVICE_IP}:${SERVICE_PORT} failed: ${through.how} ${through.errorCode ?? ''}`);
    const echoed = through.received.toString('utf8').split('\n').slice(1).join('\n');
    say(`4. client → Service demo/web ${SERVICE_IP}:${SERVICE_PORT} (no such address exists): captured by connect4,`);
    say(`   routed by the agent to ${web.ip}:${WEB_PORT}; server saw ${greetingPeer(through.received)} (the client pod's own IP), echoed ${JSON.stringify(echoed)}`);

    const status = agent.running.status() as { pods: Array<{ name: string; state: string; counters?: { captured: number; bypassed: number; failed: number } }> };
    for (const pod of status.pods) {
      const c = pod.counters;
      say(`   pod ${pod.name}: ${pod.state}${c === undefined ? '' : `, captured ${c.captured}, bypassed ${c.bypassed}, failed ${c.failed}`}`);
    }
    say(`5. status: ${agent.adminUrl}/status   (also /live, /ready)`);
    if (options.hold) {
      say('   the agent keeps running; press Ctrl-C to stop and remove everything');
      await new Promise<void>(() => undefined);
    }
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    say('6. removed the pods, namespaces, cgroups and BPF attachments the demo made');
  }
}

function greetingPeer(received: Buffer): string {
  const first = received.toString('utf8').split('\n')[0] ?? '';
  try {
    const greeting = JSON.parse(first) as { peer?: string };
    return greeting.peer ?? '?';
  } catch {
    return '?';
  }
}

function serviceObjects(webIp: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1', kind: 'Service',
        metadata: { namespace: 'demo', name: 'web' },
        spec: { clusterIP: SERVICE_IP, clusterIPs: [SERVICE_IP], ports: [{ name: 'http', port: SERVICE_PORT, targetPort: WEB_PORT, protocol: 'TCP' }] },
      },
      {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { namespace: 'demo', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [webIp], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: 'demo', name: 'web' } }],
        ports: [{ name: 'http', port: WEB_PORT, protocol: 'TCP' }],
      },
    ],
  };
}
