// The inventory from a local file of Pods and Namespaces (the zero-config source until the
// Kubernetes API is wired, and what the lab and the demo write). The file is followed as it changes;
// each good read is diffed against the last good one into upsert/remove updates. A bad read (syntax,
// a malformed object, a duplicate, the file gone) is an `error` update naming the file, place and
// field, and the last good set stays: a half-saved file must not unmesh a node.
import { isIP } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { WeftError } from '../errors.ts';
import type { Clock } from '../time/clock.ts';
import { systemClock } from '../time/clock.ts';
import type { RawObject } from './object-file.ts';
import { describeLocation, objectError, parseObjectFile } from './object-file.ts';
import type {
  InventoryListener,
  InventorySnapshot,
  InventorySource,
  InventorySourceStatus,
  InventoryUpdate,
  NamespaceInfo,
  PodInfo,
} from './types.ts';
import { POD_PHASES, podKey, QOS_CLASSES } from './types.ts';
import type { FileRead, FileWatchParams } from './watched-file.ts';
import { fileWatchParams, WatchedFile } from './watched-file.ts';

// Kubernetes writes UIDs as lower-case UUIDs; the check also keeps path separators out of the
// cgroup names built from them.
const UID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const stringMap = z.record(z.string(), z.string()).nullish();
const ip = z.string().refine((value) => isIP(value) !== 0, { error: 'expected an IPv4 or IPv6 address' });

const podSchema = z.object({
  metadata: z.object({
    // A manifest without a namespace means `default`, as kubectl reads it.
    namespace: z.string().min(1).nullish(),
    name: z.string().min(1, { error: 'required' }),
    uid: z.string().regex(UID, { error: 'expected a UUID such as the API server assigns' }).nullish(),
    labels: stringMap,
    annotations: stringMap,
  }),
  spec: z
    .object({
      nodeName: z.string().min(1).nullish(),
      hostNetwork: z.boolean().nullish(),
    })
    .nullish(),
  status: z
    .object({
      phase: z.enum(POD_PHASES, { error: `expected one of ${POD_PHASES.join(', ')}` }).nullish(),
      podIP: ip.nullish(),
      podIPs: z.array(z.object({ ip })).nullish(),
      qosClass: z.enum(QOS_CLASSES, { error: `expected one of ${QOS_CLASSES.join(', ')}` }).nullish(),
    })
    .nullish(),
});

const namespaceSchema = z.object({
  metadata: z.object({
    name: z.string().min(1, { error: 'required' }),
    labels: stringMap,
    annotations: stringMap,
  }),
});

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
      const result = podSchema.safeParse(object.value);
      if (!result.success) return { kind: 'error', error: objectError('INVENTORY', object, result.error.issues) };
      const pod = toPodInfo(result.data);
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
      const result = namespaceSchema.safeParse(object.value);
      if (!result.success) return { kind: 'error', error: objectError('INVENTORY', object, result.error.issues) };
      const metadata = result.data.metadata;
      const duplicate = namespacesSeen.get(metadata.name);
      if (duplicate !== undefined) return { kind: 'error', error: duplicateError(`namespace ${metadata.name}`, duplicate, object) };
      namespacesSeen.set(metadata.name, object);
      namespaces.push({ name: metadata.name, labels: { ...metadata.labels }, annotations: { ...metadata.annotations } });
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

type PodObject = z.infer<typeof podSchema>;

function toPodInfo(data: PodObject): PodInfo {
  const { metadata, spec, status } = data;
  const ips = status?.podIPs?.map((entry) => entry.ip) ?? (status?.podIP === undefined || status.podIP === null ? [] : [status.podIP]);
  return {
    namespace: metadata.namespace ?? 'default',
    name: metadata.name,
    ...(metadata.uid === undefined || metadata.uid === null ? {} : { uid: metadata.uid }),
    labels: { ...metadata.labels },
    annotations: { ...metadata.annotations },
    podIPs: ips,
    ...(spec?.nodeName === undefined || spec.nodeName === null ? {} : { nodeName: spec.nodeName }),
    ...(status?.phase === undefined || status.phase === null ? {} : { phase: status.phase }),
    hostNetwork: spec?.hostNetwork === true,
    ...(status?.qosClass === undefined || status.qosClass === null ? {} : { qosClass: status.qosClass }),
  };
}

function duplicateError(what: string, first: RawObject, second: RawObject): WeftError {
  return new WeftError(
    'WEFT_E_INVENTORY_FILE_DUPLICATE',
    `${describeLocation(second.location)}: ${what} is listed twice (first at ${describeLocation(first.location)}); keep one; the last good contents stay in use until the file is fixed`,
  );
}
