// The inventory from a local file of Pods and Namespaces (the zero-config source until the
// Kubernetes API is wired, and what the lab and the demo write). The file is followed as it changes;
// each good read is diffed against the last good one into upsert/remove updates. A bad read (syntax,
// a malformed object, a duplicate, the file gone) is an `error` update naming the file, place and
// field, and the last good set stays: a half-saved file must not unmesh a node.
import { isDeepStrictEqual } from 'node:util';
import { WeftError } from '../errors.ts';
import type { Clock } from '../time/clock.ts';
import { systemClock } from '../time/clock.ts';
import type { RawObject } from './object-file.ts';
import { describeLocation, objectError, parseObjectFile } from './object-file.ts';
import { namespaceFromObject, podFromObject } from './objects.ts';
import type {
  InventoryListener,
  InventorySnapshot,
  InventorySource,
  InventorySourceStatus,
  InventoryUpdate,
  NamespaceInfo,
  PodInfo,
} from './types.ts';
import { podKey } from './types.ts';
import type { FileRead, FileWatchParams } from './watched-file.ts';
import { fileWatchParams, WatchedFile } from './watched-file.ts';

export interface InventoryParseOptions {
  /** When set, pods whose spec.nodeName names another node are left out (pods without one stay). */
  readonly nodeName?: string | undefined;
}

export type InventoryParse =
  | { readonly kind: 'ok'; readonly snapshot: InventorySnapshot; readonly otherNodePods: number }
  | { readonly kind: 'error'; readonly error: WeftError };

/** Reads an inventory file's text into pods and namespaces, or the first problem with it. Pure. */
export function parseInventory(file: string, text: string, options: InventoryParseOptions = {}): InventoryParse {
  const parsed = parseObjectFile(file, text, 'INVENTORY');
  if (parsed.kind === 'error') return parsed;
  const pods: PodInfo[] = [];
  const namespaces: NamespaceInfo[] = [];
  const podsSeen = new Map<string, RawObject>();
  const namesSeen = new Map<string, RawObject>();
  const namespacesSeen = new Map<string, RawObject>();
  let otherNodePods = 0;
  for (const object of parsed.objects) {
    if (object.kind === 'Pod') {
      const result = podFromObject(object.value);
      if (result.kind === 'invalid') return { kind: 'error', error: objectError('INVENTORY', object, result.issues) };
      const pod = result.value;
      const duplicate = podsSeen.get(podKey(pod)) ?? namesSeen.get(`${pod.namespace}/${pod.name}`);
      if (duplicate !== undefined) return { kind: 'error', error: duplicateError(`pod ${pod.namespace}/${pod.name}`, duplicate, object) };
      podsSeen.set(podKey(pod), object);
      namesSeen.set(`${pod.namespace}/${pod.name}`, object);
      if (options.nodeName !== undefined && pod.nodeName !== undefined && pod.nodeName !== options.nodeName) {
        otherNodePods += 1;
        continue;
      }
      pods.push(pod);
    } else if (object.kind === 'Namespace') {
      const result = namespaceFromObject(object.value);
      if (result.kind === 'invalid') return { kind: 'error', error: objectError('INVENTORY', object, result.issues) };
      const namespace = result.value;
      const duplicate = namespacesSeen.get(namespace.name);
      if (duplicate !== undefined) return { kind: 'error', error: duplicateError(`namespace ${namespace.name}`, duplicate, object) };
      namespacesSeen.set(namespace.name, object);
      namespaces.push(namespace);
    }
    // Other kinds (Services, EndpointSlices, …) belong to other readers of the same file.
  }
  return { kind: 'ok', snapshot: { pods, namespaces }, otherNodePods };
}

/** The updates that turn `prev` into `next`: namespaces first, so policy sees a pod's namespace with it. Pure. */
export function diffInventory(prev: InventorySnapshot, next: InventorySnapshot): InventoryUpdate[] {
  const updates: InventoryUpdate[] = [];
  const oldNamespaces = new Map(prev.namespaces.map((ns) => [ns.name, ns]));
  const newNamespaces = new Map(next.namespaces.map((ns) => [ns.name, ns]));
  for (const [name, ns] of newNamespaces) {
    if (!isDeepStrictEqual(oldNamespaces.get(name), ns)) updates.push({ kind: 'namespace-upsert', namespace: ns });
  }
  const oldPods = new Map(prev.pods.map((pod) => [podKey(pod), pod]));
  const newPods = new Map(next.pods.map((pod) => [podKey(pod), pod]));
  for (const [key, pod] of newPods) {
    if (!isDeepStrictEqual(oldPods.get(key), pod)) updates.push({ kind: 'upsert', pod });
  }
  for (const key of oldPods.keys()) if (!newPods.has(key)) updates.push({ kind: 'remove', key });
  for (const name of oldNamespaces.keys()) if (!newNamespaces.has(name)) updates.push({ kind: 'namespace-remove', name });
  return updates;
}

