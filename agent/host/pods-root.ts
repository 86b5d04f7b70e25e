// Where the pods' cgroups are: the directory the connect4/6 programs attach to. `auto` looks for
// kubelet's tree under the cgroup2 mount, kubepods.slice (systemd driver) first, then kubepods
// (cgroupfs driver). A configured path must be inside the cgroup2 hierarchy, since cgroup BPF
// programs attach only to v2 cgroups.
import { posix } from 'node:path';

export type PodsRootResolution =
  | { readonly kind: 'found'; readonly path: string; readonly how: 'configured' | 'auto' }
  | { readonly kind: 'missing'; readonly reason: string; readonly tried: readonly string[] };

export interface PodsRootDeps {
  /** The cgroup2 mount point, undefined when cgroup2 is not mounted. */
  readonly cgroup2Mount: string | undefined;
  readonly isDirectory: (path: string) => boolean;
}

export const autoPodsRootDirs = ['kubepods.slice', 'kubepods'] as const;

export function resolvePodsRoot(podsRoot: string, deps: PodsRootDeps): PodsRootResolution {
  const mount = deps.cgroup2Mount;
  if (mount === undefined) return { kind: 'missing', reason: 'cgroup2 is not mounted', tried: [] };
  if (podsRoot !== 'auto') {
    if (!isWithin(podsRoot, mount)) {
      return { kind: 'missing', reason: `${podsRoot} is outside the cgroup2 hierarchy (mounted at ${mount})`, tried: [podsRoot] };
    }
    if (!deps.isDirectory(podsRoot)) return { kind: 'missing', reason: `${podsRoot} does not exist`, tried: [podsRoot] };
    return { kind: 'found', path: podsRoot, how: 'configured' };
  }
  const tried = autoPodsRootDirs.map((dir) => posix.join(mount, dir));
  const path = tried.find((candidate) => deps.isDirectory(candidate));
  if (path === undefined) return { kind: 'missing', reason: `neither ${tried.join(' nor ')} exists`, tried };
  return { kind: 'found', path, how: 'auto' };
}

export function isWithin(path: string, directory: string): boolean {
  const relative = posix.relative(directory, path);
  return relative === '' || (relative !== '..' && !relative.startsWith('../') && !posix.isAbsolute(relative));
}
