// Discovery from the Kubernetes API: Services and EndpointSlices of every namespace through the
// client's informers (../inventory/kubernetes-informer.ts: list, watch from the resourceVersion,
// relist on 410, restart with backoff, silent watches cut), folded into the same ServiceTable the
// file source builds. Advisory like the file source: while a list or watch is failing, answers are
// `error` results carrying the last good endpoints and watchers get nothing, so a balancer keeps its
// set. Objects are read with the file's parsers (objects.ts); a malformed one is skipped and counted,
// and one that turns malformed keeps its last good version.
import { isDeepStrictEqual } from 'node:util';
import type { KubeConfig, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';
import { z } from 'zod';
import { WeftError } from '../errors.ts';
import { kubernetesSourceId } from '../inventory/kubernetes-config.ts';
import type { KubernetesInformerHandlers, KubernetesInformerStatus, KubernetesWatchParams } from '../inventory/kubernetes-informer.ts';
import { KubernetesInformer, kubernetesWatchParams } from '../inventory/kubernetes-informer.ts';
import { describeIssues } from '../inventory/kubernetes-objects.ts';
import type { Clock } from '../time/clock.ts';
import { systemClock } from '../time/clock.ts';
import { describeTarget, lookupTarget, TableWatchers } from './table-watchers.ts';
import { endpointSliceFromObject, serviceFromObject } from './objects.ts';
import { ServiceTable } from './service-table.ts';
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

export interface KubernetesDiscoveryOptions {
  readonly kubeConfig: KubeConfig;
}

export interface KubernetesDiscoveryDeps {
  readonly clock: Clock;
  readonly wallClock: () => Date;
}

export interface KubernetesDiscoveryStatus extends DiscoverySourceStatus {
  /** Objects skipped because they did not validate (counted per event). */
  readonly malformed: number;
  readonly lastMalformed: string | undefined;
  readonly informers: readonly KubernetesInformerStatus[];
}

type Kind = 'services' | 'endpointslices';

const objectName = z.object({ metadata: z.object({ name: z.string(), namespace: z.string().nullish() }) });

export class KubernetesDiscoverySource implements DiscoverySource {
  readonly id: string;
  readonly #deps: KubernetesDiscoveryDeps;
  readonly #serviceInformer: KubernetesInformer<V1Service>;
  readonly #sliceInformer: KubernetesInformer<V1EndpointSlice>;
  /** By `namespace/name`, the last good version of each object. */
  readonly #services = new Map<string, ServiceInfo>();
  readonly #slices = new Map<string, EndpointSliceInfo>();
  readonly #listed = new Set<Kind>();
  readonly #errors = new Map<Kind, { error: WeftError; since: Date }>();
  readonly #watchers = new TableWatchers();
  #table: ServiceTable | undefined;
  #rebuildQueued = false;
  #goodAt: Date | undefined;
  #malformed = 0;
  #lastMalformed: string | undefined;
  #started = false;
  #closed = false;

  constructor(
    options: KubernetesDiscoveryOptions,
    params: KubernetesWatchParams = kubernetesWatchParams,
    deps: KubernetesDiscoveryDeps = { clock: systemClock, wallClock: () => new Date() },
  ) {
    this.id = kubernetesSourceId(options.kubeConfig);
    this.#deps = deps;
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const discovery = options.kubeConfig.makeApiClient(DiscoveryV1Api);
    this.#serviceInformer = new KubernetesInformer<V1Service>(
      options.kubeConfig,
      { what: 'services', area: 'DISCOVERY', path: '/api/v1/services', list: (httpOptions) => core.listServiceForAllNamespaces({}, httpOptions) },
      params,
      deps.clock,
      this.#handlers('services'),
    );
    this.#sliceInformer = new KubernetesInformer<V1EndpointSlice>(
      options.kubeConfig,
      {
        what: 'endpointslices',
        area: 'DISCOVERY',
        path: '/apis/discovery.k8s.io/v1/endpointslices',
        list: (httpOptions) => discovery.listEndpointSliceForAllNamespaces({}, httpOptions),
      },
      params,
      deps.clock,
      this.#handlers('endpointslices'),
    );
  }

  get synced(): boolean {
    return this.#table !== undefined;
  }

  start(): void {
    if (this.#started || this.#closed) {
      throw new WeftError('WEFT_E_DISCOVERY_STARTED', `discovery source ${this.id} was already started or is closed; make a new one`);
    }
    this.#started = true;
    this.#serviceInformer.start();
    this.#sliceInformer.start();
  }

  /** The last good table (empty before the first sync): for routers that look up per connection. */
  table(): ServiceTable {
    return this.#table ?? ServiceTable.empty;
  }

  /** Called with each new good table. Returns the unsubscribe. */
  onTable(listener: (table: ServiceTable) => void): () => void {
    return this.#watchers.onTable(listener);
  }

  resolve(target: DiscoveryTarget): DiscoveryResult {
    const error = this.#currentError()?.error;
    const table = this.#table;
    if (table === undefined) {
      return error === undefined ? { kind: 'unknown', reason: `${this.id} has not synced yet` } : { kind: 'error', error };
    }
    const match = lookupTarget(table, target);
    if (error !== undefined) return match === undefined ? { kind: 'error', error } : { kind: 'error', error, lastGood: match.endpoints };
    if (match === undefined) return { kind: 'unknown', reason: `no ${describeTarget(target)} in ${this.id}` };
    return { kind: 'ok', endpoints: match.endpoints };
  }

  /** Called with every failed list or watch, and once when both informers are healthy again. Returns the unsubscribe. */
  onHealth(listener: SourceHealthListener): () => void {
    return this.#watchers.onHealth(listener);
  }

  watch(target: DiscoveryTarget, listener: DiscoveryListener): () => void {
    return this.#watchers.watch(target, listener);
  }

  status(): KubernetesDiscoveryStatus {
    const error = this.#currentError();
    return {
      source: this.id,
      synced: this.synced,
      services: this.#table?.services.length ?? 0,
      endpointSlices: this.#table?.sliceCount ?? 0,
      lastGoodAt: this.#goodAt?.toISOString(),
      error: error === undefined ? undefined : { code: error.error.code, message: error.error.message, since: error.since.toISOString() },
      watchers: this.#watchers.size,
      malformed: this.#malformed,
      lastMalformed: this.#lastMalformed,
      informers: [this.#serviceInformer.status(), this.#sliceInformer.status()],
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watchers.close();
    await Promise.all([this.#serviceInformer.close(), this.#sliceInformer.close()]);
  }

  #currentError(): { error: WeftError; since: Date } | undefined {
    return [...this.#errors.values()].sort((a, b) => a.since.getTime() - b.since.getTime())[0];
  }

  #handlers(kind: Kind): KubernetesInformerHandlers {
    const label = kind === 'services' ? 'Service' : 'EndpointSlice';
    return {
      upsert: (object) => {
        const name = nameOf(object);
        const parsed = kind === 'services' ? serviceFromObject(object) : endpointSliceFromObject(object);
        if (parsed.kind === 'invalid') {
          this.#skip(`${label} ${name}: ${describeIssues(parsed.issues)}`);
          return;
        }
        const map: Map<string, ServiceInfo | EndpointSliceInfo> = kind === 'services' ? this.#services : this.#slices;
        if (isDeepStrictEqual(map.get(name), parsed.value)) return;
        if (kind === 'services') this.#services.set(name, parsed.value as ServiceInfo);
        else this.#slices.set(name, parsed.value as EndpointSliceInfo);
        this.#changed();
      },
      remove: (object) => {
        const deleted = kind === 'services' ? this.#services.delete(nameOf(object)) : this.#slices.delete(nameOf(object));
        if (deleted) this.#changed();
      },
      listed: () => {
        this.#listed.add(kind);
        this.#errors.delete(kind);
        if (this.#listed.size === 2) {
          // The first good set (or a relist): build now, so `synced` is true when this returns.
          this.#rebuild();
        }
        if (this.#errors.size === 0) this.#watchers.recovered();
      },
      malformed: (problem) => this.#skip(`${label}: ${problem}`),
      failed: (error) => {
        // Keep the first time this failure was seen: "failing since" is what an operator needs.
        if (this.#errors.get(kind)?.error.code !== error.code) this.#errors.set(kind, { error, since: this.#deps.wallClock() });
        const current = this.#currentError();
        if (current !== undefined && !this.#closed) this.#watchers.failed(error, current.since);
      },
      healthy: () => {
        if (this.#errors.delete(kind)) this.#goodAt = this.#deps.wallClock();
        if (this.#errors.size === 0) this.#watchers.recovered();
      },
    };
  }

  #skip(problem: string): void {
    this.#malformed += 1;
    this.#lastMalformed = problem;
  }

  /** One change; the table is rebuilt once per burst (a relist or a rollout changes many slices at once). */
  #changed(): void {
    if (this.#listed.size < 2 || this.#rebuildQueued) return;
    this.#rebuildQueued = true;
    queueMicrotask(() => {
      this.#rebuildQueued = false;
      this.#rebuild();
    });
  }

  #rebuild(): void {
    if (this.#closed) return;
    const table = new ServiceTable([...this.#services.values()], [...this.#slices.values()]);
    this.#table = table;
    this.#goodAt = this.#deps.wallClock();
    this.#watchers.publish(table);
  }

}

/** `namespace/name` of an object the informer accepted (it checked metadata.name is there). */
function nameOf(object: unknown): string {
  const parsed = objectName.safeParse(object);
  if (!parsed.success) return '?';
  return `${parsed.data.metadata.namespace ?? 'default'}/${parsed.data.metadata.name}`;
}

