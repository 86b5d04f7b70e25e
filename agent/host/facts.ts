// Facts about the host, for `weft check` and /status: what a bug report needs first (distro,
// kernel, CPU, memory, Node). Gathered once through systeminformation (it knows each distro's
// files) and cached. Never throws: a fact that cannot be read is "unknown" and says why.
import { release as osRelease } from 'node:os';
import { cpu, mem, osInfo } from 'systeminformation';

export type Fact<T> = T | 'unknown';

export interface HostFacts {
  readonly hostname: Fact<string>;
  readonly os: { readonly distro: Fact<string>; readonly release: Fact<string>; readonly kernel: Fact<string> };
  readonly cpu: { readonly cores: Fact<number>; readonly physicalCores: Fact<number>; readonly model: Fact<string> };
  readonly memory: { readonly totalBytes: Fact<number> };
  /** process.version, e.g. "v24.9.0". */
  readonly node: string;
  /** os.release(): the running kernel as uname reports it. */
  readonly osRelease: string;
  /** For each group of facts that could not be read: why. */
  readonly unknown: Readonly<Record<string, string>>;
}

/** The subset of systeminformation used here, so tests can feed other answers. */
export interface HostFactSource {
  osInfo(): Promise<{ readonly distro: string; readonly release: string; readonly kernel: string; readonly hostname: string }>;
  cpu(): Promise<{ readonly cores: number; readonly physicalCores: number; readonly manufacturer: string; readonly brand: string }>;
  mem(): Promise<{ readonly total: number }>;
}

export const systemFactSource: HostFactSource = { osInfo, cpu, mem };

/** systeminformation shells out for some facts; a hung command must not hang `weft check`. */
export const hostFactsTimeoutMs = 5_000;

export async function collectHostFacts(source: HostFactSource = systemFactSource, timeoutMs = hostFactsTimeoutMs): Promise<HostFacts> {
  const unknown: Record<string, string> = {};
  const read = async <T>(group: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await withTimeout(fn(), timeoutMs, group);
    } catch (error) {
      unknown[group] = error instanceof Error ? error.message : String(error);
      return undefined;
    }
  };
  const [os, cpuInfo, memory] = await Promise.all([read('os', () => source.osInfo()), read('cpu', () => source.cpu()), read('memory', () => source.mem())]);
  return {
    hostname: text(os?.hostname),
    os: { distro: text(os?.distro), release: text(os?.release), kernel: text(os?.kernel) },
    cpu: {
      cores: count(cpuInfo?.cores),
      physicalCores: count(cpuInfo?.physicalCores),
      model: text([cpuInfo?.manufacturer, cpuInfo?.brand].filter((part) => part !== undefined && part.trim() !== '').join(' ')),
    },
    memory: { totalBytes: count(memory?.total) },
    node: process.version,
    osRelease: osRelease(),
    unknown,
  };
}

let cached: Promise<HostFacts> | undefined;
let settled: HostFacts | undefined;

/** The host facts, collected on first use and cached for the life of the process. */
export function hostFacts(): Promise<HostFacts> {
  cached ??= collectHostFacts().then((facts) => {
    settled = facts;
    return facts;
  });
  return cached;
}

/** The cached facts if collection has finished (for synchronous status pages), else undefined. */
export function cachedHostFacts(): HostFacts | undefined {
  return settled;
}

// systeminformation reports a fact it could not read as "" or 0, not as an error.
function text(value: string | undefined): Fact<string> {
  return value === undefined || value.trim() === '' ? 'unknown' : value.trim();
}

function count(value: number | undefined): Fact<number> {
  return value === undefined || !Number.isFinite(value) || value <= 0 ? 'unknown' : value;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} facts took longer than ${ms} ms`)), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
