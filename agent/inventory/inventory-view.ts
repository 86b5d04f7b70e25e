// The consumer's side of an inventory source: folds updates into the current pods and namespaces,
// keeps the last good set through errors, and answers the mesh decision for every pod. Pure state,
// no I/O, so it behaves the same behind the file source and the Kubernetes one.
import type { WeftError } from '../errors.ts';
import type { MeshDecision } from './mesh-policy.ts';
import { meshDecision } from './mesh-policy.ts';
import type { InventoryUpdate, NamespaceInfo, PodInfo } from './types.ts';
import { podKey } from './types.ts';

export interface PodDecision {
  readonly key: string;
  readonly pod: PodInfo;
  readonly decision: MeshDecision;
}

export class InventoryView {
  readonly #pods = new Map<string, PodInfo>();
  readonly #namespaces = new Map<string, NamespaceInfo>();
  #synced = false;
  #error: WeftError | undefined;

  /** Applies one update; true when the pods or namespaces changed (an error changes neither). */
  apply(update: InventoryUpdate): boolean {
    switch (update.kind) {
      case 'reset':
        this.#pods.clear();
        this.#namespaces.clear();
        for (const pod of update.pods) this.#pods.set(podKey(pod), pod);
        for (const ns of update.namespaces) this.#namespaces.set(ns.name, ns);
        this.#synced = true;
        this.#error = undefined;
        return true;
      case 'upsert':
        this.#pods.set(podKey(update.pod), update.pod);
        this.#error = undefined;
        return true;
      case 'remove':
        this.#error = undefined;
        return this.#pods.delete(update.key);
      case 'namespace-upsert':
        this.#namespaces.set(update.namespace.name, update.namespace);
        this.#error = undefined;
        return true;
      case 'namespace-remove':
        this.#error = undefined;
        return this.#namespaces.delete(update.name);
      case 'error':
        this.#error = update.error;
        return false;
    }
  }

  /** True once a first full set arrived. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The source's current failure (the set shown is the last good one), cleared by the next change. */
  get error(): WeftError | undefined {
    return this.#error;
  }

  get size(): number {
    return this.#pods.size;
  }

  pods(): PodInfo[] {
    return [...this.#pods.values()];
  }

  pod(key: string): PodInfo | undefined {
    return this.#pods.get(key);
  }

  namespace(name: string): NamespaceInfo | undefined {
    return this.#namespaces.get(name);
  }

  /** Every pod with whether it is meshed and why, in a stable order (namespace, name). */
  decisions(): PodDecision[] {
    return this.pods()
      .sort((a, b) => (a.namespace === b.namespace ? compare(a.name, b.name) : compare(a.namespace, b.namespace)))
      .map((pod) => ({ key: podKey(pod), pod, decision: meshDecision(pod, this.#namespaces.get(pod.namespace)) }));
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
