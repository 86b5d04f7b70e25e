// Pod cgroup → the pod's network namespace. A pod's processes sit in its cgroup's descendants (one
// per container, cgroup v2 keeps processes in leaves); every container of a pod shares the
// sandbox's netns, held open by the pause process. So: collect the PIDs of the pod cgroup and its
// descendants, prefer the oldest (lowest start time: the pause process, which lives as long as the
// sandbox), and take `/proc/<pid>/ns/net`. The namespace's identity (device + inode of that file)
// lets callers notice a recreated sandbox. Processes may exit at any moment while this runs; a PID
// that vanished is skipped, not an error.
// Synchronous reads: cgroupfs and procfs are in memory and this runs once per pod and retry.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, WeftError } from '../errors.ts';

/** PIDs listed in a cgroup.procs file, one decimal number a line. Pure. */
export function parseCgroupProcs(text: string): number[] {
  const pids: number[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (/^[1-9]\d*$/.test(trimmed)) pids.push(Number(trimmed));
  }
  return pids;
}

/**
 * Start time (field 22, clock ticks since boot) from /proc/<pid>/stat. The command name (field 2)
 * is in parentheses and may itself hold spaces and `)`, so fields are counted after the LAST `)`.
 * Pure; undefined for text that is not a stat line.
 */
export function parseProcStatStartTime(text: string): bigint | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") " come fields 3 (state), 4, …; field 22 is the 20th of them.
  const fields = text.slice(close + 1).trim().split(/\s+/);
  const start = fields[22 - 3];
  return start !== undefined && /^\d+$/.test(start) ? BigInt(start) : undefined;
}

export interface NetnsIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

/** `dev:ino`, the same text whichever process the namespace was found through. */
export function netnsId(identity: NetnsIdentity): string {
  return `${identity.dev}:${identity.ino}`;
}

export type NetnsResolution =
  | { readonly kind: 'found'; readonly pid: number; readonly path: string; readonly dev: bigint; readonly ino: bigint; readonly id: string }
  | { readonly kind: 'no-process-yet'; readonly reason: string }
  | { readonly kind: 'error'; readonly error: WeftError };

export interface NetnsLookupOptions {
  /** Where procfs is mounted; tests point it at a fake tree. */
  readonly procRoot?: string;
  /** Bounds on the cgroup walk: a pod has a handful of containers, not thousands. */
  readonly maxDepth?: number;
  readonly maxCgroups?: number;
}

/** Finds the netns of the processes in `cgroupPath` (and its descendants). */
export function resolveCgroupNetns(cgroupPath: string, options: NetnsLookupOptions = {}): NetnsResolution {
  const procRoot = options.procRoot ?? '/proc';
  let pids: number[];
  try {
    pids = cgroupPids(cgroupPath, options.maxDepth ?? 4, options.maxCgroups ?? 256);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') {
      return {
        kind: 'error',
        error: new WeftError('WEFT_E_INVENTORY_CGROUP_GONE', `pod cgroup ${cgroupPath} disappeared (pod stopped or restarted); it is looked up again`, { cause: error }),
      };
    }
    return {
      kind: 'error',
      error: new WeftError('WEFT_E_INVENTORY_CGROUP_READ', `could not read the processes of ${cgroupPath}: ${describeError(error)}`, { cause: error }),
    };
  }
  if (pids.length === 0) return { kind: 'no-process-yet', reason: `no process in ${cgroupPath} yet (the sandbox is starting)` };

  const aged: Array<{ pid: number; start: bigint }> = [];
  for (const pid of new Set(pids)) {
    const start = readStartTime(procRoot, pid);
    if (start !== undefined) aged.push({ pid, start });
  }
  aged.sort((a, b) => (a.start === b.start ? a.pid - b.pid : a.start < b.start ? -1 : 1));
  let denied: WeftError | undefined;
  for (const { pid } of aged) {
    const path = join(procRoot, String(pid), 'ns', 'net');
    try {
      const info = statSync(path, { bigint: true });
      return { kind: 'found', pid, path, dev: info.dev, ino: info.ino, id: netnsId({ dev: info.dev, ino: info.ino }) };
    } catch (error) {
      // Exited since it was listed: the next oldest shares the same namespace.
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ESRCH') continue;
      // Refused (another user namespace, a hardened process): another process of the pod may do;
      // the first refusal is the answer if none does.
      denied ??= new WeftError(
        'WEFT_E_INVENTORY_NETNS_READ',
        `could not read ${path}: ${describeError(error)}; the agent needs root (CAP_SYS_ADMIN and CAP_SYS_PTRACE) in the host's user namespace to see pod namespaces`,
        { cause: error },
      );
    }
  }
  if (denied !== undefined) return { kind: 'error', error: denied };
  return {
    kind: 'no-process-yet',
    reason: `the ${pids.length} process(es) of ${cgroupPath} exited while their network namespace was looked up (pod stopping or restarting)`,
  };
}

/** PIDs of a cgroup and its descendants, breadth first. Throws when the cgroup itself is unreadable. */
function cgroupPids(root: string, maxDepth: number, maxCgroups: number): number[] {
  const pids: number[] = parseCgroupProcs(readFileSync(join(root, 'cgroup.procs'), 'utf8'));
  let level = [root];
  let visited = 1;
  for (let depth = 0; depth < maxDepth && level.length > 0 && visited < maxCgroups; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      for (const child of childDirs(dir)) {
        if (visited >= maxCgroups) break;
        visited += 1;
        next.push(child);
        try {
          pids.push(...parseCgroupProcs(readFileSync(join(child, 'cgroup.procs'), 'utf8')));
        } catch {
          // A container cgroup removed mid-walk: its processes are gone too.
        }
      }
    }
    level = next;
  }
  return pids;
}

function childDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(dir, entry.name));
  } catch {
    return [];
  }
}

function readStartTime(procRoot: string, pid: number): bigint | undefined {
  try {
    return parseProcStatStartTime(readFileSync(join(procRoot, String(pid), 'stat'), 'utf8'));
  } catch {
    return undefined;
  }
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}
