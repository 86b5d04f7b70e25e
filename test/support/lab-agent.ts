// The real agent over a lab node, as the end-to-end suites run it: an inventory file of the lab's
// pods, a discovery file of Kubernetes-shaped Services and EndpointSlices, the node's pods root, a
// pin directory of this run (recorded, so the leftover sweep checks it), a free admin port; started,
// ready, and every pod that should be meshed is. `stop()` ends it and removes its files and pins.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabNode } from '../../agent/lab/node.ts';
import type { LabPod } from '../../agent/lab/pod.ts';
import { AgentProcess } from './agent-process.ts';
import { recordPid, recordPin } from './ledger.ts';
import { freePort } from './net.ts';
import { labPrefix } from './run.ts';
import { waitFor } from './wait.ts';

export interface ServicePortSpec {
  readonly name: string;
  /** The Service port (on the cluster IP). */
  readonly port: number;
  /** The endpoints' port. */
  readonly targetPort: number;
}

/** A Service with one cluster IP and an EndpointSlice listing `pods` as ready, as the API would have them. */
export function serviceObjects(namespace: string, name: string, clusterIP: string, ports: readonly ServicePortSpec[], pods: readonly LabPod[]): unknown[] {
  return [
    {
      apiVersion: 'v1', kind: 'Service', metadata: { namespace, name },
      spec: { clusterIP, ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: 'TCP' })) },
    },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { namespace, name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', endpoints: pods.map((p) => ({ addresses: [p.ip], conditions: { ready: true } })),
      ports: ports.map((p) => ({ name: p.name, port: p.targetPort, protocol: 'TCP' })),
    },
  ];
}

export interface LabAgentOptions {
  readonly node: LabNode;
  /** The inventory file's pods. */
  readonly pods: readonly LabPod[];
  /** Services and EndpointSlices for the discovery file (see serviceObjects). */
  readonly discovery?: readonly unknown[];
  /** Further settings (proxy, telemetry, …), beside the lab's node, cgroup, bpf, files, admin, log. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** How many pods must be meshed before start() returns; default: every pod not opted out. */
  readonly meshed?: number;
}

export class LabAgent {
  readonly agent: AgentProcess;
  readonly adminPort: number;
  readonly pinDir: string;
  readonly inventoryFile: string;
  readonly discoveryFile: string;
  readonly #files: string;

  private constructor(agent: AgentProcess, adminPort: number, pinDir: string, files: string) {
    this.agent = agent;
    this.adminPort = adminPort;
    this.pinDir = pinDir;
    this.#files = files;
    this.inventoryFile = join(files, 'pods.json');
    this.discoveryFile = join(files, 'services.json');
  }

  static async start(options: LabAgentOptions): Promise<LabAgent> {
    const files = mkdtempSync(join(tmpdir(), 'weft-e2e-'));
    const pinDir = `${labPrefix()}-pins`;
    recordPin(`/sys/fs/bpf/${pinDir}`);
    const adminPort = await freePort();
    writeList(join(files, 'services.json'), options.discovery ?? []);
    writeList(join(files, 'pods.json'), options.pods.map((p) => p.toKubernetes()));
    const agent = AgentProcess.start({
      config: {
        node: { name: options.node.name },
        cgroup: { podsRoot: options.node.podsRootPath },
        bpf: { pinDir },
        inventory: { file: join(files, 'pods.json') },
        discovery: { file: join(files, 'services.json') },
        admin: { address: '127.0.0.1', port: adminPort },
        log: { level: 'info' },
        ...options.config,
      },
      adminPort,
      onPid: recordPid,
    });
    const started = new LabAgent(agent, adminPort, pinDir, files);
    try {
      await agent.waitReady();
      const want = options.meshed ?? options.pods.filter((p) => p.toKubernetes().metadata.annotations['weft.io/mesh'] !== 'disabled').length;
      let pods = '';
      await waitFor(async () => {
        const s = await agent.status<{ pods: Array<{ name: string; state: string; reason?: string }> }>();
        pods = JSON.stringify(s.pods.map((p) => [p.name, p.state, p.reason]));
        return s.pods.filter((p) => p.state === 'meshed').length >= want ? true : undefined;
      }, { timeoutMs: 5000, what: `${want} pods meshed` }).catch((error: unknown) => {
        throw new Error(`${String(error)}; pods: ${pods}; agent output:\n${agent.tail()}`);
      });
    } catch (error) {
      await started.stop();
      throw error;
    }
    return started;
  }

  get adminUrl(): string {
    return this.agent.adminUrl;
  }

  /** Replaces the inventory file (write, then rename, as tools do). */
  writeInventory(pods: readonly LabPod[]): void {
    writeList(this.inventoryFile, pods.map((p) => p.toKubernetes()));
  }

  /** Replaces the discovery file. */
  writeDiscovery(items: readonly unknown[]): void {
    writeList(this.discoveryFile, items);
  }

  async stop(): Promise<void> {
    await this.agent.stop();
    // A killed agent leaves its pins for the next one; none comes here, so they go now.
    rmSync(`/sys/fs/bpf/${this.pinDir}`, { recursive: true, force: true });
    rmSync(this.#files, { recursive: true, force: true });
  }
}

function writeList(path: string, items: readonly unknown[]): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  renameSync(tmp, path);
}
