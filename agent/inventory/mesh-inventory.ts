// An inventory source turned into what pod capture consumes: on every change, the full list of pods
// to mesh and the pods left alone with the reason. The updates of one change arrive back to back,
// so they are coalesced into one call (a microtask later) instead of one per pod.
import { InventoryView } from './inventory-view.ts';
import type { InventorySource, InventorySourceStatus, QosClass } from './types.ts';

export interface MeshPod {
  /** The pod's UID; for a pod without one, its `namespace/name` (it is excluded anyway). */
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly qosClass?: QosClass;
  readonly podIPs: readonly string[];
}

export interface ExcludedPod {
  readonly pod: MeshPod;
  readonly reason: string;
}

export type MeshInventoryListener = (wanted: MeshPod[], excluded: ExcludedPod[]) => void;

export interface MeshInventoryStatus extends InventorySourceStatus {
  readonly meshed: number;
  readonly excluded: ReadonlyArray<{ readonly namespace: string; readonly name: string; readonly reason: string }>;
}

export class MeshInventory {
  readonly #source: InventorySource;
  readonly #view = new InventoryView();
  #listener: MeshInventoryListener | undefined;
  #pending = false;
  #closed = false;

  constructor(source: InventorySource) {
    this.#source = source;
  }

  /** Delivers the desired set once the source is synced, and again after every change. */
  start(listener: MeshInventoryListener): void {
    this.#listener = listener;
    this.#source.start((update) => {
      if (this.#view.apply(update) && this.#view.synced) this.#schedule();
    });
  }

  get synced(): boolean {
    return this.#view.synced;
  }

  get view(): InventoryView {
    return this.#view;
  }

  status(): MeshInventoryStatus {
    const decisions = this.#view.decisions();
    return {
      ...this.#source.status(),
      meshed: decisions.filter((entry) => entry.decision.meshed).length,
      excluded: decisions
        .filter((entry) => !entry.decision.meshed)
        .map((entry) => ({ namespace: entry.pod.namespace, name: entry.pod.name, reason: entry.decision.reason })),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listener = undefined;
    await this.#source.close();
  }

  #schedule(): void {
    if (this.#pending) return;
    this.#pending = true;
    queueMicrotask(() => {
      this.#pending = false;
      if (this.#closed) return;
      const wanted: MeshPod[] = [];
      const excluded: ExcludedPod[] = [];
      for (const { key, pod, decision } of this.#view.decisions()) {
        const ref: MeshPod = {
          uid: key,
          namespace: pod.namespace,
          name: pod.name,
          podIPs: pod.podIPs,
          ...(pod.qosClass === undefined ? {} : { qosClass: pod.qosClass }),
        };
        if (decision.meshed) wanted.push(ref);
        else excluded.push({ pod: ref, reason: decision.reason });
      }
      this.#listener?.(wanted, excluded);
    });
  }
}
