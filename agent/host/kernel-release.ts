// Kernel versions from `uname -r` text (os.release()), which distributions decorate freely:
// "6.18.44-fc-v669", "5.15.0-91-generic", "6.1.0-18-amd64", "4.18.0-513.el8.x86_64". Only the
// leading major.minor[.patch] is meaningful for feature checks.

export interface KernelVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export function parseKernelRelease(release: string): KernelVersion | undefined {
  const match = /^\s*(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?(?![\d])/.exec(release);
  if (match === null) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: match[3] === undefined ? 0 : Number(match[3]) };
}

/** Negative when a < b, zero when equal, positive when a > b. */
export function compareKernelVersions(a: KernelVersion, b: KernelVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function formatKernelVersion(version: KernelVersion): string {
  return `${version.major}.${version.minor}.${version.patch}`;
}

/**
 * The oldest kernel with everything weft uses: cgroup connect4/6 with bpf_link attachment (5.7),
 * CAP_BPF (5.8), bpf_get_netns_cookie in sock_ops (5.15), on a long-term release line.
 */
export const recommendedKernel: KernelVersion = { major: 5, minor: 15, patch: 0 };
