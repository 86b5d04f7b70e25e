// Real kernel objects for the capture tests: a cgroup tree shaped like a node's pods root, two
// network namespaces joined by a veth pair ("pod" and "server"), and client processes started inside
// a netns AND a cgroup from their first instruction. Everything carries the test run's prefix and is
// recorded in the run's ledger before it is made, so the leftover sweep finds it even after a crash.
// Addresses: 198.18.200.0/24 and fd57:eef7::/64, only ever inside these namespaces; the pod has no
// default route, so nothing can leave them.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { recordPid, runLedger } from '../../support/ledger.ts';

export const POD_V4 = '198.18.200.2';
export const SERVER_V4 = '198.18.200.1';
export const POD_V6 = 'fd57:eef7::2';
export const SERVER_V6 = 'fd57:eef7::1';

export interface ClientResult {
  /** 'ok' once the connection was made and the tag written; else the error code (ECONNREFUSED, …). */
  readonly outcome: string;
  readonly localPort?: number;
  readonly remote?: string;
}

function run(command: string, args: readonly string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

export class CgroupTree {
  readonly root: string;
  readonly #made: string[] = [];

  constructor(cgroupMount: string, prefix: string) {
    this.root = join(cgroupMount, prefix);
  }

  /** mkdir (recorded first); returns the path. */
  make(relativePath: string): string {
    const path = relativePath === '' ? this.root : join(this.root, relativePath);
    for (const dir of [this.root, ...ancestors(this.root, path)]) {
      if (existsSync(dir)) continue;
      runLedger().record({ kind: 'cgroup', path: dir });
      mkdirSync(dir);
      this.#made.push(dir);
    }
    return path;
  }

  /** Removes what make() made, deepest first. Throws listing what stayed (a cgroup still holding a process). */
  remove(): void {
    const failed: string[] = [];
    for (const dir of [...this.#made].reverse()) {
      try {
        rmdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(`${dir}: ${String(error)}`);
      }
    }
    this.#made.length = 0;
    if (failed.length > 0) throw new Error(`cgroups left behind:\n${failed.join('\n')}`);
  }
}

function ancestors(root: string, path: string): string[] {
  const out: string[] = [];
  let current = path;
  while (current.length > root.length) {
    out.unshift(current);
    current = current.slice(0, current.lastIndexOf('/'));
  }
  return out;
}

export function cgroupId(path: string): bigint {
  return statSync(path, { bigint: true }).ino;
}

/** The "pod" and "server" netns, joined by a veth pair, v4 and v6 addressed, lo up in both. */
export class NetnsPair {
  readonly pod: string;
  readonly server: string;
  #made: string[] = [];

  constructor(prefix: string) {
    this.pod = `${prefix}-pod`;
    this.server = `${prefix}-srv`;
  }

  static path(name: string): string {
    return `/run/netns/${name}`;
  }

  make(): void {
    for (const name of [this.pod, this.server]) {
      runLedger().record({ kind: 'netns', name });
      run('ip', ['netns', 'add', name]);
      this.#made.push(name);
      run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    }
    run('ip', ['-n', this.pod, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.server]);
    for (const [name, v4, v6] of [
      [this.pod, POD_V4, POD_V6],
      [this.server, SERVER_V4, SERVER_V6],
    ] as const) {
      run('ip', ['-n', name, 'addr', 'add', `${v4}/24`, 'dev', 'eth0']);
      // nodad: the address is usable at once instead of after duplicate address detection.
      run('ip', ['-n', name, '-6', 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
      run('ip', ['-n', name, 'link', 'set', 'eth0', 'up']);
    }
  }

  /** Deletes both netns (the veth pair goes with them). */
  remove(): void {
    const failed: string[] = [];
    for (const name of this.#made) {
      const result = spawnSync('ip', ['netns', 'del', name], { encoding: 'utf8', timeout: 10_000 });
      if (result.status !== 0 && existsSync(NetnsPair.path(name))) failed.push(`${name}: ${result.stderr}`);
    }
    this.#made = [];
    if (failed.length > 0) throw new Error(`netns left behind:\n${failed.join('\n')}`);
  }
}

// The client: connect, write the tag and a newline, half-close, report how it went as one JSON line.
// It reports (and exits) once its bytes are handed to the kernel, not when the peer closes: the peer
// may be a hung agent's listener that accepts nothing (the kernel still completes the handshake).
const CLIENT_SCRIPT = `
const net = require('node:net');
const [host, port, tag] = process.argv.slice(1);
const socket = net.connect({ host, port: Number(port) });
let result = { outcome: 'closed before connect' };
const report = () => { process.stdout.write(JSON.stringify(result) + '\\n'); process.exit(0); };
socket.on('connect', () => {
  result = { outcome: 'ok', localPort: socket.localPort, remote: socket.remoteAddress + ':' + socket.remotePort };
  socket.end(tag + '\\n', report);
});
socket.on('error', (error) => { result = { outcome: error.code || String(error) }; });
socket.on('close', report);
setTimeout(() => { process.stdout.write(JSON.stringify({ outcome: 'client timeout' }) + '\\n'); process.exit(0); }, 5000);
`;

function clientArgs(netns: string, cgroup: string, host: string, port: number, tag: string): string[] {
  // nsenter --net keeps /sys (bpffs, cgroupfs) as it is, unlike `ip netns exec`. The shell moves
  // itself into the cgroup, then exec's node: the client is in the cgroup from its first instruction.
  return [
    `--net=${NetnsPair.path(netns)}`,
    '--',
    'sh',
    '-c',
    'echo $$ > "$1/cgroup.procs" && shift && exec "$@"',
    'client',
    cgroup,
    process.execPath,
    '-e',
    CLIENT_SCRIPT,
    host,
    String(port),
    tag,
  ];
}

function parseResult(stdout: string, stderr: string): ClientResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ClientResult;
  } catch {
    return { outcome: `client printed ${JSON.stringify(stdout)} (stderr ${JSON.stringify(stderr)})` };
  }
}

/** Runs one client in `netns` and `cgroup`; the PID is recorded, and ended by PID if it overstays. */
export async function runClient(netns: string, cgroup: string, host: string, port: number, tag: string): Promise<ClientResult> {
  const child = spawn('nsenter', clientArgs(netns, cgroup, host, port, tag), { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid !== undefined) recordPid(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
  if (timedOut) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    await exited;
    return { outcome: 'client did not exit within 10 s (killed)' };
  }
  return parseResult(stdout, stderr);
}

/**
 * The same, but with this process's event loop blocked the whole time (spawnSync), as in a hung
 * agent. The client's connection completes in the kernel (listen backlog) without an accept.
 */
export function runClientBlocking(netns: string, cgroup: string, host: string, port: number, tag: string): ClientResult {
  const result = spawnSync('nsenter', clientArgs(netns, cgroup, host, port, tag), { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
  return parseResult(result.stdout, result.stderr);
}

/** Blocks the event loop (no timers, no heartbeat) for `ms`. */
export function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Processes still in a cgroup (should be none once every client exited). */
export function cgroupProcs(path: string): number[] {
  try {
    return readFileSync(join(path, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  } catch {
    return [];
  }
}
