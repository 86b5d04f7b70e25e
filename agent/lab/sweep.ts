// Finding and removing what a lab prefix left behind, from names alone plus whatever records were
// kept (the test ledger): for the leftover check at the end of a test run, and for `weft demo` to
// clear up after a demo that was killed.
import { existsSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../errors.ts';
import { findCgroup2Mount } from '../host/cgroup2.ts';
import { attempt, cgroupTreePids, deleteNetns, isAlive, removeCgroupTree, terminate, type TrackedPid } from './host-ops.ts';
import { belongsToPrefix, checkPrefix, netnsPath } from './names.ts';
import { runAsync, runSync, type Plan } from './plan.ts';
import type { LabResource } from './resources.ts';

export const BPFFS_MAGIC = 0xcafe4a11;
export const DEFAULT_BPFFS = '/sys/fs/bpf';

export interface Leftovers {
  /** Names of network namespaces (in /run/netns). */
  readonly netns: readonly string[];
  /** Cgroup dirs (absolute), each the top of a tree to remove. */
  readonly cgroups: readonly string[];
  /** bpffs pins or pin dirs (absolute). */
  readonly pins: readonly string[];
  /** Processes still running: recorded ones, and any inside a leftover cgroup. */
  readonly pids: readonly TrackedPid[];
}

export interface FindOptions {
  /** Records kept while the lab ran (e.g. the test ledger); things they name are checked too. */
  readonly resources?: readonly LabResource[];
  /** Default: found in /proc/mounts; without one, cgroups are not searched. */
  readonly cgroupMount?: string;
  readonly bpffs?: string;
}

/** Whether `path` is a mounted bpffs (a plain /sys/fs/bpf directory does not count). */
export function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPFFS_MAGIC;
  } catch {
    return false;
  }
}

export function findLeftovers(prefix: string, options: FindOptions = {}): Leftovers {
  checkPrefix(prefix);
  const resources = options.resources ?? [];
  const mount = options.cgroupMount ?? findCgroup2Mount();
  const bpffs = options.bpffs ?? DEFAULT_BPFFS;

  const netns = new Set(listNames('/run/netns').filter((name) => belongsToPrefix(name, prefix)));
  for (const r of resources) if (r.kind === 'netns' && existsSync(netnsPath(r.name))) netns.add(r.name);

  const cgroups: string[] = [];
  if (mount !== undefined) {
    for (const name of listNames(mount)) if (belongsToPrefix(name, prefix)) cgroups.push(join(mount, name));
    const recorded = resources.flatMap((r) => (r.kind === 'cgroup' && r.path.startsWith(`${mount}/`) && existsSync(r.path) ? [r.path] : []));
    // A recorded dir inside a tree already listed goes with that tree.
    for (const path of recorded.sort()) if (!cgroups.some((top) => path === top || path.startsWith(`${top}/`))) cgroups.push(path);
  }

  const pins: string[] = [];
  if (isBpffs(bpffs)) {
    for (const name of listNames(bpffs)) if (belongsToPrefix(name, prefix)) pins.push(join(bpffs, name));
  }
  for (const r of resources) if (r.kind === 'pin' && existsSync(r.path) && !pins.some((p) => r.path === p || r.path.startsWith(`${p}/`))) pins.push(r.path);

  const pids = new Map<number, TrackedPid>();
  for (const r of resources) if (r.kind === 'pid' && isAlive(r)) pids.set(r.pid, { pid: r.pid, startTime: r.startTime });
  for (const top of cgroups) for (const tracked of cgroupTreePids(top)) pids.set(tracked.pid, tracked);

  return { netns: [...netns].sort(), cgroups, pins, pids: [...pids.values()] };
}

export function isClean(leftovers: Leftovers): boolean {
  return leftovers.netns.length + leftovers.cgroups.length + leftovers.pins.length + leftovers.pids.length === 0;
}

/** One line per leftover, for failure messages. */
export function describeLeftovers(leftovers: Leftovers): string[] {
  return [
    ...leftovers.pids.map((t) => `process ${t.pid}`),
    ...leftovers.netns.map((name) => `netns ${name}`),
    ...leftovers.cgroups.map((path) => `cgroup ${path}`),
    ...leftovers.pins.map((path) => `pin ${path}`),
  ];
}

/** Processes first (they hold netns and cgroups), then netns, cgroups, pins. Returns what failed. */
export function* removeLeftoversPlan(leftovers: Leftovers, cgroupMount: string | undefined, graceMs = 2000): Plan<string[]> {
  const errors: string[] = [];
  const stuck = yield* terminate(leftovers.pids, graceMs);
  if (stuck.length > 0) errors.push(`processes ${stuck.map((t) => t.pid).join(', ')} survived SIGKILL`);
  for (const name of leftovers.netns) yield* attempt(errors, `netns ${name}`, deleteNetns(name));
  for (const path of leftovers.cgroups) {
    if (cgroupMount === undefined) errors.push(`cgroup ${path}: no cgroup2 mount`);
    else yield* attempt(errors, `cgroup ${path}`, removeCgroupTree(path, cgroupMount, graceMs));
  }
  for (const path of leftovers.pins) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch (error) {
      errors.push(`pin ${path}: ${describeError(error)}`);
    }
  }
  return errors;
}

export function removeLeftovers(leftovers: Leftovers, cgroupMount = findCgroup2Mount()): Promise<string[]> {
  return runAsync(removeLeftoversPlan(leftovers, cgroupMount));
}

export function removeLeftoversSync(leftovers: Leftovers, cgroupMount = findCgroup2Mount()): string[] {
  return runSync(removeLeftoversPlan(leftovers, cgroupMount));
}

function listNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
