// The inventory's model: which pods live on this node, and their namespaces (for per-namespace
// opt-out). Sources (a local file now, the Kubernetes API later) deliver the same updates, so
// everything downstream (mesh policy, pod → cgroup → netns, capture) is written once.
import type { WeftError } from '../errors.ts';

/** Kubernetes spells QoS classes this way in `status.qosClass`; it decides where the pod's cgroup is. */
export const QOS_CLASSES = ['Guaranteed', 'Burstable', 'BestEffort'] as const;
export type QosClass = (typeof QOS_CLASSES)[number];

export const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
export type PodPhase = (typeof POD_PHASES)[number];

export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  /** The API server always sets it; a hand-written file may not, and then the pod cannot be found in cgroupfs. */
  readonly uid?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** status.podIPs (or status.podIP), in the order Kubernetes lists them: primary family first. */
  readonly podIPs: readonly string[];
  readonly nodeName?: string;
  readonly phase?: PodPhase;
  /** spec.hostNetwork: the pod shares the node's netns, so there is nothing of its own to capture. */
  readonly hostNetwork: boolean;
  /** status.qosClass: a hint that saves the cgroup search two misses; the search covers all classes anyway. */
  readonly qosClass?: QosClass;
}

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/**
 * The identity a pod is tracked by: its UID, or `namespace/name` for a pod without one (a UID never
 * contains `/`, so the two cannot collide). Kubernetes reuses names (a StatefulSet pod recreated) but
 * never UIDs, which is why the UID comes first.
 */
export function podKey(pod: Pick<PodInfo, 'namespace' | 'name' | 'uid'>): string {
  return pod.uid ?? `${pod.namespace}/${pod.name}`;
}

export interface InventorySnapshot {
  readonly pods: readonly PodInfo[];
  readonly namespaces: readonly NamespaceInfo[];
}

/**
 * What a source delivers. `reset` replaces everything (first sync, or a relist); `upsert`/`remove`
 * change one object; `error` reports a source failure as a value: the consumer keeps the last good
 * set (a blinking source must not unmesh a node).
 */
export type InventoryUpdate =
  | { readonly kind: 'reset'; readonly pods: readonly PodInfo[]; readonly namespaces: readonly NamespaceInfo[] }
  | { readonly kind: 'upsert'; readonly pod: PodInfo }
  | { readonly kind: 'remove'; readonly key: string }
  | { readonly kind: 'namespace-upsert'; readonly namespace: NamespaceInfo }
  | { readonly kind: 'namespace-remove'; readonly name: string }
  | { readonly kind: 'error'; readonly error: WeftError };

export type InventoryListener = (update: InventoryUpdate) => void;

export interface InventorySourceStatus {
  /** `file:/etc/weft/pods.yaml`, `kubernetes:https://…`. */
  readonly source: string;
  readonly synced: boolean;
  readonly pods: number;
  readonly namespaces: number;
  /** When the source last produced a good set (ISO time), undefined before the first. */
  readonly lastGoodAt: string | undefined;
  /** The current failure, cleared by the next good set; the last good set is in use meanwhile. */
  readonly error: { readonly code: string; readonly message: string; readonly since: string } | undefined;
  /** Pods listed for other nodes and left out (only when a node name is configured). */
  readonly otherNodePods: number;
}

export interface InventorySource {
  readonly id: string;
  /**
   * Starts delivering updates to `listener`: first a `reset` once the source has a good set, then
   * changes. Updates of one change arrive synchronously one after another, so a consumer may
   * coalesce them (queueMicrotask) before acting.
   */
  start(listener: InventoryListener): void;
  /** True once the first `reset` was delivered; stays true through later errors (the set is kept). */
  readonly synced: boolean;
  status(): InventorySourceStatus;
  close(): Promise<void>;
}
