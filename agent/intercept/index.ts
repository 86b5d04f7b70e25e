// The Interceptor: what the rest of the agent uses of the kernel side. It owns the programs'
// lifecycle, the mesh map, original destinations and in-pod socket factories; nothing outside
// agent/intercept/ touches the addon.
import { describeError, WeftError } from '../errors.ts';
import { createAbiCodecs } from './abi.ts';
import type { IpFamily, PodCounters, PodPolicy } from './abi.ts';
import type { Attachment, MapTypeName, NativeAddon, ProgramTypeName } from './addon.ts';
import { nativeAddon } from './addon.ts';
import { MeshMap } from './mesh-map.ts';
import { OrigDstTable } from './orig-dst.ts';
import type { OriginalDestination } from './orig-dst.ts';
import { startPrograms } from './programs.ts';
import type { LogFn, ProgramsOptions } from './programs.ts';
import { inPodSocketFactory } from './socket-factory.ts';
import type { InPodSocketFactory } from './socket-factory.ts';

export type { IpFamily, PodCounters, PodPolicy } from './abi.ts';
export type { Attachment, MapTypeName, ProgramTypeName } from './addon.ts';
export type { OriginalDestination } from './orig-dst.ts';
export type { LogFn, LogLevel } from './programs.ts';
export type { ConnectSpec, InPodSocketFactory, ListenSpec, SocketFactory } from './socket-factory.ts';
export { hostSocketFactory, inPodSocketFactory } from './socket-factory.ts';
export { formatIp, parseIp } from './abi.ts';

export interface InterceptorOptions extends ProgramsOptions {
  /** Destination ports never captured (set at start; setExcludedPorts replaces them later). */
  readonly excludedPorts?: readonly number[];
}

export interface InterceptorDeps {
  readonly log: LogFn;
  /** Tests may pass the addon; the agent lets it load build/Release/weft_native.node. */
  readonly addon?: NativeAddon;
}

export interface Interceptor {
  meshPod(cgroupId: bigint, flags: PodPolicy): void;
  /** false if the pod was not meshed. */
  unmeshPod(cgroupId: bigint): boolean;
  counters(cgroupId: bigint): PodCounters | undefined;
  allCounters(): Map<bigint, PodCounters>;
  setExcludedPorts(ports: Iterable<number>): void;
  /** Consumes the record: a second call for the same connection answers undefined. */
  originalDestination(netnsCookie: bigint, acceptFamily: IpFamily, clientPort: number): OriginalDestination | undefined;
  /** Sockets inside the pod's netns; one factory per call (cheap: one setns round trip for the cookie). */
  socketFactoryFor(netnsPath: string): InPodSocketFactory;
  attachments(): Attachment[];
  /** The cgroup excluded as the agent's own (0n: none). */
  readonly agentCgroupId: bigint;
  /** Detaches and unpins; idempotent. Unmesh pods and close their listeners first. */
  close(): void;
}

/**
 * Mounts bpffs if needed, removes a dead agent's pins, loads and attaches the programs at the pods
 * root, starts the heartbeat. Throws WeftError WEFT_E_ADDON_MISSING / WEFT_E_INTERCEPT_* saying what to do.
 */
export function startInterceptor(options: InterceptorOptions, deps: InterceptorDeps): Interceptor {
  const addon = deps.addon ?? nativeAddon();
  const codecs = createAbiCodecs(addon.abi);
  const programs = startPrograms(options, { addon, codecs, log: deps.log });
  const mesh = new MeshMap(programs.native, codecs);
  const origDst = new OrigDstTable(programs.native, codecs);
  try {
    if (options.excludedPorts !== undefined) mesh.setExcludedPorts(options.excludedPorts);
  } catch (error) {
    programs.close();
    throw error;
  }
  let closed = false;
  const open = (what: string): void => {
    if (closed) throw new WeftError('WEFT_E_INTERCEPT_CLOSED', `${what}: the interceptor is closed`);
  };
  return {
    agentCgroupId: programs.agentCgroupId,
    meshPod(cgroupId, flags) {
      open('meshPod');
      mesh.meshPod(cgroupId, flags);
      deps.log('debug', 'pod meshed', { cgroupId, v4: flags.v4, v6: flags.v6 });
    },
    unmeshPod(cgroupId) {
      open('unmeshPod');
      const was = mesh.unmeshPod(cgroupId);
      deps.log('debug', 'pod unmeshed', { cgroupId, wasMeshed: was });
      return was;
    },
    counters(cgroupId) {
      open('counters');
      return mesh.counters(cgroupId);
    },
    allCounters() {
      open('allCounters');
      return mesh.allCounters();
    },
    setExcludedPorts(ports) {
      open('setExcludedPorts');
      mesh.setExcludedPorts(ports);
    },
    originalDestination(netnsCookie, acceptFamily, clientPort) {
      open('originalDestination');
      return origDst.take(netnsCookie, acceptFamily, clientPort);
    },
    socketFactoryFor(netnsPath) {
      return inPodSocketFactory(netnsPath, addon);
    },
    attachments() {
      return closed ? [] : programs.attachments();
    },
    close() {
      if (closed) return;
      closed = true;
      programs.close();
    },
  };
}

export interface KernelProbe {
  readonly programTypes: Readonly<Record<ProgramTypeName, boolean>>;
  readonly mapTypes: Readonly<Record<MapTypeName, boolean>>;
}

const PROGRAM_TYPES: readonly ProgramTypeName[] = ['cgroup_sock_addr', 'sock_ops', 'sk_msg', 'cgroup_sockopt', 'sk_skb'];
const MAP_TYPES: readonly MapTypeName[] = ['hash', 'lru_hash', 'array', 'sockhash'];

/** For `weft check`: whether this kernel loads each program and map type weft uses. Throws WEFT_E_ADDON_MISSING without the addon. */
export function probeKernel(addon: NativeAddon = nativeAddon()): KernelProbe {
  const probe = <T extends string>(names: readonly T[], fn: (name: T) => boolean): Record<T, boolean> => {
    const out = {} as Record<T, boolean>;
    for (const name of names) {
      try {
        out[name] = fn(name);
      } catch (error) {
        throw new WeftError('WEFT_E_INTERCEPT_PROBE', `probing ${name} failed: ${describeError(error)}`, { cause: error });
      }
    }
    return out;
  };
  return {
    programTypes: probe(PROGRAM_TYPES, (name) => addon.probeProgramType(name)),
    mapTypes: probe(MAP_TYPES, (name) => addon.probeMapType(name)),
  };
}
