// A lab node: a netns `<prefix>-<node>` holding a bridge (198.18.<n>.1/24) that its pods' veths
// plug into, a link to the lab's fabric so pods on different nodes reach each other, and a
// kubelet-like cgroup tree `<mount>/<prefix>/<node>/kubepods[.slice]/…` whose pods root is where
// the agent attaches its BPF programs.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { WeftError, describeError } from '../errors.ts';
import { nodeCgroupDirs, podsRootDir, type CgroupDriver } from './cgroup-layout.ts';
import { attempt, deleteNetns, removeCgroupTree } from './host-ops.ts';
import { checkName, netnsName, netnsPath } from './names.ts';
import { execOk, runAsync, runSync, type Plan } from './plan.ts';
import { LAB_ROUTE, LabPod, leftoverHint, makeCgroup, runTeardown, throwTeardownErrors, type PodHost, type PodSpec } from './pod.ts';
import type { LabRecorder } from './resources.ts';

export interface NodeSpec {
  readonly name: string;
  /** The kubelet cgroup driver whose tree to reproduce; default systemd (what kubeadm sets up). */
  readonly cgroupDriver?: CgroupDriver;
}

/** What a node needs from its lab; the lab implements it. */
export interface NodeLab {
  readonly prefix: string;
  readonly cgroupMount: string;
  /** `<mount>/<prefix>` */
  readonly cgroupPath: string;
  readonly recorder: LabRecorder;
  readonly graceMs: number;
  readonly fabricNetns: string;
  /** Reserves a netns name in this lab or throws WEFT_E_LAB_NAME_TAKEN. */
  claimNetns(name: string, owner: string): void;
  releaseNetns(name: string): void;
  /** Called once the node is fully torn down. */
  forgetNode(node: LabNode): void;
}

const BRIDGE = 'br0';
const FABRIC_LINK = 'fab0';
const MAX_POD_INDEX = 254;

export class LabNode {
  readonly name: string;
  /** 1…254: the third octet of the node's pod subnet. */
  readonly index: number;
  readonly cgroupDriver: CgroupDriver;
  readonly netnsName: string;
  readonly netnsPath: string;
  readonly bridgeName = BRIDGE;
  readonly bridgeIp: string;
  /** The node's pod subnet, 198.18.<n>.0/24. */
  readonly subnet: string;
  /** The node's address on the fabric link, 198.19.<n>.1. */
  readonly fabricIp: string;
  /** `<mount>/<prefix>/<node>` */
  readonly cgroupPath: string;
  /** The kubepods.slice (systemd) or kubepods (cgroupfs) dir: attach the agent's programs here. */
  readonly podsRootPath: string;

  readonly #lab: NodeLab;
  readonly #pods = new Map<string, LabPod>();
  readonly #creating = new Set<Promise<unknown>>();
  #nextPodIndex = 2;
  #destroyed = false;
  #teardown: Promise<void> | undefined;

  /** Use Lab.addNode; this only computes names, it makes nothing. */
  constructor(lab: NodeLab, spec: NodeSpec, index: number) {
    this.#lab = lab;
    this.name = checkName('node', spec.name);
    this.index = index;
    this.cgroupDriver = spec.cgroupDriver ?? 'systemd';
    this.netnsName = netnsName(lab.prefix, this.name);
    this.netnsPath = netnsPath(this.netnsName);
    this.bridgeIp = `198.18.${index}.1`;
    this.subnet = `198.18.${index}.0/24`;
    this.fabricIp = `198.19.${index}.1`;
    this.cgroupPath = join(lab.cgroupPath, this.name);
    this.podsRootPath = join(this.cgroupPath, podsRootDir(this.cgroupDriver));
  }

