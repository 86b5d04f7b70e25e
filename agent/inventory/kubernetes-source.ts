// The inventory from the Kubernetes API: this node's Pods (field selector spec.nodeName) and all
// Namespaces (for the per-namespace opt-out), through the client's informers (kubernetes-informer.ts:
// list, watch from the resourceVersion, relist on 410, restart with backoff, silent watches cut).
// It delivers what the file source delivers: one `reset` once both lists are in, then upserts and
// removes; a failing list or watch is an `error` update and the last good set stays (a blinking API
// server must not unmesh a node). Objects are read with the same parsers as the file (objects.ts); a
// malformed one is skipped and counted, never fatal, and a pod that turns malformed keeps its last
// good version.
import { isDeepStrictEqual } from 'node:util';
import type { KubeConfig, V1Namespace, V1Pod } from '@kubernetes/client-node';
import { CoreV1Api } from '@kubernetes/client-node';
import { z } from 'zod';
import { WeftError } from '../errors.ts';
import type { Clock } from '../time/clock.ts';
import { systemClock } from '../time/clock.ts';
import { kubernetesSourceId } from './kubernetes-config.ts';
import type { KubernetesInformerHandlers, KubernetesInformerStatus, KubernetesWatchParams } from './kubernetes-informer.ts';
import { KubernetesInformer, kubernetesWatchParams } from './kubernetes-informer.ts';
import { describeIssues } from './kubernetes-objects.ts';
import { namespaceFromObject, podFromObject } from './objects.ts';
import type { InventoryListener, InventorySource, InventorySourceStatus, InventoryUpdate, NamespaceInfo, PodInfo } from './types.ts';
import { podKey } from './types.ts';

export interface KubernetesInventoryOptions {
  /** This node's name (the DaemonSet passes spec.nodeName through the downward API). */
  readonly nodeName: string;
  readonly kubeConfig: KubeConfig;
}

export interface KubernetesInventoryDeps {
  readonly clock: Clock;
  readonly wallClock: () => Date;
}

export interface KubernetesInventoryStatus extends InventorySourceStatus {
  /** Objects skipped because they did not validate (counted per event, so a bad pod updated twice counts twice). */
  readonly malformed: number;
  /** The latest skipped object and why. */
  readonly lastMalformed: string | undefined;
  readonly informers: readonly KubernetesInformerStatus[];
}

const objectName = z.object({ metadata: z.object({ name: z.string(), namespace: z.string().nullish() }) });

export class KubernetesInventorySource implements InventorySource {
  readonly id: string;
  readonly #nodeName: string;
  readonly #deps: KubernetesInventoryDeps;
  readonly #pods: KubernetesInformer<V1Pod>;
  readonly #namespaceInformer: KubernetesInformer<V1Namespace>;
  /** By `namespace/name` (how the API names objects, and deletes them), the last good version. */
  readonly #podsByName = new Map<string, PodInfo>();
  readonly #namespaces = new Map<string, NamespaceInfo>();
  readonly #otherNode = new Set<string>();
  readonly #listed = new Set<'pods' | 'namespaces'>();
  readonly #errors = new Map<'pods' | 'namespaces', { error: WeftError; since: Date }>();
  #listener: InventoryListener | undefined;
  #synced = false;
  #goodAt: Date | undefined;
  #malformed = 0;
  #lastMalformed: string | undefined;
  #started = false;
  #closed = false;

