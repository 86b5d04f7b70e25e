// `weft check`: can this host run the agent? Each probe answers one question with a result a
// person can act on: what was found, and for every failure the command or setting that fixes it.
// Interception that silently does nothing is the complaint to beat (merbridge#323, istio#53843),
// so every precondition of capture is probed here rather than discovered by a quiet data path.
// File reads go through injected deps, so each check is tested against fake hosts.
import { readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { posix } from 'node:path';
import { describeError } from '../errors.ts';
import type { WeftConfig } from '../config/schema.ts';
import { capabilities, capabilityName, effectiveCapabilities } from './capabilities.ts';
import { compareKernelVersions, formatKernelVersion, parseKernelRelease, recommendedKernel } from './kernel-release.ts';
import { mountAt, parseFilesystems, parseMounts } from './mounts.ts';
import type { MountEntry } from './mounts.ts';
import { resolvePodsRoot } from './pods-root.ts';

export interface CheckResult {
  /** Short stable id, kebab-case: `kernel`, `bpffs`, `cap-bpf`, … */
  readonly name: string;
  readonly ok: boolean;
  /** What was found (also on success, so the output documents the host). */
  readonly detail: string;
  /** What to do; present on every failure. */
  readonly fix?: string;
}

/**
 * Program and map type probing is the native addon's (only agent/intercept/ may load it), so it
 * comes in through this seam. Keys are libbpf's type names (`cgroup_sock_addr`, `sockhash`, …).
 */
export interface KernelFeatureProbe {
  programTypes(): Record<string, boolean>;
  mapTypes(): Record<string, boolean>;
}

export type KernelProbeOutcome = { readonly kind: 'ok'; readonly probe: KernelFeatureProbe } | { readonly kind: 'unavailable'; readonly reason: string };

/** BPF program types weft loads, with what each is for (shown when one is missing). */
export const requiredProgramTypes: Readonly<Record<string, string>> = {
  cgroup_sock_addr: 'cgroup/connect4 and connect6: redirect meshed pods\' connections',
  sock_ops: 'record each captured connection\'s original destination',
  sk_msg: 'splice opaque TCP between sockets in the kernel',
  sk_skb: 'stream verdicts for the splice',
};

export const requiredMapTypes: Readonly<Record<string, string>> = {
  hash: 'meshed cgroups and original destinations',
  array: 'heartbeat and settings',
  lru_hash: 'original destinations of connections nobody accepted, aged out',
  sockhash: 'sockets to splice',
};

export interface HostCheckDeps {
  /** os.release() */
  readonly osRelease: () => string;
  /** File text, or undefined when it does not exist or cannot be read. */
  readonly readText: (path: string) => string | undefined;
  readonly exists: (path: string) => boolean;
  readonly isDirectory: (path: string) => boolean;
  readonly probeKernel: () => Promise<KernelProbeOutcome>;
}

export function systemCheckDeps(probeKernel: () => Promise<KernelProbeOutcome>): HostCheckDeps {
  return {
    osRelease: release,
    readText: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    exists: (path) => statSync(path, { throwIfNoEntry: false }) !== undefined,
    isDirectory: (path) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false,
    probeKernel,
  };
}

export type HostCheckConfig = Pick<WeftConfig, 'bpf' | 'cgroup'>;

export const procPaths = {
  mounts: '/proc/mounts',
  filesystems: '/proc/filesystems',
  status: '/proc/self/status',
  btf: '/sys/kernel/btf/vmlinux',
} as const;

/** All checks, in the order a person would fix them. */
export async function runHostChecks(config: HostCheckConfig, deps: HostCheckDeps): Promise<CheckResult[]> {
  const mountsText = deps.readText(procPaths.mounts);
  const mounts = mountsText === undefined ? undefined : parseMounts(mountsText);
  const statusText = deps.readText(procPaths.status);
  const caps = statusText === undefined ? undefined : effectiveCapabilities(statusText);
  const filesystemsText = deps.readText(procPaths.filesystems);
  const cgroup2 = mounts?.find((entry) => entry.type === 'cgroup2')?.mountPoint;
  return [
    checkKernel(deps.osRelease()),
    checkBtf(deps.exists(procPaths.btf)),
    checkCgroup2(mounts),
    checkBpffs(config.bpf.bpffs, {
      mounts,
      filesystems: filesystemsText === undefined ? undefined : parseFilesystems(filesystemsText),
      caps,
      isDirectory: deps.isDirectory,
    }),
    ...checkCapabilities(caps),
    checkPodsRoot(config.cgroup.podsRoot, cgroup2, deps.isDirectory),
    ...checkKernelFeatures(await deps.probeKernel()),
  ];
}

export function checkKernel(osRelease: string): CheckResult {
  const version = parseKernelRelease(osRelease);
  const wanted = `${recommendedKernel.major}.${recommendedKernel.minor}`;
  if (version === undefined) {
    return { name: 'kernel', ok: false, detail: `cannot read a version from "${osRelease}"`, fix: `run on Linux ${wanted} or later` };
  }
  if (compareKernelVersions(version, recommendedKernel) < 0) {
    return {
      name: 'kernel',
      ok: false,
      detail: `${formatKernelVersion(version)} is older than ${wanted} (needed for CAP_BPF, bpf_link cgroup attachment and netns cookies in sock_ops)`,
      fix: `upgrade the node's kernel to ${wanted} or later`,
    };
  }
  return { name: 'kernel', ok: true, detail: `${osRelease} (≥ ${wanted})` };
}

export function checkBtf(present: boolean): CheckResult {
  if (present) return { name: 'btf', ok: true, detail: `${procPaths.btf} present (CO-RE programs load without kernel headers)` };
  return {
    name: 'btf',
    ok: false,
    detail: `${procPaths.btf} is missing: the kernel was built without CONFIG_DEBUG_INFO_BTF`,
    fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default on current Debian, Ubuntu, RHEL and cloud images)',
  };
}

