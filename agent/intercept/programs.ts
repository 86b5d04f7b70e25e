// Program lifecycle: bpffs mounted → a dead agent's stale pins removed → load, pin, attach →
// heartbeat → close. Links are held by this process only, so if it dies the kernel detaches the
// programs at once; if it hangs, the heartbeat goes stale and connect4/6 stop capturing. Both fail open.
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { describeError, WeftError } from '../errors.ts';
import { findCgroup2Mount } from '../host/cgroup2.ts';
import type { AbiCodecs } from './abi.ts';
import type { Attachment, NativeAddon, NativePrograms } from './addon.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFn = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export interface ProgramsOptions {
  /** Where bpffs is (or is to be) mounted, e.g. /sys/fs/bpf. */
  readonly bpffs: string;
  /** Absolute pin dir inside bpffs, e.g. /sys/fs/bpf/weft. Owned by this agent: stale pins there are removed. */
  readonly pinDir: string;
  /** The pods' cgroup root (cgroup2 path), e.g. <cgroup2 mount>/kubepods.slice. */
  readonly podsRoot: string;
  /** The in-pod capture port connect4/6 redirect to. */
  readonly redirectPort: number;
  readonly heartbeatIntervalMs: number;
  /** connect4/6 stop capturing when the last heartbeat is older than this. */
  readonly heartbeatTimeoutMs: number;
  /** Tasks in this cgroup are never captured; default: this process's own cgroup2 cgroup. */
  readonly agentCgroupId?: bigint;
  readonly maxCgroupDepth?: number;
}

export interface ProgramsDeps {
  readonly addon: NativeAddon;
  readonly codecs: AbiCodecs;
  readonly log: LogFn;
}

/** Loaded, attached programs with a running heartbeat. */
export interface LoadedPrograms {
  readonly native: NativePrograms;
  readonly agentCgroupId: bigint;
  attachments(): Attachment[];
  /** Writes the heartbeat now (the timer also does, every heartbeatIntervalMs). */
  beat(): void;
  /** Stops the heartbeat, detaches, unpins. Idempotent. */
  close(): void;
}

const NS_PER_MS = 1_000_000n;

export function startPrograms(options: ProgramsOptions, deps: ProgramsDeps): LoadedPrograms {
  const { addon, codecs, log } = deps;
  checkOptions(options);
  ensureBpffs(addon, options.bpffs, log);
  removeStalePins(addon, options.pinDir, log);

  const agentCgroupId = options.agentCgroupId ?? ownCgroupId(log);
  let native: NativePrograms;
  try {
    native = addon.load({
      pinDir: options.pinDir,
      cgroupPath: options.podsRoot,
      agentCgroupId,
      redirectPort: options.redirectPort,
      heartbeatTimeoutNs: BigInt(options.heartbeatTimeoutMs) * NS_PER_MS,
      ...(options.maxCgroupDepth === undefined ? {} : { maxCgroupDepth: options.maxCgroupDepth }),
    });
  } catch (error) {
    throw new WeftError('WEFT_E_INTERCEPT_LOAD', `could not load and attach the capture programs at ${options.podsRoot}: ${describeError(error)}`, {
      cause: error,
    });
  }

  const stateKey = codecs.u32.encode(0);
  let closed = false;
  let beatFailures = 0;
  const beat = (): void => {
    if (closed) return;
    try {
      native.mapUpdate('agent_state', stateKey, codecs.agentState.encode({ heartbeatNs: addon.monotonicNs() }));
      beatFailures = 0;
    } catch (error) {
      // Not fatal by itself: the kernel side fails open when beats stop. Logged once per streak.
      if (beatFailures++ === 0) log('error', 'heartbeat write failed; capture stops once it is stale', { error: describeError(error) });
    }
  };
  // First beat before anything is meshed, so capture works from the first meshed connection.
  beat();
  const timer = setInterval(beat, options.heartbeatIntervalMs);
  // The heartbeat must not keep the process alive: an agent that is otherwise done should exit.
  timer.unref();
  log('info', 'capture programs attached', { podsRoot: options.podsRoot, pinDir: options.pinDir, agentCgroupId, redirectPort: options.redirectPort });

  return {
    native,
    agentCgroupId,
    attachments: () => native.attachments(),
    beat,
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      native.close();
      log('info', 'capture programs detached and unpinned', { pinDir: options.pinDir });
    },
  };
}

function checkOptions(options: ProgramsOptions): void {
  const bad = (what: string): never => {
    throw new WeftError('WEFT_E_INTERCEPT_OPTIONS', what);
  };
  if (!isAbsolute(options.bpffs)) bad(`bpffs must be an absolute path, got ${options.bpffs}`);
  const rel = relative(options.bpffs, options.pinDir);
  // The pin dir is removed recursively on start: it must be a dir of its own inside bpffs.
  if (!isAbsolute(options.pinDir) || rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    bad(`pinDir must be a directory inside bpffs (${options.bpffs}), got ${options.pinDir}`);
  }
  if (!isAbsolute(options.podsRoot)) bad(`podsRoot must be an absolute cgroup2 path, got ${options.podsRoot}`);
  if (!Number.isInteger(options.redirectPort) || options.redirectPort < 1 || options.redirectPort > 65535) {
    bad(`redirectPort must be 1..65535, got ${options.redirectPort}`);
  }
  if (!(options.heartbeatIntervalMs > 0) || !(options.heartbeatTimeoutMs > options.heartbeatIntervalMs)) {
    bad(`heartbeatTimeoutMs (${options.heartbeatTimeoutMs}) must exceed heartbeatIntervalMs (${options.heartbeatIntervalMs}) > 0`);
  }
}

function ensureBpffs(addon: NativeAddon, bpffs: string, log: LogFn): void {
  if (addon.isBpffs(bpffs)) return;
  try {
    addon.mountBpffs(bpffs);
  } catch (error) {
    throw new WeftError(
      'WEFT_E_INTERCEPT_BPFFS',
      `bpffs is not mounted at ${bpffs} and mounting it failed (${describeError(error)}); mount it (mount -t bpf bpf ${bpffs}) or run the agent as root with the host's mount namespace`,
      { cause: error },
    );
  }
  log('info', 'mounted bpffs', { path: bpffs });
}

function removeStalePins(addon: NativeAddon, pinDir: string, log: LogFn): void {
  try {
    statSync(pinDir);
  } catch {
    return;
  }
  // Our pin dir exists only if an agent before us died without closing: its links died with it,
  // so its programs no longer run; the pins just keep its maps alive.
  log('warn', 'removing stale pins of a previous agent', { pinDir });
  try {
    addon.removePins(pinDir);
  } catch (error) {
    throw new WeftError('WEFT_E_INTERCEPT_PINS', `could not remove stale pins in ${pinDir}: ${describeError(error)}`, { cause: error });
  }
}

/**
 * This process's cgroup2 cgroup id (the inode number of its cgroup directory, which is what
 * bpf_get_current_ancestor_cgroup_id reports). 0n (exclude nothing) if it cannot be found.
 */
export function ownCgroupId(log: LogFn): bigint {
  try {
    const line = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    const mount = findCgroup2Mount();
    if (line === undefined || mount === undefined) throw new Error('no cgroup2 entry in /proc/self/cgroup or no cgroup2 mount');
    return statSync(join(mount, line.slice(3)), { bigint: true }).ino;
  } catch (error) {
    log('warn', 'could not find the agent cgroup; no cgroup is excluded from capture', { error: describeError(error) });
    return 0n;
  }
}
