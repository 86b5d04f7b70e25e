// Pod → where it lives on this host: its cgroup (what the BPF programs key on) and its network
// namespace (where the agent opens listeners and connects from). Either is ready, or there is a
// reason it is not yet; the caller retries the retryable ones (a sandbox still starting, a netns
// that vanished mid-setup) and reports the others. Never throws.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { resolvePodCgroup } from './cgroup-resolver.ts';
import type { NetnsIdentity } from './netns-resolver.ts';
import { netnsId, resolveCgroupNetns } from './netns-resolver.ts';
import type { QosClass } from './types.ts';

export type PodPlacement =
  | {
      readonly kind: 'ready';
      readonly cgroupPath: string;
      readonly cgroupId: bigint;
      readonly netnsPath: string;
      readonly netnsDev: bigint;
      readonly netnsInode: bigint;
      /** `dev:ino` of the netns, to notice a recreated pod sandbox. */
      readonly netnsId: string;
      /** The process the netns was found through (netnsPath is valid while it lives). */
      readonly pid: number;
    }
  | {
      readonly kind: 'not-ready';
      readonly reason: string;
      /** WEFT_E_INVENTORY_* code of the cause, for counting failures by class. */
      readonly code: string;
      /** False when trying again cannot help until the pod or the configuration changes. */
      readonly retryable: boolean;
    };

export interface PodResolverOptions {
  /** The kubelet's pods root (e.g. /sys/fs/cgroup/kubepods.slice); see podsRootAuto. */
  readonly podsRoot: string;
  readonly procRoot?: string;
  /**
   * The host's netns: a pod found in it shares the node's network (hostNetwork the source did not
   * report) and must not be captured. Default: the agent's own (`<procRoot>/self/ns/net`), since the
   * agent runs in the host netns; 'none' skips the check.
   */
  readonly hostNetns?: NetnsIdentity | 'none';
}

export interface ResolvablePod {
  readonly uid: string;
  readonly qosClass?: QosClass | undefined;
}

export class PodResolver {
  readonly #podsRoot: string;
  readonly #procRoot: string;
  readonly #hostNetns: NetnsIdentity | undefined;

  constructor(options: PodResolverOptions) {
    this.#podsRoot = options.podsRoot;
    this.#procRoot = options.procRoot ?? '/proc';
    this.#hostNetns = options.hostNetns === 'none' ? undefined : (options.hostNetns ?? ownNetns(this.#procRoot));
  }

  resolve(pod: ResolvablePod): PodPlacement {
    const cgroup = resolvePodCgroup(this.#podsRoot, pod.uid, { qosClass: pod.qosClass });
    if (cgroup.kind === 'not-found') {
      return { kind: 'not-ready', reason: cgroup.reason, code: 'WEFT_E_INVENTORY_CGROUP_NOT_FOUND', retryable: cgroup.searched.length > 0 };
    }
    const netns = resolveCgroupNetns(cgroup.path, { procRoot: this.#procRoot });
    if (netns.kind === 'no-process-yet') return { kind: 'not-ready', reason: netns.reason, code: 'WEFT_E_INVENTORY_NO_PROCESS', retryable: true };
    if (netns.kind === 'error') {
      // A vanished cgroup is a pod going away or restarting: worth another look. A permission
      // problem is not going to fix itself, but the pod is still retried so a fix takes effect.
      return { kind: 'not-ready', reason: netns.error.message, code: netns.error.code, retryable: true };
    }
    const host = this.#hostNetns;
    if (host !== undefined && host.dev === netns.dev && host.ino === netns.ino) {
      return {
        kind: 'not-ready',
        reason: `pod ${pod.uid} runs in the host network namespace (hostNetwork); capturing it would capture the node`,
        code: 'WEFT_E_INVENTORY_HOST_NETNS',
        retryable: false,
      };
    }
    return {
      kind: 'ready',
      cgroupPath: cgroup.path,
      cgroupId: cgroup.cgroupId,
      netnsPath: netns.path,
      netnsDev: netns.dev,
      netnsInode: netns.ino,
      netnsId: netnsId(netns),
      pid: netns.pid,
    };
  }

  /**
   * Whether a placement found earlier still holds: the same cgroup directory and, through the same
   * process, the same netns. A pod whose sandbox was recreated keeps its UID and cgroup but gets a
   * new netns (and pause process), so a capture must be redone; a reused PID is caught the same way.
   */
  recheck(placement: Extract<PodPlacement, { kind: 'ready' }>): PlacementCheck {
    const cgroup = inode(placement.cgroupPath);
    if (cgroup === undefined) return { kind: 'gone', reason: `pod cgroup ${placement.cgroupPath} is gone` };
    if (cgroup.ino !== placement.cgroupId) return { kind: 'changed', reason: `pod cgroup ${placement.cgroupPath} was recreated` };
    const netns = inode(placement.netnsPath);
    if (netns === undefined || netns.dev !== placement.netnsDev || netns.ino !== placement.netnsInode) {
      return { kind: 'changed', reason: `process ${placement.pid} that held the pod's netns ${placement.netnsId} is gone or moved; look the pod up again` };
    }
    return { kind: 'same' };
  }
}

export type PlacementCheck =
  | { readonly kind: 'same' }
  | { readonly kind: 'changed'; readonly reason: string }
  | { readonly kind: 'gone'; readonly reason: string };

function inode(path: string): NetnsIdentity | undefined {
  try {
    const info = statSync(path, { bigint: true });
    return { dev: info.dev, ino: info.ino };
  } catch {
    return undefined;
  }
}

function ownNetns(procRoot: string): NetnsIdentity | undefined {
  try {
    const info = statSync(join(procRoot, 'self', 'ns', 'net'), { bigint: true });
    return { dev: info.dev, ino: info.ino };
  } catch {
    // No procfs there (a test's fake tree without `self`): nothing to compare against.
    return undefined;
  }
}
