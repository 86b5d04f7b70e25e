// The native addon (native/, built by `npm run setup` into build/Release/weft_native.node) and its
// whole surface as types. This folder is the only TypeScript that loads it; everything else goes
// through the Interceptor in index.ts.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { WeftError } from '../errors.ts';

export interface AbiField {
  readonly offset: number;
  readonly size: number;
}

export interface AbiStruct {
  readonly size: number;
  readonly fields: Readonly<Record<string, AbiField>>;
}

/** offsetof/sizeof of every struct in bpf/include/weft_abi.h, as the compiler laid them out. */
export interface AbiDescription {
  readonly version: number;
  readonly structs: Readonly<Record<string, AbiStruct>>;
  readonly constants: Readonly<Record<string, number>>;
}

export type MapName = 'meshed_cgroups' | 'pod_counters' | 'excluded_ports' | 'agent_state' | 'conn_pending' | 'orig_dst' | 'sock_origin';

export interface LoadOptions {
  /** Absolute path on bpffs; maps and programs are pinned here (links are not). */
  readonly pinDir: string;
  /** The pods' cgroup root (cgroup2), where all three programs attach. */
  readonly cgroupPath: string;
  /** The agent's own cgroup id: tasks in it are never captured. 0n for none. */
  readonly agentCgroupId: bigint;
  readonly redirectPort: number;
  readonly heartbeatTimeoutNs: bigint;
  /** Cgroup levels walked from the root (1..32, default 32). */
  readonly maxCgroupDepth?: number;
}

export interface Attachment {
  readonly program: string;
  /** libbpf's name: cgroup_inet4_connect, cgroup_inet6_connect, cgroup_sock_ops. */
  readonly attachType: string;
  readonly cgroupPath: string;
  readonly programId: number;
  readonly linkId: number;
}

/** One loaded and attached set of programs. Every method throws (code EBADF) after close(). */
export interface NativePrograms {
  /** BPF_ANY. Key and value must have the map's sizes. A full map throws with code E2BIG. */
  mapUpdate(map: MapName, key: Buffer, value: Buffer): void;
  mapLookup(map: MapName, key: Buffer): Buffer | null;
  /** false if the key was not there. */
  mapDelete(map: MapName, key: Buffer): boolean;
  mapEntries(map: MapName): Array<[Buffer, Buffer]>;
  attachments(): Attachment[];
  /** Idempotent: destroys the links (detaches), unpins everything it pinned, removes pinDir. */
  close(): void;
}

export interface SocketSpec {
  readonly family: 4 | 6;
  readonly role: 'listen' | 'connect';
  /** Required to listen; for connect, an optional source address to bind. */
  readonly address?: string;
  readonly port?: number;
  readonly backlog?: number;
}

export type ProgramTypeName = 'cgroup_sock_addr' | 'sock_ops' | 'sk_msg' | 'cgroup_sockopt' | 'sk_skb';
export type MapTypeName = 'hash' | 'lru_hash' | 'array' | 'sockhash';

/** What abiDescribe returns: each field read through the C struct (u64 → bigint, arrays → number[]). */
export type AbiDecoded = Record<string, bigint | number | number[]>;

/**
 * Errors the addon throws are plain Errors with these fields; `message` says what to do
 * ("setns(/proc/42/ns/net): EPERM: the agent needs CAP_SYS_ADMIN; run as root").
 */
export interface NativeError extends Error {
  readonly errno: number;
  /** 'EPERM', 'E2BIG', … (ERR_INVALID_ARG_VALUE for bad arguments, with no errno). */
  readonly code: string;
  /** The call that failed: 'setns', 'bpf_object__load', 'bpf_map_update_elem', … */
  readonly op: string;
}

export interface NativeAddon {
  readonly abi: AbiDescription;
  /** Opens the embedded skeleton, sets rodata, loads, pins maps+programs under pinDir, attaches links. */
  load(options: LoadOptions): NativePrograms;
  /** Removes a dead agent's pins and the dir itself; refuses (ENOTDIR) anything not on bpffs. No-op if absent. */
  removePins(pinDir: string): void;
  /** statfs magic is BPF_FS_MAGIC (false if the path does not exist). */
  isBpffs(path: string): boolean;
  /** mkdir -p + mount -t bpf (mode 0700); no-op if already bpffs. */
  mountBpffs(path: string): void;
  /** setns → socket (→ bind → listen) → setns back, in one call; an fd with O_NONBLOCK|O_CLOEXEC. */
  openSocketInNetns(netnsPath: string, spec: SocketSpec): number;
  netnsCookie(netnsPath: string): bigint;
  /** getsockopt(SO_NETNS_COOKIE). */
  socketNetnsCookie(fd: number): bigint;
  closeFd(fd: number): void;
  /** clock_gettime(CLOCK_MONOTONIC) in ns: the clock bpf_ktime_get_ns() reads. */
  monotonicNs(): bigint;
  probeProgramType(type: ProgramTypeName): boolean;
  probeMapType(type: MapTypeName): boolean;
  abiDescribe(struct: string, bytes: Buffer): AbiDecoded;
}

export const ADDON_PATH = join(import.meta.dirname, '..', '..', 'build', 'Release', 'weft_native.node');

let loaded: NativeAddon | undefined;

/** The addon, loaded once. Throws WEFT_E_ADDON_MISSING (with the fix) if it was not built. */
export function nativeAddon(): NativeAddon {
  if (loaded !== undefined) return loaded;
  if (!existsSync(ADDON_PATH)) {
    throw new WeftError(
      'WEFT_E_ADDON_MISSING',
      `the native addon is not built (no ${ADDON_PATH}); run \`npm run setup\` (needs clang, libbpf-dev, bpftool, cmake)`,
    );
  }
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (error) {
    throw new WeftError(
      'WEFT_E_ADDON_MISSING',
      `the native addon ${ADDON_PATH} did not load; rebuild it with \`npm run build\` (is libbpf1 installed?)`,
      { cause: error },
    );
  }
  return loaded;
}

/** Narrows an unknown thrown value to the addon's error shape. */
export function isNativeError(value: unknown): value is NativeError {
  return value instanceof Error && typeof (value as Partial<NativeError>).code === 'string' && typeof (value as Partial<NativeError>).op === 'string';
}
