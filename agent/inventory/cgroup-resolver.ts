// Pod UID → the pod's cgroup under the pods root, by the kubelet's own naming, for both cgroup
// drivers and every QoS class:
//   systemd   <root>/kubepods-pod<uid_>.slice                                 (Guaranteed)
//             <root>/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice        (Burstable, BestEffort)
//   cgroupfs  <root>/pod<uid>  and  <root>/<qos>/pod<uid>
// where <uid_> is the UID with `-` written as `_` (a `-` in a systemd unit name means nesting).
// The systemd prefix is the root slice's own name, so a kubelet with `--cgroup-root=/kubelet`
// (kubelet.slice/kubelet-kubepods.slice, as kind runs it) resolves the same way.
// The cgroup v2 id the BPF programs see (bpf_get_current_cgroup_id) is the directory's inode number.
// Plain synchronous stat: cgroupfs is in memory, and a handful of stats per pod cost microseconds.
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { QosClass } from './types.ts';
import { QOS_CLASSES } from './types.ts';

export type CgroupDriver = 'systemd' | 'cgroupfs';

const UID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export interface CgroupCandidate {
  readonly path: string;
  readonly driver: CgroupDriver;
  readonly qos: QosClass;
}

export type CgroupResolution =
  | { readonly kind: 'found'; readonly path: string; readonly cgroupId: bigint; readonly driver: CgroupDriver; readonly qos: QosClass }
  | { readonly kind: 'not-found'; readonly searched: readonly string[]; readonly reason: string };

export interface CgroupLookupOptions {
  /** The pod's status.qosClass, searched first. */
  readonly qosClass?: QosClass | undefined;
}

/** The driver a pods root implies: systemd roots are slices (`*.slice`), cgroupfs roots are not. */
export function driverOf(podsRoot: string): CgroupDriver {
  return basename(podsRoot).endsWith('.slice') ? 'systemd' : 'cgroupfs';
}

/** Every directory the pod's cgroup may be, most likely first. Pure; undefined for a UID that is not a UUID. */
export function podCgroupCandidates(podsRoot: string, uid: string, options: CgroupLookupOptions = {}): CgroupCandidate[] | undefined {
  if (!UID.test(uid)) return undefined;
  const driver = driverOf(podsRoot);
  const hint = options.qosClass;
  const classes = hint === undefined ? QOS_CLASSES : [hint, ...QOS_CLASSES.filter((qos) => qos !== hint)];
  return classes.map((qos) => ({ path: join(podsRoot, podCgroupName(driver, basename(podsRoot), qos, uid)), driver, qos }));
}

/** The pod's cgroup dir relative to the pods root (`rootName` is the root's basename). Pure. */
export function podCgroupName(driver: CgroupDriver, rootName: string, qos: QosClass, uid: string): string {
  if (driver === 'cgroupfs') return qos === 'Guaranteed' ? `pod${uid}` : `${qos.toLowerCase()}/pod${uid}`;
  const prefix = rootName.slice(0, -'.slice'.length);
  const escaped = uid.replaceAll('-', '_');
  if (qos === 'Guaranteed') return `${prefix}-pod${escaped}.slice`;
  const lower = qos.toLowerCase();
  return `${prefix}-${lower}.slice/${prefix}-${lower}-pod${escaped}.slice`;
}

/** Finds the pod's cgroup directory and its id, or says where it looked. */
export function resolvePodCgroup(podsRoot: string, uid: string, options: CgroupLookupOptions = {}): CgroupResolution {
  const candidates = podCgroupCandidates(podsRoot, uid, options);
  if (candidates === undefined) {
    return { kind: 'not-found', searched: [], reason: `pod UID ${JSON.stringify(uid)} is not a UUID, so no kubelet cgroup can carry it` };
  }
  const problems: string[] = [];
  for (const candidate of candidates) {
    const found = directoryInode(candidate.path, problems);
    if (found !== undefined) return { kind: 'found', path: candidate.path, cgroupId: found, driver: candidate.driver, qos: candidate.qos };
  }
  const searched = candidates.map((candidate) => candidate.path);
  const rootMissing = directoryInode(podsRoot, []) === undefined;
  const reason = rootMissing
    ? `pods root ${podsRoot} does not exist; set the pods root (cgroup.podsRoot) to the kubelet's kubepods directory`
    : `no cgroup for pod ${uid} under ${podsRoot} (${driverOf(podsRoot)} driver, all QoS classes searched); the kubelet may not have created it yet${problems.length > 0 ? `; ${problems.join('; ')}` : ''}`;
  return { kind: 'not-found', searched, reason };
}

export type PodsRootResult =
  | { readonly kind: 'found'; readonly path: string; readonly driver: CgroupDriver }
  | { readonly kind: 'not-found'; readonly searched: readonly string[] };

/** Where kubelets put pods, relative to the cgroup2 mount, most common first. */
export const PODS_ROOT_CANDIDATES: readonly string[] = [
  'kubepods.slice',
  'kubepods',
  // kubelet --cgroup-root=/kubelet (kind, some distributions)
  'kubelet.slice/kubelet-kubepods.slice',
  'kubelet/kubepods',
];

/** Finds the pods root under the cgroup2 mount (agent/host/cgroup2.ts finds the mount). */
export function podsRootAuto(mount: string): PodsRootResult {
  const searched = PODS_ROOT_CANDIDATES.map((relative) => join(mount, relative));
  for (const path of searched) {
    if (directoryInode(path, []) !== undefined) return { kind: 'found', path, driver: driverOf(path) };
  }
  return { kind: 'not-found', searched };
}

/** The inode of a directory, undefined when there is none; unexpected failures are noted in `problems`. */
function directoryInode(path: string, problems: string[]): bigint | undefined {
  try {
    const info = statSync(path, { bigint: true, throwIfNoEntry: false });
    return info?.isDirectory() === true ? info.ino : undefined;
  } catch (error) {
    // ENOENT is answered by throwIfNoEntry; anything else (EACCES, ELOOP) is worth telling.
    const code = (error as { code?: unknown }).code;
    problems.push(`${path}: ${typeof code === 'string' ? code : String(error)}`);
    return undefined;
  }
}
