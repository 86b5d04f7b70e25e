// The kernel-object primitives of teardown, each idempotent and tolerant of half-made state:
// end processes by PID (SIGTERM, grace, SIGKILL), delete a named netns, remove a cgroup tree
// deepest first. Written as plans so the same code runs async or from an 'exit' handler.
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { WeftError, describeError } from '../errors.ts';
import { netnsPath } from './names.ts';
import { exec, sleep, type Plan } from './plan.ts';

export interface TrackedPid {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): tells our process from a PID reused later. */
  readonly startTime: string;
}

export const DEFAULT_GRACE_MS = 2000;
const POLL_MS = 20;
/** After SIGKILL, how long to wait for the kernel to finish the exit before calling it stuck. */
const KILL_WAIT_MS = 3000;

interface ProcStat {
  readonly state: string;
  readonly startTime: string;
}

function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) is in parentheses and may contain spaces or ")", so split after the LAST ")".
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined) return undefined;
  return { state, startTime };
}

/** Identifies a live PID for later termination; undefined if it is already gone. */
export function trackPid(pid: number): TrackedPid | undefined {
  const stat = readProcStat(pid);
  return stat === undefined ? undefined : { pid, startTime: stat.startTime };
}

/** Still running as the same process (a zombie has already released its netns and cgroup). */
export function isAlive(tracked: TrackedPid): boolean {
  const stat = readProcStat(tracked.pid);
  return stat !== undefined && stat.startTime === tracked.startTime && stat.state !== 'Z' && stat.state !== 'X';
}

function signal(tracked: TrackedPid, name: NodeJS.Signals): void {
  if (!isAlive(tracked)) return;
  try {
    process.kill(tracked.pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** SIGTERM, wait up to `graceMs`, SIGKILL the rest. Returns the ones that would not die. */
export function* terminate(pids: readonly TrackedPid[], graceMs = DEFAULT_GRACE_MS): Plan<TrackedPid[]> {
  let alive = pids.filter(isAlive);
  if (alive.length === 0) return [];
  for (const tracked of alive) signal(tracked, 'SIGTERM');
  for (let waited = 0; waited < graceMs && alive.length > 0; waited += POLL_MS) {
    yield* sleep(POLL_MS);
    alive = alive.filter(isAlive);
  }
  for (const tracked of alive) signal(tracked, 'SIGKILL');
  for (let waited = 0; waited < KILL_WAIT_MS && alive.length > 0; waited += POLL_MS) {
    yield* sleep(POLL_MS);
    alive = alive.filter(isAlive);
  }
  return alive;
}

/** Every process in the cgroup dir `dir` and below it (empty if the dir is gone). */
export function cgroupTreePids(dir: string): TrackedPid[] {
  const found: TrackedPid[] = [];
  for (const cgroup of cgroupTree(dir)) {
    let text: string;
    try {
      text = readFileSync(join(cgroup, 'cgroup.procs'), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const pid = Number(line);
      const tracked = line === '' ? undefined : trackPid(pid);
      if (tracked !== undefined) found.push(tracked);
    }
  }
  return found;
}

/** `dir` and all cgroup dirs below it, deepest first (the order rmdir needs). */
export function cgroupTree(dir: string): string[] {
  const all: string[] = [];
  const walk = (path: string): void => {
    let entries;
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) if (entry.isDirectory()) walk(join(path, entry.name));
    all.push(path);
  };
  walk(dir);
  return all;
}

/**
 * Removes the cgroup dir `dir` and everything below it. Processes still inside are stragglers of
 * ours (children of processes we started, in a cgroup we made): they are ended by PID first. Any
 * that survive SIGKILL are moved to the cgroup2 root so the tree can go, and reported.
 */
export function* removeCgroupTree(dir: string, cgroupMount: string, graceMs = DEFAULT_GRACE_MS): Plan<void> {
  // Only normalized paths in a weft-* tree below the mount: no sweep may reach anyone else's cgroups.
  const top = relative(cgroupMount, dir).split('/')[0] ?? '';
  if (resolve(dir) !== dir || !dir.startsWith(`${cgroupMount}/`) || !top.startsWith('weft-')) {
    throw new WeftError('WEFT_E_LAB_CGROUP', `refusing to remove ${dir}: only weft-* cgroup trees below the cgroup2 mount ${cgroupMount} are the lab's`);
  }
  if (!existsSync(dir)) return;
  const stuck = yield* terminate(cgroupTreePids(dir), graceMs);
  const moved: number[] = [];
  for (const tracked of stuck) {
    try {
      writeFileSync(join(cgroupMount, 'cgroup.procs'), String(tracked.pid));
      moved.push(tracked.pid);
    } catch {
      // It exited meanwhile, or cannot be moved; rmdir below reports what stays.
    }
  }
  const failures: string[] = [];
  for (const cgroup of cgroupTree(dir)) {
    const error = yield* rmdirWhenEmpty(cgroup);
    if (error !== undefined) failures.push(`${cgroup}: ${error}`);
  }
  if (failures.length > 0 || moved.length > 0) {
    throw new WeftError(
      'WEFT_E_LAB_CGROUP',
      [
        moved.length > 0 ? `processes ${moved.join(', ')} ignored SIGKILL and were moved to the cgroup2 root` : '',
        failures.length > 0 ? `could not remove ${failures.join('; ')}` : '',
      ]
        .filter((part) => part !== '')
        .join('; ') + '; look at them with `ps -o pid,stat,cmd -p <pid>` and remove them by hand',
    );
  }
}

/** rmdir, retrying EBUSY briefly: a cgroup stays populated until its last exiting task is done. */
function* rmdirWhenEmpty(cgroup: string): Plan<string | undefined> {
  let lastError: unknown;
  for (let waited = 0; waited <= KILL_WAIT_MS; waited += POLL_MS) {
    try {
      rmdirSync(cgroup);
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code !== 'EBUSY' && code !== 'ENOTEMPTY') return describeError(error);
      lastError = error;
    }
    yield* sleep(POLL_MS);
  }
  const left = cgroupTreePids(cgroup).map((tracked) => tracked.pid);
  return `${describeError(lastError)}${left.length > 0 ? ` (processes still inside: ${left.join(', ')})` : ''}`;
}

/** `ip netns del NAME` if it exists. The netns itself lives on while a process is still in it. */
export function* deleteNetns(name: string): Plan<void> {
  if (!existsSync(netnsPath(name))) return;
  const result = yield* exec('ip', ['netns', 'del', name]);
  if (result.code !== 0 && existsSync(netnsPath(name))) {
    throw new WeftError(
      'WEFT_E_LAB_NETNS',
      `could not delete network namespace ${name}: ${result.failure ?? result.stderr.trim()}; ` +
        `try \`ip netns del ${name}\` by hand`,
    );
  }
}

/** Runs `plan`; a failure is added to `errors` (with `what`) instead of stopping the teardown. */
export function* attempt(errors: string[], what: string, plan: Plan<unknown>): Plan<void> {
  try {
    yield* plan;
  } catch (error) {
    errors.push(`${what}: ${describeError(error)}`);
  }
}
