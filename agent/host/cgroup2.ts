// Where the unified (v2) cgroup hierarchy is mounted. Hosts differ (pure v2 at /sys/fs/cgroup,
// hybrid at /sys/fs/cgroup/unified), so it is always read from /proc/mounts, never assumed.
import { readFileSync } from 'node:fs';

/** Parses /proc/mounts text and returns the first cgroup2 mount point, or undefined. */
export function parseCgroup2Mount(procMounts: string): string | undefined {
  for (const line of procMounts.split('\n')) {
    const fields = line.split(' ');
    if (fields[2] === 'cgroup2' && fields[1] !== undefined) return unescapeMountPath(fields[1]);
  }
  return undefined;
}

export function findCgroup2Mount(procMountsPath = '/proc/mounts'): string | undefined {
  return parseCgroup2Mount(readFileSync(procMountsPath, 'utf8'));
}

/** /proc/mounts escapes space, tab, newline and backslash as octal (\040 etc.). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
