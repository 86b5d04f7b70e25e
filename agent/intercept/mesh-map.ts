// Which pods are captured: the meshed_cgroups map (cgroup id → capture flags) that connect4/6 read,
// per-pod counters the programs add to, and the excluded destination ports. Meshing a running pod is
// a map update; nothing restarts.
import { describeError, WeftError } from '../errors.ts';
import type { AbiCodecs, PodCounters, PodPolicy } from './abi.ts';
import type { NativePrograms } from './addon.ts';
import { isNativeError } from './addon.ts';

export class MeshMap {
  readonly #native: NativePrograms;
  readonly #codecs: AbiCodecs;

  constructor(native: NativePrograms, codecs: AbiCodecs) {
    this.#native = native;
    this.#codecs = codecs;
  }

  /**
   * Captures the pod whose cgroup (or an ancestor of the connecting task's cgroup) is `cgroupId`.
   * Counters are created first, so the pod's first captured connection is counted; they are kept
   * when an already meshed pod only changes flags.
   */
  meshPod(cgroupId: bigint, flags: PodPolicy): void {
    const key = this.#codecs.u64.encode(cgroupId);
    const hadCounters = this.#native.mapLookup('pod_counters', key) !== null;
    try {
      if (!hadCounters) this.#native.mapUpdate('pod_counters', key, this.#codecs.podCounters.encode({ captured: 0n, bypassed: 0n, failed: 0n }));
      this.#native.mapUpdate('meshed_cgroups', key, this.#codecs.podPolicy.encode(flags));
    } catch (error) {
      if (!hadCounters) this.#native.mapDelete('pod_counters', key);
      throw mapError(error, `could not mesh cgroup ${cgroupId}`);
    }
  }

  /** Stops capturing the pod (first) and drops its counters. Returns false if it was not meshed. */
  unmeshPod(cgroupId: bigint): boolean {
    const key = this.#codecs.u64.encode(cgroupId);
    const was = this.#native.mapDelete('meshed_cgroups', key);
    this.#native.mapDelete('pod_counters', key);
    return was;
  }

  isMeshed(cgroupId: bigint): PodPolicy | undefined {
    const value = this.#native.mapLookup('meshed_cgroups', this.#codecs.u64.encode(cgroupId));
    return value === null ? undefined : this.#codecs.podPolicy.decode(value);
  }

  meshedPods(): Map<bigint, PodPolicy> {
    const out = new Map<bigint, PodPolicy>();
    for (const [key, value] of this.#native.mapEntries('meshed_cgroups')) out.set(this.#codecs.u64.decode(key), this.#codecs.podPolicy.decode(value));
    return out;
  }

  counters(cgroupId: bigint): PodCounters | undefined {
    const value = this.#native.mapLookup('pod_counters', this.#codecs.u64.encode(cgroupId));
    return value === null ? undefined : this.#codecs.podCounters.decode(value);
  }

  allCounters(): Map<bigint, PodCounters> {
    const out = new Map<bigint, PodCounters>();
    for (const [key, value] of this.#native.mapEntries('pod_counters')) out.set(this.#codecs.u64.decode(key), this.#codecs.podCounters.decode(value));
    return out;
  }

  /** Replaces the set of destination ports connect4/6 never capture (added before removed, so no port is briefly open). */
  setExcludedPorts(ports: Iterable<number>): void {
    const wanted = new Set<number>();
    for (const port of ports) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new WeftError('WEFT_E_INTERCEPT_OPTIONS', `excluded port ${port} is not 1..65535`);
      wanted.add(port);
    }
    const limit = this.#codecs.constants.maxExcludedPorts;
    if (wanted.size > limit) throw new WeftError('WEFT_E_INTERCEPT_OPTIONS', `at most ${limit} excluded ports, got ${wanted.size}`);
    const present = new Set(this.excludedPorts());
    const one = this.#codecs.u32.encode(1);
    try {
      for (const port of wanted) if (!present.has(port)) this.#native.mapUpdate('excluded_ports', this.#codecs.u32.encode(port), one);
    } catch (error) {
      throw mapError(error, 'could not write the excluded ports');
    }
    for (const port of present) if (!wanted.has(port)) this.#native.mapDelete('excluded_ports', this.#codecs.u32.encode(port));
  }

  excludedPorts(): number[] {
    return this.#native
      .mapEntries('excluded_ports')
      .map(([key]) => this.#codecs.u32.decode(key))
      .sort((a, b) => a - b);
  }
}

function mapError(error: unknown, what: string): WeftError {
  if (isNativeError(error) && error.code === 'E2BIG') {
    return new WeftError('WEFT_E_INTERCEPT_MAP_FULL', `${what}: ${describeError(error)}`, { cause: error });
  }
  return new WeftError('WEFT_E_INTERCEPT_MAP', `${what}: ${describeError(error)}`, { cause: error });
}
