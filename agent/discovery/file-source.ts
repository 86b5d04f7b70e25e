// Discovery from a static file of Services and EndpointSlices: the zero-config default until the
// Kubernetes source exists, and what the demo and the lab write. The file is followed as it changes
// (see inventory/watched-file.ts); each good read becomes a new ServiceTable, and watchers get the
// endpoint changes of their target. A bad read (syntax, a malformed object, a duplicate, the file
// gone) changes nothing that is served: answers become `error` results carrying the last good
// endpoints, and watchers get no update. Discovery is advisory; a blinking file must not empty a
// balancer.
import { WeftError } from '../errors.ts';
import type { RawObject } from '../inventory/object-file.ts';
import { describeLocation, objectError, parseObjectFile } from '../inventory/object-file.ts';
import type { FileRead, FileWatchParams } from '../inventory/watched-file.ts';
import { fileWatchParams, WatchedFile } from '../inventory/watched-file.ts';
import type { Clock } from '../time/clock.ts';
import { systemClock } from '../time/clock.ts';
import { endpointSliceFromObject, serviceFromObject } from './objects.ts';
import { ServiceTable } from './service-table.ts';
import { describeTarget, lookupTarget, TableWatchers } from './table-watchers.ts';
import type {
  DiscoveryListener,
  DiscoveryResult,
  DiscoverySource,
  DiscoverySourceStatus,
  DiscoveryTarget,
  EndpointSliceInfo,
  ServiceInfo,
  SourceHealthListener,
} from './types.ts';
import { serviceKeyString } from './types.ts';

export type DiscoveryParse =
  | { readonly kind: 'ok'; readonly services: readonly ServiceInfo[]; readonly slices: readonly EndpointSliceInfo[] }
  | { readonly kind: 'error'; readonly error: WeftError };

/** Reads a discovery file's text into Services and EndpointSlices, or the first problem with it. Pure. */
export function parseDiscovery(file: string, text: string): DiscoveryParse {
  const parsed = parseObjectFile(file, text, 'DISCOVERY');
  if (parsed.kind === 'error') return parsed;
  const services: ServiceInfo[] = [];
  const slices: EndpointSliceInfo[] = [];
  const servicesSeen = new Map<string, RawObject>();
  const ipsSeen = new Map<string, { object: RawObject; service: string }>();
  const slicesSeen = new Map<string, RawObject>();
  for (const object of parsed.objects) {
    if (object.kind === 'Service') {
      const result = serviceFromObject(object.value);
      if (result.kind === 'invalid') return { kind: 'error', error: objectError('DISCOVERY', object, result.issues) };
      const service = result.value;
      const key = serviceKeyString(service);
      const duplicate = servicesSeen.get(key);
      if (duplicate !== undefined) return { kind: 'error', error: duplicateError(`service ${key} is listed twice`, duplicate, object) };
      servicesSeen.set(key, object);
      for (const ip of service.clusterIPs) {
        const owner = ipsSeen.get(ip);
        if (owner !== undefined) {
          return { kind: 'error', error: duplicateError(`cluster IP ${ip} of service ${key} is also service ${owner.service}'s`, owner.object, object) };
        }
        ipsSeen.set(ip, { object, service: key });
      }
      services.push(service);
    } else if (object.kind === 'EndpointSlice') {
      const result = endpointSliceFromObject(object.value);
      if (result.kind === 'invalid') return { kind: 'error', error: objectError('DISCOVERY', object, result.issues) };
      const key = `${result.value.namespace}/${result.value.name}`;
      const duplicate = slicesSeen.get(key);
      if (duplicate !== undefined) return { kind: 'error', error: duplicateError(`endpoint slice ${key} is listed twice`, duplicate, object) };
      slicesSeen.set(key, object);
      slices.push(result.value);
    }
    // Other kinds (Pods, Namespaces, …) belong to other readers of the same file.
  }
  return { kind: 'ok', services, slices };
}

/** The ServiceTable answer for a target, or undefined when the table does not know it. */
export interface DiscoveryFileOptions {
  readonly path: string;
}

export interface DiscoveryFileDeps {
  readonly clock: Clock;
  readonly wallClock: () => Date;
}

