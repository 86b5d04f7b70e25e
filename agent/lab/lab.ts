// The lab: fake Kubernetes nodes and pods on this host, made of real kernel objects (network
// namespaces, veths, bridges, cgroups) and real processes, all named with one prefix so they can be
// found and removed. Used by `weft demo` and by the end-to-end tests.
//
//   <prefix>-fabric        netns routing between nodes: 198.19.<n>.254 ⇄ node n's fab0 (198.19.<n>.1)
//   <prefix>-<node>        netns with br0 (198.18.<n>.1/24) and fab0
//   <prefix>-<pod>         netns with lo and eth0 (198.18.<n>.<k>/24, route 198.18.0.0/15 via br0, no default)
//   <mount>/<prefix>/<node>/kubepods.slice/…   (systemd driver) or  …/kubepods/…  (cgroupfs driver)
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { WeftError, describeError } from '../errors.ts';
import { findCgroup2Mount } from '../host/cgroup2.ts';
import { DEFAULT_GRACE_MS, attempt, deleteNetns, removeCgroupTree } from './host-ops.ts';
import { checkPrefix, netnsName, netnsPath, RESERVED_NAMES } from './names.ts';
import { LabNode, type NodeLab, type NodeSpec } from './node.ts';
import { execOk, runAsync, runSync, type Plan } from './plan.ts';
import { leftoverHint, runTeardown, throwTeardownErrors } from './pod.ts';
import { noRecorder, type LabRecorder } from './resources.ts';

export interface LabOptions {
  /** Starts with "weft-"; every netns, cgroup dir and pin of the lab is named with it. */
  readonly prefix: string;
  /** Told about every netns, cgroup dir and process the moment it is made. */
  readonly recorder?: LabRecorder;
  /** Default: found in /proc/mounts. */
  readonly cgroupMount?: string;
  /** SIGTERM → SIGKILL grace for the lab's processes at teardown; default 2000 ms. */
  readonly graceMs?: number;
}

const MAX_NODE_INDEX = 254;

export class Lab {
  readonly prefix: string;
  readonly cgroupMount: string;
  /** `<mount>/<prefix>`: every node's cgroup tree is below it. */
  readonly cgroupPath: string;
  readonly fabricNetns: string;
  readonly recorder: LabRecorder;
  readonly graceMs: number;

  readonly #nodes = new Map<string, LabNode>();
  /** netns name → what uses it; names are unique across the lab's nodes and pods. */
  readonly #netns = new Map<string, string>();
  readonly #creating = new Set<Promise<unknown>>();
  #fabric: Promise<void> | undefined;
  #nextNodeIndex = 1;
  #destroyed = false;
  #teardown: Promise<void> | undefined;

  constructor(options: LabOptions) {
    this.prefix = checkPrefix(options.prefix);
    if (process.getuid?.() !== 0) {
      throw new WeftError('WEFT_E_LAB_NOT_ROOT', 'the lab needs root (network namespaces, veths, cgroups); run it as root');
    }
    const mount = options.cgroupMount ?? findCgroup2Mount();
    if (mount === undefined) {
      throw new WeftError('WEFT_E_LAB_NO_CGROUP2', 'no cgroup2 mount in /proc/mounts; mount one (mount -t cgroup2 none /sys/fs/cgroup/unified) and retry');
    }
    this.cgroupMount = mount;
    this.cgroupPath = join(mount, this.prefix);
    this.fabricNetns = netnsName(this.prefix, 'fabric');
    this.recorder = options.recorder ?? noRecorder;
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.#netns.set(this.fabricNetns, 'the lab fabric');
  }