export interface InventoryFileOptions extends InventoryParseOptions {
  readonly path: string;
}

export interface InventoryFileDeps {
  readonly clock: Clock;
  /** Wall-clock time for status timestamps. */
  readonly wallClock: () => Date;
}

export class InventoryFileSource implements InventorySource {
  readonly id: string;
  readonly #options: InventoryFileOptions;
  readonly #params: FileWatchParams;
  readonly #deps: InventoryFileDeps;
  #file: WatchedFile | undefined;
  #listener: InventoryListener | undefined;
  #good: InventorySnapshot | undefined;
  #goodAt: Date | undefined;
  #otherNodePods = 0;
  #error: { error: WeftError; since: Date } | undefined;
  #closed = false;

  constructor(
    options: InventoryFileOptions,
    params: FileWatchParams = fileWatchParams,
    deps: InventoryFileDeps = { clock: systemClock, wallClock: () => new Date() },
  ) {
    this.id = `file:${options.path}`;
    this.#options = options;
    this.#params = params;
    this.#deps = deps;
  }

  get synced(): boolean {
    return this.#good !== undefined;
  }

  start(listener: InventoryListener): void {
    if (this.#file !== undefined || this.#closed) {
      throw new WeftError('WEFT_E_INVENTORY_STARTED', `inventory source ${this.id} was already started or is closed; make a new one`);
    }
    this.#listener = listener;
    this.#file = new WatchedFile(this.#options.path, this.#params, { clock: this.#deps.clock, area: 'INVENTORY' }, (read) => this.#onRead(read));
    this.#file.start();
  }

  /** Reads the file again now, whatever its stat says. */
  refresh(): void {
    this.#file?.refresh();
  }

  status(): InventorySourceStatus {
    const error = this.#error;
    return {
      source: this.id,
      synced: this.synced,
      pods: this.#good?.pods.length ?? 0,
      namespaces: this.#good?.namespaces.length ?? 0,
      lastGoodAt: this.#goodAt?.toISOString(),
      error: error === undefined ? undefined : { code: error.error.code, message: error.error.message, since: error.since.toISOString() },
      otherNodePods: this.#otherNodePods,
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#file?.close();
    this.#listener = undefined;
    return Promise.resolve();
  }

  #onRead(read: FileRead): void {
    if (read.kind !== 'content') {
      this.#fail(read.error);
      return;
    }
    const parsed = parseInventory(this.#options.path, read.text, this.#options);
    if (parsed.kind === 'error') {
      this.#fail(parsed.error);
      return;
    }
    const previous = this.#good;
    this.#good = parsed.snapshot;
    this.#goodAt = this.#deps.wallClock();
    this.#otherNodePods = parsed.otherNodePods;
    this.#error = undefined;
    if (previous === undefined) {
      this.#emit({ kind: 'reset', pods: parsed.snapshot.pods, namespaces: parsed.snapshot.namespaces });
      return;
    }
    for (const update of diffInventory(previous, parsed.snapshot)) this.#emit(update);
  }

  #fail(error: WeftError): void {
    // Keep the first time this failure was seen: "failing since" is what an operator needs.
    if (this.#error?.error.message !== error.message) this.#error = { error, since: this.#deps.wallClock() };
    this.#emit({ kind: 'error', error });
  }

  #emit(update: InventoryUpdate): void {
    if (this.#closed) return;
    this.#listener?.(update);
  }
}

function duplicateError(what: string, first: RawObject, second: RawObject): WeftError {
  return new WeftError(
    'WEFT_E_INVENTORY_FILE_DUPLICATE',
    `${describeLocation(second.location)}: ${what} is listed twice (first at ${describeLocation(first.location)}); keep one; the last good contents stay in use until the file is fixed`,
  );
}
