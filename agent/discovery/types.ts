// Discovery's model: a logical service → the endpoints that serve it. Sources (a static file now;
// the Kubernetes API and DNS later) answer the same questions in the same shapes. Discovery is
// advisory: a source that fails answers with an error AND the last good endpoints, never with
// an empty set because it blinked.
import type { WeftError } from '../errors.ts';

export interface ServiceKey {
  readonly namespace: string;
  readonly name: string;
}

/** `namespace/name`. */
export function serviceKeyString(key: ServiceKey): string {
  return `${key.namespace}/${key.name}`;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface Endpoint {
  /** IPv4 dotted quad or canonical IPv6 text (no brackets). */
  readonly address: string;
  readonly port: number;
  /** EndpointSlice conditions; a missing `ready` counts as ready, missing `serving` follows `ready`. */
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** From the slice's targetRef and topology, when known (for status, locality and same-node short cuts). */
  readonly podName?: string;
  readonly podNamespace?: string;
  readonly nodeName?: string;
  readonly zone?: string;
}

/** What a source knows about one target right now. */
export type DiscoveryResult =
  | { readonly kind: 'ok'; readonly endpoints: readonly Endpoint[] }
  /** The source failed; `lastGood` is what it answered before (absent if it never answered). */
  | { readonly kind: 'error'; readonly error: WeftError; readonly lastGood?: readonly Endpoint[] }
  /** The source has no answer: not synced yet, or no such service or port. */
  | { readonly kind: 'unknown'; readonly reason: string };

/**
 * Endpoint changes for one watched target, shaped as the balancer's EndpointUpdate: `reset` replaces
 * the set, `add` adds or updates (same address:port: its conditions changed), `remove` drops.
 */
export type DiscoveryUpdate =
  | { readonly kind: 'reset'; readonly endpoints: readonly Endpoint[] }
  | { readonly kind: 'add'; readonly endpoints: readonly Endpoint[] }
  | { readonly kind: 'remove'; readonly endpoints: readonly Endpoint[] };

export type DiscoveryListener = (update: DiscoveryUpdate) => void;

/**
 * A source's health as it changes: every failed read, list or watch (`since`: when the current
 * failure began, so repeats keep it), and `ok` once, when a failing source answers well again.
 */
export type SourceHealth =
  | { readonly kind: 'error'; readonly error: WeftError; readonly since: Date }
  | { readonly kind: 'ok' };

export type SourceHealthListener = (health: SourceHealth) => void;

/** What is asked for: a service port by name (port name or number), or the destination a pod dialled. */
export type DiscoveryTarget =
  | { readonly kind: 'service'; readonly service: ServiceKey; readonly port: number | string }
  | { readonly kind: 'address'; readonly address: string; readonly port: number };

export interface DiscoverySourceStatus {
  /** `file:/etc/weft/services.yaml`, `kubernetes:…`, `dns:…`. */
  readonly source: string;
  readonly synced: boolean;
  readonly services: number;
  readonly endpointSlices: number;
  readonly lastGoodAt: string | undefined;
  /** The current failure; the last good answers stay in use meanwhile (marked stale). */
  readonly error: { readonly code: string; readonly message: string; readonly since: string } | undefined;
  readonly watchers: number;
}

export interface DiscoverySource {
  readonly id: string;
  start(): void;
  /** True once the source produced its first good answer set; stays true through later errors. */
  readonly synced: boolean;
  resolve(target: DiscoveryTarget): DiscoveryResult;
  /**
   * Follows one target: a `reset` once the source has a good answer set (asynchronously, never
   * inside this call; empty when the target is unknown), then `add`/`remove` as it changes, adds
   * first. A source failure sends nothing (the balancer keeps its set); a target that stops existing
   * in a good answer set has its endpoints removed. Returns the unsubscribe.
   */
  watch(target: DiscoveryTarget, listener: DiscoveryListener): () => void;
  status(): DiscoverySourceStatus;
  close(): Promise<void>;
}

// The Kubernetes objects discovery reads, after validation and with Kubernetes' defaults applied.

export interface ServicePort {
  /** '' for the unnamed port of a single-port Service. */
  readonly name: string;
  readonly port: number;
  /** A number, or the name of a container port (resolved per endpoint through the slices). */
  readonly targetPort: number | string;
  readonly protocol: Protocol;
}

export interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  /** clusterIP and clusterIPs merged, canonical, without `None`; empty for a headless Service. */
  readonly clusterIPs: readonly string[];
  readonly ports: readonly ServicePort[];
}

export interface SliceEndpoint {
  readonly addresses: readonly string[];
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly podName?: string;
  readonly podNamespace?: string;
  readonly nodeName?: string;
  readonly zone?: string;
}

export interface SlicePort {
  readonly name: string;
  /** Undefined means "all ports" in the API; the Service's numeric targetPort is used then. */
  readonly port: number | undefined;
  readonly protocol: Protocol;
}

export interface EndpointSliceInfo {
  readonly namespace: string;
  readonly name: string;
  /** The `kubernetes.io/service-name` label: the Service this slice belongs to. */
  readonly serviceName: string;
  readonly addressType: 'IPv4' | 'IPv6' | 'FQDN';
  readonly endpoints: readonly SliceEndpoint[];
  /** Undefined when the slice lists no ports. */
  readonly ports: readonly SlicePort[] | undefined;
}