export function checkCgroup2(mounts: readonly MountEntry[] | undefined): CheckResult {
  if (mounts === undefined) return { name: 'cgroup2', ok: false, detail: `cannot read ${procPaths.mounts}`, fix: 'run weft check on the host, with /proc mounted' };
  const entry = mounts.find((mount) => mount.type === 'cgroup2');
  if (entry === undefined) {
    return {
      name: 'cgroup2',
      ok: false,
      detail: 'no cgroup2 file system is mounted (cgroup BPF programs need the unified hierarchy)',
      fix: 'mount it (mount -t cgroup2 none /sys/fs/cgroup/unified) or boot with systemd.unified_cgroup_hierarchy=1',
    };
  }
  return { name: 'cgroup2', ok: true, detail: `mounted at ${entry.mountPoint}` };
}

export interface BpffsFacts {
  readonly mounts: readonly MountEntry[] | undefined;
  readonly filesystems: ReadonlySet<string> | undefined;
  readonly caps: ReadonlySet<number> | undefined;
  readonly isDirectory: (path: string) => boolean;
}

/** Mounted at the configured path, or mountable by the agent at start (it mounts it if needed). */
export function checkBpffs(path: string, facts: BpffsFacts): CheckResult {
  const fix = `mount -t bpf bpf ${path}   (or: weft check --mount-bpffs)`;
  if (facts.mounts === undefined) return { name: 'bpffs', ok: false, detail: `cannot read ${procPaths.mounts}`, fix: 'run weft check on the host, with /proc mounted' };
  const entry = mountAt(facts.mounts, path);
  if (entry?.type === 'bpf') return { name: 'bpffs', ok: true, detail: `mounted at ${path}` };
  if (entry !== undefined) {
    return { name: 'bpffs', ok: false, detail: `${path} holds a ${entry.type} mount, not bpffs`, fix: `set bpf.bpffs (WEFT_BPFFS) to a bpffs mount point, or ${fix}` };
  }
  if (facts.filesystems !== undefined && !facts.filesystems.has('bpf')) {
    return { name: 'bpffs', ok: false, detail: 'the kernel has no bpf file system (not in /proc/filesystems)', fix: 'use a kernel built with CONFIG_BPF_SYSCALL=y' };
  }
  const canMount = facts.caps?.has(capabilities.CAP_SYS_ADMIN) ?? false;
  const directory = facts.isDirectory(path) || facts.isDirectory(posix.dirname(path));
  if (canMount && directory) {
    return { name: 'bpffs', ok: true, detail: `not mounted at ${path}, but mountable: the agent mounts it at start` };
  }
  const why = canMount ? `neither ${path} nor its parent directory exists` : 'mounting it needs CAP_SYS_ADMIN';
  return { name: 'bpffs', ok: false, detail: `not mounted at ${path}, and the agent could not mount it: ${why}`, fix };
}

interface CapabilityNeed {
  readonly name: string;
  readonly anyOf: readonly number[];
  readonly why: string;
}

