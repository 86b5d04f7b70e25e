// A fake procfs and cgroup tree in a temp dir: enough of /proc/<pid>/{stat,ns/net} and
// cgroup.procs for the netns lookup, with namespaces shared by hard links (same inode, as processes
// in one netns share one nsfs inode).
import { linkSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A /proc/<pid>/stat line with `start` as field 22; `comm` may hold spaces and parentheses. */
export function statLine(pid: number, comm: string, start: bigint | number): string {
  return `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 ${start} 1019904 1 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;
}

export class FakeProc {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
    mkdirSync(root, { recursive: true });
  }

  /** A process; `netnsOf` names a pid whose netns it shares (a hard link), else a new netns. */
  addProcess(pid: number, comm: string, start: number, netnsOf?: number): void {
    const dir = join(this.root, String(pid));
    mkdirSync(join(dir, 'ns'), { recursive: true });
    writeFileSync(join(dir, 'stat'), statLine(pid, comm, start));
    const net = join(dir, 'ns', 'net');
    if (netnsOf === undefined) writeFileSync(net, '');
    else linkSync(join(this.root, String(netnsOf), 'ns', 'net'), net);
  }

  /** The process exits: its /proc entry goes. */
  exit(pid: number): void {
    rmSync(join(this.root, String(pid)), { recursive: true, force: true });
  }

  /** Makes the process's ns/net unreadable with an error other than ENOENT (a symlink loop: ELOOP),
   * standing in for EACCES, which root would bypass. */
  breakNetns(pid: number): void {
    const net = this.netnsPath(pid);
    rmSync(net, { force: true });
    symlinkSync(net, net);
  }

  netnsPath(pid: number): string {
    return join(this.root, String(pid), 'ns', 'net');
  }
}

/** A cgroup directory with these PIDs in its cgroup.procs. */
export function cgroupWith(path: string, pids: readonly number[]): string {
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'cgroup.procs'), pids.map((pid) => `${pid}\n`).join(''));
  return path;
}
