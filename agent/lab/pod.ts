// A lab pod: its own netns (lo up; eth0 on the node's bridge, 198.18.<node>.<k>/24, a route for
// 198.18.0.0/15 via the bridge and NO default route, so nothing can leave the lab), a pod cgroup
// with one container cgroup under the node's kubelet-like tree, and Kubernetes metadata.
// Processes run inside it for real: in its netns and in its container cgroup from their first
// instruction, so the agent's cgroup-attached BPF sees them exactly as it would see a container.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WeftError } from '../errors.ts';
import { checkContainerId, checkUid, containerCgroupDir, podCgroupDir, type CgroupDriver, type QosClass } from './cgroup-layout.ts';
import { attempt, cgroupTreePids, deleteNetns, removeCgroupTree, terminate, trackPid, type TrackedPid } from './host-ops.ts';
import { kubernetesPod, type KubernetesPod } from './kubernetes.ts';
import { checkName, netnsName, netnsPath, randomHex } from './names.ts';
import { exec, execOk, runAsync, runSync, type Plan } from './plan.ts';
import type { LabRecorder } from './resources.ts';

export interface PodSpec {
  readonly name: string;
  /** Kubernetes namespace; default "default". */
  readonly namespace?: string;
  /** Pod UID; default a random v4 UUID. */
  readonly uid?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Decides where the pod cgroup sits; default BestEffort. */
  readonly qos?: QosClass;
  /** 64 hex digits; default random. */
  readonly containerId?: string;
  /** Default "app". */
  readonly containerName?: string;
}

/** What a pod needs from its node; the node implements it. */
export interface PodHost {
  readonly name: string;
  readonly index: number;
  readonly netnsName: string;
  readonly bridgeIp: string;
  readonly bridgeName: string;
  readonly cgroupDriver: CgroupDriver;
  /** The node's cgroup dir, `<mount>/<prefix>/<node>`. */
  readonly cgroupPath: string;
  readonly prefix: string;
  readonly cgroupMount: string;
  readonly recorder: LabRecorder;
  readonly graceMs: number;
  /** Called once the pod is fully torn down, so its name can be used again. */
  forget(pod: LabPod): void;
}

export type LabSpawnOptions = Pick<SpawnOptions, 'env' | 'stdio' | 'cwd'>;

export interface PodRunOptions {
  /** The command is killed (by PID) and the call fails after this long; default 10 s. */
  readonly timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  readonly input?: string | Uint8Array;
  readonly env?: NodeJS.ProcessEnv;
}

export interface PodRunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The pod subnet for all lab nodes: pods route it via their bridge and nothing else. */
export const LAB_ROUTE = '198.18.0.0/15';

// nsenter execs sh without forking (only --pid would fork), so $$ is the PID the caller sees; sh
// joins the container cgroup and then execs the command, so not one instruction of it runs outside.
// The cgroup path and the command come in as arguments, never spliced into the script.
const SPAWN_SCRIPT = 'echo $$ > "$1" || exit 125; shift; exec "$@"';