  get pods(): readonly LabPod[] {
    return [...this.#pods.values()];
  }

  pod(name: string): LabPod | undefined {
    return this.#pods.get(name);
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The pods root's kernel cgroup ID, for attaching BPF programs by ID or checking an attachment. */
  podsRootCgroupId(): bigint {
    return statSync(this.podsRootPath, { bigint: true }).ino;
  }

  /** Creates a pod on this node. On failure, whatever was made of it is removed again. */
  async addPod(spec: PodSpec): Promise<LabPod> {
    this.#assertUsable('add a pod to');
    if (this.#nextPodIndex > MAX_POD_INDEX) {
      throw new WeftError('WEFT_E_LAB_FULL', `node ${this.name} has no pod IPs left (at most ${MAX_POD_INDEX - 1} pods a node)`);
    }
    const pod = new LabPod(this.#podHost(), spec, this.#nextPodIndex);
    this.#lab.claimNetns(pod.netnsName, `pod ${pod.name}`);
    this.#nextPodIndex += 1;
    this.#pods.set(pod.name, pod);
    const creating = runAsync(pod.createPlan());
    this.#creating.add(creating);
    try {
      await creating;
    } catch (error) {
      const cleanup = await runAsync(pod.teardownPlan());
      const also = cleanup.length > 0 ? `; cleaning up after it also failed: ${cleanup.join('; ')}` : '';
      throw new WeftError('WEFT_E_LAB_POD', `could not create pod ${pod.name} on node ${this.name}: ${describeError(error)}${also}`, {
        cause: error,
      });
    } finally {
      this.#creating.delete(creating);
    }
    if (this.#destroyed) {
      // The node was destroyed while this pod was being made; its teardown waited for us and
      // removed the pod, so hand back nothing usable.
      throw new WeftError('WEFT_E_LAB_DESTROYED', `node ${this.name} was destroyed while pod ${pod.name} was being created`);
    }
    return pod;
  }

  /** Removes one pod (as when Kubernetes deletes it); the node stays. Same as pod.destroy(). */
  async removePod(name: string): Promise<void> {
    await this.#pods.get(name)?.destroy();
  }

  /** Makes the cgroup tree, the netns with its bridge, and the link to the fabric. Run by Lab.addNode. */
  *createPlan(): Plan<void> {
    const lab = this.#lab;
    for (const dir of [this.cgroupPath, ...nodeCgroupDirs(this.cgroupDriver).map((d) => join(this.cgroupPath, d))]) {
      makeCgroup(lab.recorder, dir);
    }
    lab.recorder.record({ kind: 'netns', name: this.netnsName });
    yield* execOk('ip', ['netns', 'add', this.netnsName], leftoverHint(this.netnsName));
    const inNode = ['-n', this.netnsName];
    const inFabric = ['-n', lab.fabricNetns];
    const hint = `could not set up node ${this.name}'s network; is bridge/veth kernel support there?`;
    yield* execOk('ip', [...inNode, 'link', 'set', 'lo', 'up'], hint);
    yield* execOk('ip', [...inNode, 'link', 'add', BRIDGE, 'type', 'bridge'], hint);
    yield* execOk('ip', [...inNode, 'addr', 'add', `${this.bridgeIp}/24`, 'dev', BRIDGE], hint);
    yield* execOk('ip', [...inNode, 'link', 'set', BRIDGE, 'up'], hint);
    // The node routes between its bridge and the fabric; sysctls under /proc/sys/net are per netns.
    yield* execOk('nsenter', [`--net=${this.netnsPath}`, '--', 'sysctl', '-qw', 'net.ipv4.ip_forward=1'], hint);
    // Fabric link: 198.19.<n>.1 (node) ⇄ 198.19.<n>.254 (fabric). The fabric routes each node's pod
    // subnet to that node; the node sends the rest of the lab range to the fabric.
    const fabricEnd = `vn${this.index}`;
    const fabricEndIp = `198.19.${this.index}.254`;
    yield* execOk('ip', [...inNode, 'link', 'add', FABRIC_LINK, 'type', 'veth', 'peer', 'name', fabricEnd, 'netns', lab.fabricNetns], hint);
    yield* execOk('ip', [...inFabric, 'addr', 'add', `${fabricEndIp}/24`, 'dev', fabricEnd], hint);
    yield* execOk('ip', [...inFabric, 'link', 'set', fabricEnd, 'up'], hint);
    yield* execOk('ip', [...inNode, 'addr', 'add', `${this.fabricIp}/24`, 'dev', FABRIC_LINK], hint);
    yield* execOk('ip', [...inNode, 'link', 'set', FABRIC_LINK, 'up'], hint);
    yield* execOk('ip', [...inNode, 'route', 'add', LAB_ROUTE, 'via', fabricEndIp, 'dev', FABRIC_LINK], hint);
    yield* execOk('ip', [...inFabric, 'route', 'add', this.subnet, 'via', this.fabricIp, 'dev', fabricEnd], hint);
  }

  markDestroyed(): void {
    this.#destroyed = true;
    for (const pod of this.#pods.values()) pod.markDestroyed();
  }

  /** Removes the node's pods, its netns (bridge, fabric link) and its cgroup tree. Idempotent. */
  destroy(): Promise<void> {
    this.markDestroyed();
    this.#teardown ??= (async () => {
      // A pod still being made would otherwise race its own teardown.
      await Promise.allSettled([...this.#creating]);
      await runTeardown(this.teardownPlan(), `node ${this.name}`);
    })().finally(() => {
      this.#teardown = undefined;
    });
    return this.#teardown;
  }

  /** The same as destroy(), blocking; for process 'exit' handlers. */
  destroySync(): void {
    this.markDestroyed();
    throwTeardownErrors(runSync(this.teardownPlan()), `node ${this.name}`);
  }

  *teardownPlan(): Plan<string[]> {
    const errors: string[] = [];
    for (const pod of [...this.#pods.values()]) {
      const podErrors = yield* pod.teardownPlan();
      errors.push(...podErrors.map((error) => `pod ${pod.name}: ${error}`));
    }
    yield* attempt(errors, `netns ${this.netnsName}`, deleteNetns(this.netnsName));
    yield* attempt(errors, `cgroup ${this.cgroupPath}`, removeCgroupTree(this.cgroupPath, this.#lab.cgroupMount, this.#lab.graceMs));
    if (errors.length === 0) this.#lab.forgetNode(this);
    return errors;
  }

  #forget(pod: LabPod): void {
    this.#pods.delete(pod.name);
    this.#lab.releaseNetns(pod.netnsName);
  }

  #podHost(): PodHost {
    const lab = this.#lab;
    return {
      name: this.name,
      index: this.index,
      netnsName: this.netnsName,
      bridgeIp: this.bridgeIp,
      bridgeName: BRIDGE,
      cgroupDriver: this.cgroupDriver,
      cgroupPath: this.cgroupPath,
      prefix: lab.prefix,
      cgroupMount: lab.cgroupMount,
      recorder: lab.recorder,
      graceMs: lab.graceMs,
      forget: (pod) => this.#forget(pod),
    };
  }

  #assertUsable(what: string): void {
    if (this.#destroyed) throw new WeftError('WEFT_E_LAB_DESTROYED', `cannot ${what} node ${this.name}: it (or its lab) was destroyed`);
  }
}