export class DiscoveryFileSource implements DiscoverySource {
  readonly id: string;
  readonly #path: string;
  readonly #params: FileWatchParams;
  readonly #deps: DiscoveryFileDeps;
  readonly #watchers = new TableWatchers();
  #file: WatchedFile | undefined;
  #table: ServiceTable | undefined;
  #goodAt: Date | undefined;
  #error: { error: WeftError; since: Date } | undefined;
  #closed = false;

  constructor(
    options: DiscoveryFileOptions,
    params: FileWatchParams = fileWatchParams,
    deps: DiscoveryFileDeps = { clock: systemClock, wallClock: () => new Date() },
  ) {
    this.id = `file:${options.path}`;
    this.#path = options.path;
    this.#params = params;
    this.#deps = deps;
  }

  get synced(): boolean {
    return this.#table !== undefined;
  }

  start(): void {
    if (this.#file !== undefined || this.#closed) {
      throw new WeftError('WEFT_E_DISCOVERY_STARTED', `discovery source ${this.id} was already started or is closed; make a new one`);
    }
    this.#file = new WatchedFile(this.#path, this.#params, { clock: this.#deps.clock, area: 'DISCOVERY' }, (read) => this.#onRead(read));
    this.#file.start();
  }

  /** Reads the file again now, whatever its stat says. */
  refresh(): void {
    this.#file?.refresh();
  }

  /** The last good table (empty before the first good read): for routers that look up per connection. */
  table(): ServiceTable {
    return this.#table ?? ServiceTable.empty;
  }

  /** Called with each new good table. Returns the unsubscribe. */
  onTable(listener: (table: ServiceTable) => void): () => void {
    return this.#watchers.onTable(listener);
  }

  resolve(target: DiscoveryTarget): DiscoveryResult {
    const error = this.#error?.error;
    const table = this.#table;
    if (table === undefined) {
      return error === undefined ? { kind: 'unknown', reason: `${this.#path} has not been read yet` } : { kind: 'error', error };
    }
    const match = lookupTarget(table, target);
    if (error !== undefined) return match === undefined ? { kind: 'error', error } : { kind: 'error', error, lastGood: match.endpoints };
    if (match === undefined) return { kind: 'unknown', reason: `no ${describeTarget(target)} in ${this.#path}` };
    return { kind: 'ok', endpoints: match.endpoints };
  }

  /** Called with every bad read, and once when a good read follows them. Returns the unsubscribe. */
  onHealth(listener: SourceHealthListener): () => void {
    return this.#watchers.onHealth(listener);
  }

  watch(target: DiscoveryTarget, listener: DiscoveryListener): () => void {
    return this.#watchers.watch(target, listener);
  }

  status(): DiscoverySourceStatus {
    const error = this.#error;
    return {
      source: this.id,
      synced: this.synced,
      services: this.#table?.services.length ?? 0,
      endpointSlices: this.#table?.sliceCount ?? 0,
      lastGoodAt: this.#goodAt?.toISOString(),
      error: error === undefined ? undefined : { code: error.error.code, message: error.error.message, since: error.since.toISOString() },
      watchers: this.#watchers.size,
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#file?.close();
    this.#watchers.close();
    return Promise.resolve();
  }

  #onRead(read: FileRead): void {
    if (this.#closed) return;
    if (read.kind !== 'content') {
      this.#fail(read.error);
      return;
    }
    const parsed = parseDiscovery(this.#path, read.text);
    if (parsed.kind === 'error') {
      this.#fail(parsed.error);
      return;
    }
    const table = new ServiceTable(parsed.services, parsed.slices);
    this.#table = table;
    this.#goodAt = this.#deps.wallClock();
    this.#error = undefined;
    // The table first: a recovery must never be judged against the table from before it.
    this.#watchers.publish(table);
    this.#watchers.recovered();
  }

  #fail(error: WeftError): void {
    // The newest problem, failing since the first bad read after the last good one.
    this.#error = { error, since: this.#error?.since ?? this.#deps.wallClock() };
    this.#watchers.failed(error, this.#error.since);
  }

}

function duplicateError(what: string, first: RawObject, second: RawObject): WeftError {
  return new WeftError(
    'WEFT_E_DISCOVERY_FILE_DUPLICATE',
    `${describeLocation(second.location)}: ${what} (first at ${describeLocation(first.location)}); keep one; the last good contents stay in use until the file is fixed`,
  );
}