  get nodes(): readonly LabNode[] {
    return [...this.#nodes.values()];
  }

  node(name: string): LabNode | undefined {
    return this.#nodes.get(name);
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Creates a node (netns, bridge, fabric link, cgroup tree). On failure, what was made is removed. */
  async addNode(spec: NodeSpec): Promise<LabNode> {
    this.#assertUsable();
    if (RESERVED_NAMES.includes(spec.name)) {
      throw new WeftError('WEFT_E_LAB_NAME', `node name ${JSON.stringify(spec.name)} is reserved by the lab; pick another`);
    }
    if (this.#nextNodeIndex > MAX_NODE_INDEX) {
      throw new WeftError('WEFT_E_LAB_FULL', `the lab has no node subnets left (at most ${MAX_NODE_INDEX} nodes)`);
    }
    const node = new LabNode(this.#nodeLab(), spec, this.#nextNodeIndex);
    this.#claimNetns(node.netnsName, `node ${node.name}`);
    this.#nextNodeIndex += 1;
    this.#nodes.set(node.name, node);
    const creating = (async () => {
      await this.#ensureFabric();
      await runAsync(node.createPlan());
    })();
    this.#creating.add(creating);
    try {
      await creating;
    } catch (error) {
      const cleanup = await runAsync(node.teardownPlan());
      const also = cleanup.length > 0 ? `; cleaning up after it also failed: ${cleanup.join('; ')}` : '';
      throw new WeftError('WEFT_E_LAB_NODE', `could not create node ${node.name}: ${describeError(error)}${also}`, { cause: error });
    } finally {
      this.#creating.delete(creating);
    }
    if (this.#destroyed) {
      throw new WeftError('WEFT_E_LAB_DESTROYED', `the lab was destroyed while node ${node.name} was being created`);
    }
    return node;
  }

  /** Removes everything the lab made. Idempotent; throws WEFT_E_LAB_TEARDOWN listing what stayed. */
  destroy(): Promise<void> {
    this.#markDestroyed();
    this.#teardown ??= (async () => {
      // Nodes and pods still being made would otherwise race their teardown.
      await Promise.allSettled([...this.#creating, this.#fabric]);
      await Promise.allSettled(this.nodes.map((node) => node.destroy()));
      await runTeardown(this.teardownPlan(), `lab ${this.prefix}`);
    })().finally(() => {
      this.#teardown = undefined;
    });
    return this.#teardown;
  }

  /** The same as destroy(), blocking; for process 'exit' and signal handlers, where nothing async runs. */
  destroySync(): void {
    this.#markDestroyed();
    throwTeardownErrors(runSync(this.teardownPlan()), `lab ${this.prefix}`);
  }

  *teardownPlan(): Plan<string[]> {
    const errors: string[] = [];
    for (const node of this.nodes) {
      const nodeErrors = yield* node.teardownPlan();
      errors.push(...nodeErrors.map((error) => `node ${node.name}: ${error}`));
    }
    yield* attempt(errors, `netns ${this.fabricNetns}`, deleteNetns(this.fabricNetns));
    yield* attempt(errors, `cgroup ${this.cgroupPath}`, removeCgroupTree(this.cgroupPath, this.cgroupMount, this.graceMs));
    return errors;
  }

  #markDestroyed(): void {
    this.#destroyed = true;
    for (const node of this.#nodes.values()) node.markDestroyed();
  }

  #ensureFabric(): Promise<void> {
    this.#fabric ??= runAsync(this.#fabricPlan()).catch((error: unknown) => {
      this.#fabric = undefined; // let the next node try again
      throw error;
    });
    return this.#fabric;
  }

  *#fabricPlan(): Plan<void> {
    this.recorder.record({ kind: 'cgroup', path: this.cgroupPath });
    try {
      mkdirSync(this.cgroupPath);
    } catch (error) {
      // Already there is fine: the node dirs below it are what must be new.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new WeftError('WEFT_E_LAB_CGROUP', `could not create cgroup ${this.cgroupPath}; is cgroup2 mounted read-write?`, { cause: error });
      }
    }
    this.recorder.record({ kind: 'netns', name: this.fabricNetns });
    yield* execOk('ip', ['netns', 'add', this.fabricNetns], leftoverHint(this.fabricNetns));
    const hint = 'could not set up the lab fabric netns';
    yield* execOk('ip', ['-n', this.fabricNetns, 'link', 'set', 'lo', 'up'], hint);
    yield* execOk('nsenter', [`--net=${netnsPath(this.fabricNetns)}`, '--', 'sysctl', '-qw', 'net.ipv4.ip_forward=1'], hint);
  }

  #claimNetns(name: string, owner: string): void {
    const holder = this.#netns.get(name);
    if (holder !== undefined) {
      throw new WeftError(
        'WEFT_E_LAB_NAME_TAKEN',
        `${owner} would use netns ${name}, which ${holder} already uses; node and pod names must be unique in a lab`,
      );
    }
    this.#netns.set(name, owner);
  }

  #nodeLab(): NodeLab {
    return {
      prefix: this.prefix,
      cgroupMount: this.cgroupMount,
      cgroupPath: this.cgroupPath,
      recorder: this.recorder,
      graceMs: this.graceMs,
      fabricNetns: this.fabricNetns,
      claimNetns: (name, owner) => this.#claimNetns(name, owner),
      releaseNetns: (name) => this.#netns.delete(name),
      forgetNode: (node) => {
        this.#nodes.delete(node.name);
        this.#netns.delete(node.netnsName);
      },
    };
  }

  #assertUsable(): void {
    if (this.#destroyed) throw new WeftError('WEFT_E_LAB_DESTROYED', `lab ${this.prefix} was destroyed; make a new one`);
  }
}