  constructor(
    options: KubernetesInventoryOptions,
    params: KubernetesWatchParams = kubernetesWatchParams,
    deps: KubernetesInventoryDeps = { clock: systemClock, wallClock: () => new Date() },
  ) {
    if (options.nodeName === '') {
      throw new WeftError('WEFT_E_INVENTORY_K8S_CONFIG', 'the Kubernetes inventory needs this node\'s name; set it from spec.nodeName (downward API)');
    }
    this.id = kubernetesSourceId(options.kubeConfig);
    this.#nodeName = options.nodeName;
    this.#deps = deps;
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `spec.nodeName=${options.nodeName}`;
    this.#pods = new KubernetesInformer<V1Pod>(
      options.kubeConfig,
      {
        what: 'pods',
        area: 'INVENTORY',
        path: '/api/v1/pods',
        fieldSelector,
        list: (httpOptions) => core.listPodForAllNamespaces({ fieldSelector }, httpOptions),
      },
      params,
      deps.clock,
      this.#handlers('pods', (object) => this.#upsertPod(object), (object) => this.#removePod(object)),
    );
    this.#namespaceInformer = new KubernetesInformer<V1Namespace>(
      options.kubeConfig,
      { what: 'namespaces', area: 'INVENTORY', path: '/api/v1/namespaces', list: (httpOptions) => core.listNamespace({}, httpOptions) },
      params,
      deps.clock,
      this.#handlers('namespaces', (object) => this.#upsertNamespace(object), (object) => this.#removeNamespace(object)),
    );
  }

  get synced(): boolean {
    return this.#synced;
  }

  start(listener: InventoryListener): void {
    if (this.#started || this.#closed) {
      throw new WeftError('WEFT_E_INVENTORY_STARTED', `inventory source ${this.id} was already started or is closed; make a new one`);
    }
    this.#started = true;
    this.#listener = listener;
    this.#namespaceInformer.start();
    this.#pods.start();
  }

  status(): KubernetesInventoryStatus {
    const error = [...this.#errors.values()].sort((a, b) => a.since.getTime() - b.since.getTime())[0];
    return {
      source: this.id,
      synced: this.#synced,
      pods: this.#podsByName.size,
      namespaces: this.#namespaces.size,
      lastGoodAt: this.#goodAt?.toISOString(),
      error: error === undefined ? undefined : { code: error.error.code, message: error.error.message, since: error.since.toISOString() },
      otherNodePods: this.#otherNode.size,
      malformed: this.#malformed,
      lastMalformed: this.#lastMalformed,
      informers: [this.#pods.status(), this.#namespaceInformer.status()],
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listener = undefined;
    await Promise.all([this.#pods.close(), this.#namespaceInformer.close()]);
  }

  #handlers(which: 'pods' | 'namespaces', upsert: (object: unknown) => void, remove: (object: unknown) => void): KubernetesInformerHandlers {
    return {
      upsert,
      remove,
      listed: () => {
        this.#listed.add(which);
        this.#errors.delete(which);
        this.#goodAt = this.#deps.wallClock();
        if (!this.#synced && this.#listed.size === 2) {
          this.#synced = true;
          this.#emit({ kind: 'reset', pods: [...this.#podsByName.values()], namespaces: [...this.#namespaces.values()] });
        }
      },
      malformed: (problem) => this.#skip(`${which === 'pods' ? 'Pod' : 'Namespace'}: ${problem}`),
      failed: (error) => {
        // Keep the first time this failure was seen: "failing since" is what an operator needs.
        const current = this.#errors.get(which);
        if (current?.error.code !== error.code) this.#errors.set(which, { error, since: this.#deps.wallClock() });
        this.#emit({ kind: 'error', error });
      },
      healthy: () => {
        if (this.#errors.delete(which)) this.#goodAt = this.#deps.wallClock();
      },
    };
  }

  #upsertPod(object: unknown): void {
    const name = nameOf(object);
    const parsed = podFromObject(object);
    if (parsed.kind === 'invalid') {
      this.#skip(`Pod ${name}: ${describeIssues(parsed.issues)}`);
      return;
    }
    const pod = parsed.value;
    // The field selector already asks for this node's pods; a pod listed for another node anyway
    // (or moved off it) is left out as the file source leaves it out.
    if (pod.nodeName !== undefined && pod.nodeName !== this.#nodeName) {
      this.#otherNode.add(name);
      this.#removePodNamed(name);
      return;
    }
    this.#otherNode.delete(name);
    const previous = this.#podsByName.get(name);
    this.#podsByName.set(name, pod);
    if (!this.#synced) return;
    // Same name, new UID: the pod was recreated (a StatefulSet) between two events we saw.
    if (previous !== undefined && podKey(previous) !== podKey(pod)) this.#emit({ kind: 'remove', key: podKey(previous) });
    if (!isDeepStrictEqual(previous, pod)) this.#emit({ kind: 'upsert', pod });
  }

  #removePod(object: unknown): void {
    const name = nameOf(object);
    this.#otherNode.delete(name);
    this.#removePodNamed(name);
  }

  #removePodNamed(name: string): void {
    const previous = this.#podsByName.get(name);
    if (previous === undefined) return;
    this.#podsByName.delete(name);
    if (this.#synced) this.#emit({ kind: 'remove', key: podKey(previous) });
  }

  #upsertNamespace(object: unknown): void {
    const parsed = namespaceFromObject(object);
    if (parsed.kind === 'invalid') {
      this.#skip(`Namespace ${nameOf(object)}: ${describeIssues(parsed.issues)}`);
      return;
    }
    const namespace = parsed.value;
    const previous = this.#namespaces.get(namespace.name);
    this.#namespaces.set(namespace.name, namespace);
    if (this.#synced && !isDeepStrictEqual(previous, namespace)) this.#emit({ kind: 'namespace-upsert', namespace });
  }

  #removeNamespace(object: unknown): void {
    const parsed = objectName.safeParse(object);
    if (!parsed.success) return;
    const name = parsed.data.metadata.name;
    if (!this.#namespaces.delete(name)) return;
    if (this.#synced) this.#emit({ kind: 'namespace-remove', name });
  }

  #skip(problem: string): void {
    this.#malformed += 1;
    this.#lastMalformed = problem;
  }

  #emit(update: InventoryUpdate): void {
    if (this.#closed) return;
    this.#listener?.(update);
  }
}

/** `namespace/name` of an object the informer accepted (it checked metadata.name is there). */
function nameOf(object: unknown): string {
  const parsed = objectName.safeParse(object);
  if (!parsed.success) return '?';
  return `${parsed.data.metadata.namespace ?? 'default'}/${parsed.data.metadata.name}`;
}