export class LabPod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly qos: QosClass;
  readonly containerId: string;
  readonly containerName: string;
  readonly nodeName: string;
  /** 2…254: the last octet of the pod IP. */
  readonly index: number;
  readonly ip: string;
  readonly netnsName: string;
  readonly netnsPath: string;
  /** The pod's cgroup dir (absolute). */
  readonly cgroupPath: string;
  /** The container's cgroup dir (absolute): where spawned processes run. */
  readonly containerCgroupPath: string;
  /** The bridge-side end of eth0, in the node's netns. */
  readonly hostVeth: string;
  readonly createdAt: Date;

  readonly #host: PodHost;
  readonly #pids: TrackedPid[] = [];
  #destroyed = false;
  #teardown: Promise<void> | undefined;

  /** Use LabNode.addPod; this only computes names, it makes nothing. */
  constructor(host: PodHost, spec: PodSpec, index: number) {
    this.#host = host;
    this.name = checkName('pod', spec.name);
    this.namespace = checkName('namespace', spec.namespace ?? 'default');
    this.uid = checkUid(spec.uid ?? randomUUID());
    this.labels = { ...spec.labels };
    this.annotations = { ...spec.annotations };
    this.qos = spec.qos ?? 'BestEffort';
    this.containerId = checkContainerId(spec.containerId ?? randomHex(32));
    this.containerName = checkName('container', spec.containerName ?? 'app');
    this.nodeName = host.name;
    this.index = index;
    this.ip = `198.18.${host.index}.${index}`;
    this.netnsName = netnsName(host.prefix, this.name);
    this.netnsPath = netnsPath(this.netnsName);
    this.cgroupPath = join(host.cgroupPath, podCgroupDir(host.cgroupDriver, this.qos, this.uid));
    this.containerCgroupPath = join(host.cgroupPath, containerCgroupDir(host.cgroupDriver, this.qos, this.uid, this.containerId));
    this.hostVeth = `vp${index}`;
    this.createdAt = new Date();
  }

  /** PIDs of every process started in this pod (live or not). */
  get pids(): readonly number[] {
    return this.#pids.map((tracked) => tracked.pid);
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Makes the cgroups, the netns and the veth; run by LabNode.addPod. */
  *createPlan(): Plan<void> {
    const host = this.#host;
    for (const dir of [this.cgroupPath, this.containerCgroupPath]) makeCgroup(host.recorder, dir);
    host.recorder.record({ kind: 'netns', name: this.netnsName });
    yield* execOk('ip', ['netns', 'add', this.netnsName], leftoverHint(this.netnsName));
    const inNode = ['-n', host.netnsName];
    const inPod = ['-n', this.netnsName];
    const hint = `could not wire pod ${this.name} to node ${host.name}; is the veth/bridge kernel support there?`;
    yield* execOk('ip', [...inNode, 'link', 'add', this.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.netnsName], hint);
    yield* execOk('ip', [...inNode, 'link', 'set', this.hostVeth, 'master', host.bridgeName, 'up'], hint);
    yield* execOk('ip', [...inPod, 'link', 'set', 'lo', 'up'], hint);
    yield* execOk('ip', [...inPod, 'addr', 'add', `${this.ip}/24`, 'dev', 'eth0'], hint);
    yield* execOk('ip', [...inPod, 'link', 'set', 'eth0', 'up'], hint);
    // Only the lab range, via the bridge: with no default route nothing from a pod can leave.
    yield* execOk('ip', [...inPod, 'route', 'add', LAB_ROUTE, 'via', host.bridgeIp, 'dev', 'eth0'], hint);
  }

  /**
   * Starts `command` inside the pod (its netns, its container cgroup) and records the PID, which
   * is the command's own. Default stdio is pipes: read them, or pass `stdio: 'ignore'`.
   */
  spawn(command: string, args: readonly string[] = [], options: LabSpawnOptions = {}): ChildProcess {
    this.#assertUsable('spawn a process in');
    const procs = join(this.containerCgroupPath, 'cgroup.procs');
    const child = spawn(
      'nsenter',
      [`--net=${this.netnsPath}`, '--', 'sh', '-c', SPAWN_SCRIPT, 'weft-lab-spawn', procs, command, ...args],
      options,
    );
    const tracked = child.pid === undefined ? undefined : trackPid(child.pid);
    if (tracked === undefined) {
      child.once('error', () => {}); // the failure is reported by the throw below
      throw new WeftError('WEFT_E_LAB_SPAWN', `could not start nsenter for ${command} in pod ${this.name}; is util-linux installed?`);
    }
    this.#pids.push(tracked);
    this.#host.recorder.record({ kind: 'pid', pid: tracked.pid, startTime: tracked.startTime });
    return child;
  }

  /** Runs a short command inside the pod and collects its output; fails on timeout. */
  run(command: string, args: readonly string[] = [], options: PodRunOptions = {}): Promise<PodRunResult> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const child = this.spawn(command, args, options.env === undefined ? {} : { env: options.env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin?.on('error', () => {}); // EPIPE when the command exits without reading: not our failure
    child.stdin?.end(options.input);
    const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new WeftError(
            'WEFT_E_LAB_TIMEOUT',
            `\`${[command, ...args].join(' ')}\` in pod ${this.name} did not finish within ${timeoutMs} ms ` +
              `(killed); stdout so far: ${JSON.stringify(text(stdout))}, stderr: ${JSON.stringify(text(stderr))}`,
          ),
        );
      }, timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new WeftError('WEFT_E_LAB_SPAWN', `could not run ${command} in pod ${this.name}`, { cause: error }));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout: text(stdout), stderr: text(stderr) });
      });
    });
  }

  /** Kernel cgroup IDs (the cgroup dirs' inode numbers), as BPF's bpf_get_current_cgroup_id sees them. */
  cgroupIds(): { readonly pod: bigint; readonly container: bigint } {
    return {
      pod: statSync(this.cgroupPath, { bigint: true }).ino,
      container: statSync(this.containerCgroupPath, { bigint: true }).ino,
    };
  }

  toKubernetes(): KubernetesPod {
    return kubernetesPod({
      namespace: this.namespace,
      name: this.name,
      uid: this.uid,
      labels: this.labels,
      annotations: this.annotations,
      createdAt: this.createdAt,
      nodeName: this.nodeName,
      hostIP: this.#host.bridgeIp,
      podIP: this.ip,
      qos: this.qos,
      containerName: this.containerName,
      containerId: this.containerId,
    });
  }

  /** Marks the pod unusable at once (new spawns fail) without tearing anything down yet. */
  markDestroyed(): void {
    this.#destroyed = true;
  }

  /** Ends the pod's processes, removes veth, netns and cgroups. Idempotent; throws WEFT_E_LAB_TEARDOWN listing what stayed. */
  destroy(): Promise<void> {
    this.#destroyed = true;
    this.#teardown ??= runTeardown(this.teardownPlan(), `pod ${this.name}`).finally(() => {
      this.#teardown = undefined;
    });
    return this.#teardown;
  }

  /** The same as destroy(), blocking; for process 'exit' handlers. */
  destroySync(): void {
    this.#destroyed = true;
    throwTeardownErrors(runSync(this.teardownPlan()), `pod ${this.name}`);
  }

  /** Teardown steps; returns what failed instead of stopping at the first failure. */
  *teardownPlan(): Plan<string[]> {
    const host = this.#host;
    const errors: string[] = [];
    const pids = [...this.#pids, ...cgroupTreePids(this.cgroupPath)];
    const stuck = yield* terminate(pids, host.graceMs);
    if (stuck.length > 0) errors.push(`processes ${stuck.map((t) => t.pid).join(', ')} survived SIGKILL`);
    if (existsSync(netnsPath(host.netnsName))) {
      // Deleting the pod netns takes the pair with it, unless a straggler still holds the netns.
      const result = yield* exec('ip', ['-n', host.netnsName, 'link', 'del', this.hostVeth]);
      if (result.code !== 0 && !/Cannot find device/.test(result.stderr)) {
        errors.push(`veth ${this.hostVeth} in ${host.netnsName}: ${result.failure ?? result.stderr.trim()}`);
      }
    }
    yield* attempt(errors, `netns ${this.netnsName}`, deleteNetns(this.netnsName));
    yield* attempt(errors, `cgroup ${this.cgroupPath}`, removeCgroupTree(this.cgroupPath, host.cgroupMount, host.graceMs));
    if (errors.length === 0) host.forget(this);
    return errors;
  }

  #assertUsable(what: string): void {
    if (this.#destroyed) {
      throw new WeftError('WEFT_E_LAB_DESTROYED', `cannot ${what} pod ${this.name}: it (or its node or lab) was destroyed`);
    }
  }
}

/** mkdir that records first; an existing dir means somebody else's (or a crashed run's) state. */
export function makeCgroup(recorder: LabRecorder, dir: string): void {
  recorder.record({ kind: 'cgroup', path: dir });
  try {
    mkdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new WeftError('WEFT_E_LAB_EXISTS', `cgroup ${dir} already exists: a leftover of an earlier run? remove it (rmdir, deepest first) or use a new prefix`);
    }
    throw new WeftError('WEFT_E_LAB_CGROUP', `could not create cgroup ${dir}; is cgroup2 mounted read-write and are we root?`, { cause: error });
  }
}

export function leftoverHint(netns: string): string {
  return `if it already exists it is a leftover of an earlier run: \`ip netns del ${netns}\`, or use a new prefix`;
}

export async function runTeardown(plan: Plan<string[]>, what: string): Promise<void> {
  throwTeardownErrors(await runAsync(plan), what);
}

export function throwTeardownErrors(errors: readonly string[], what: string): void {
  if (errors.length > 0) {
    throw new WeftError('WEFT_E_LAB_TEARDOWN', `teardown of ${what} left things behind: ${errors.join('; ')}`);
  }
}