const capabilityNeeds: readonly CapabilityNeed[] = [
  { name: 'cap-bpf', anyOf: [capabilities.CAP_BPF, capabilities.CAP_SYS_ADMIN], why: 'load BPF programs and maps' },
  { name: 'cap-net-admin', anyOf: [capabilities.CAP_NET_ADMIN], why: 'load and attach networking BPF programs to cgroups' },
  { name: 'cap-sys-ptrace', anyOf: [capabilities.CAP_SYS_PTRACE], why: 'open other processes\' /proc/<pid>/ns to find pod network namespaces' },
  { name: 'cap-sys-admin', anyOf: [capabilities.CAP_SYS_ADMIN], why: 'setns into pod network namespaces to open listeners there' },
];

export function checkCapabilities(caps: ReadonlySet<number> | undefined): CheckResult[] {
  return capabilityNeeds.map((need) => {
    const names = need.anyOf.map(capabilityName).join(' or ');
    if (caps === undefined) {
      return { name: need.name, ok: false, detail: `cannot read CapEff from ${procPaths.status}`, fix: 'run weft check on the host, with /proc mounted' };
    }
    const held = need.anyOf.find((bit) => caps.has(bit));
    if (held !== undefined) return { name: need.name, ok: true, detail: `${capabilityName(held)} held (to ${need.why})` };
    return {
      name: need.name,
      ok: false,
      detail: `${names} missing: needed to ${need.why}`,
      fix: `run as root, or add ${need.anyOf.map(capabilityName)[0] ?? names} to the container's securityContext.capabilities.add`,
    };
  });
}

export function checkPodsRoot(podsRoot: string, cgroup2Mount: string | undefined, isDirectory: (path: string) => boolean): CheckResult {
  const resolution = resolvePodsRoot(podsRoot, { cgroup2Mount, isDirectory });
  if (resolution.kind === 'found') {
    return { name: 'pods-cgroup', ok: true, detail: `${resolution.path} (${resolution.how === 'auto' ? 'found automatically' : 'configured'})` };
  }
  const fix =
    podsRoot === 'auto'
      ? 'run on a Kubernetes node whose kubelet uses cgroup v2, or set cgroup.podsRoot (WEFT_PODS_CGROUP) to the pods\' cgroup directory'
      : 'set cgroup.podsRoot (WEFT_PODS_CGROUP) to an existing directory under the cgroup2 mount, or "auto"';
  return { name: 'pods-cgroup', ok: false, detail: `no pods cgroup: ${resolution.reason}`, fix };
}

export const addonMissingFix = 'run npm run setup (builds the native addon and the BPF programs)';

export function checkKernelFeatures(outcome: KernelProbeOutcome): CheckResult[] {
  if (outcome.kind === 'unavailable') {
    return [{ name: 'bpf-features', ok: false, detail: `cannot probe BPF program and map types: ${outcome.reason}`, fix: addonMissingFix }];
  }
  return [
    featureCheck('bpf-programs', 'program', requiredProgramTypes, () => outcome.probe.programTypes()),
    featureCheck('bpf-maps', 'map', requiredMapTypes, () => outcome.probe.mapTypes()),
  ];
}

function featureCheck(name: string, kind: string, required: Readonly<Record<string, string>>, probe: () => Record<string, boolean>): CheckResult {
  let found: Record<string, boolean>;
  try {
    found = normaliseTypeNames(probe());
  } catch (error) {
    return { name, ok: false, detail: `probing ${kind} types failed: ${describeError(error)}`, fix: addonMissingFix };
  }
  const missing: string[] = [];
  const unknown: string[] = [];
  for (const type of Object.keys(required)) {
    const supported = found[type];
    if (supported === undefined) unknown.push(type);
    else if (!supported) missing.push(type);
  }
  if (missing.length === 0 && unknown.length === 0) return { name, ok: true, detail: `${Object.keys(required).join(', ')} supported` };
  const parts = [
    ...missing.map((type) => `${type} unsupported (${required[type] ?? ''})`),
    ...unknown.map((type) => `${type} not reported by the probe`),
  ];
  const fix =
    missing.length > 0
      ? `use a kernel with BPF ${kind} types ${missing.join(', ')} (Linux ${recommendedKernel.major}.${recommendedKernel.minor} or later with CONFIG_BPF_STREAM_PARSER=y and CONFIG_CGROUP_BPF=y)`
      : 'rebuild the addon (npm run build): it does not probe every type this agent needs';
  return { name, ok: false, detail: parts.join('; '), fix };
}

/** Accepts libbpf names in any case and with the kernel's BPF_PROG_TYPE_ / BPF_MAP_TYPE_ prefix. */
function normaliseTypeNames(record: Record<string, boolean>): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const [key, value] of Object.entries(record)) out[key.toLowerCase().replace(/^bpf_(prog|map)_type_/, '')] = value === true;
  return out;
}
