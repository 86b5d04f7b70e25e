// The set of endpoints a balancer spreads requests over, keyed by address:port. Discovery feeds it
// `reset | add | remove`; an endpoint that stays across an update keeps its node, and so its load,
// latency estimate and breaker (linkerd2-proxy's pool only rebuilds an endpoint whose target changed).
// Nodes live in a dense array (swap-remove) so pickers index them in O(1).

export interface EndpointAddress {
  /** IPv4 dotted quad or IPv6 text (no brackets). */
  readonly address: string;
  readonly port: number;
}

export type EndpointUpdate<T extends EndpointAddress> =
  | { readonly kind: 'reset'; readonly endpoints: readonly T[] }
  | { readonly kind: 'add'; readonly endpoints: readonly T[] }
  | { readonly kind: 'remove'; readonly endpoints: readonly EndpointAddress[] };

/** `10.0.0.1:80`, `[fd00::1]:80`: the same spelling as a URL authority, so keys are unambiguous. */
export function endpointKey(endpoint: EndpointAddress): string {
  return endpoint.address.includes(':')
    ? `[${endpoint.address}]:${endpoint.port}`
    : `${endpoint.address}:${endpoint.port}`;
}

/** What the set needs of a node: its key and a slot for its position in the dense array. */
export interface SetNode {
  readonly key: string;
  index: number;
}

export interface EndpointSetHooks<T extends EndpointAddress, N extends SetNode> {
  /** Builds the node (and whatever it owns: a service, an EWMA, a breaker) for a new endpoint. */
  create(endpoint: T, key: string): N;
  /** The endpoint stays but its metadata changed (labels, zone): state is kept. */
  changed?(node: N, endpoint: T): void;
  /** The endpoint left: release what the node owns. */
  removed(node: N): void;
}

export interface UpdateSummary {
  readonly added: number;
  readonly removed: number;
  readonly kept: number;
}

export class EndpointSet<T extends EndpointAddress, N extends SetNode> {
  readonly #hooks: EndpointSetHooks<T, N>;
  readonly #nodes: N[] = [];
  readonly #byKey = new Map<string, N>();

  constructor(hooks: EndpointSetHooks<T, N>) {
    this.#hooks = hooks;
  }

  /** Dense, in no particular order; valid until the next update. */
  get nodes(): readonly N[] {
    return this.#nodes;
  }

  get size(): number {
    return this.#nodes.length;
  }

  get(key: string): N | undefined {
    return this.#byKey.get(key);
  }

  apply(update: EndpointUpdate<T>): UpdateSummary {
    switch (update.kind) {
      case 'add': {
        let added = 0;
        let kept = 0;
        for (const endpoint of update.endpoints) {
          if (this.#upsert(endpoint)) added += 1;
          else kept += 1;
        }
        return { added, removed: 0, kept };
      }
      case 'remove': {
        let removed = 0;
        for (const endpoint of update.endpoints) if (this.#remove(endpointKey(endpoint))) removed += 1;
        return { added: 0, removed, kept: this.#nodes.length };
      }
      case 'reset': {
        const wanted = new Map<string, T>();
        for (const endpoint of update.endpoints) wanted.set(endpointKey(endpoint), endpoint);
        let removed = 0;
        // Iterate over a copy: #remove reorders the dense array.
        for (const node of this.#nodes.slice()) {
          if (!wanted.has(node.key) && this.#remove(node.key)) removed += 1;
        }
        let added = 0;
        let kept = 0;
        for (const endpoint of wanted.values()) {
          if (this.#upsert(endpoint)) added += 1;
          else kept += 1;
        }
        return { added, removed, kept };
      }
    }
  }

  /** Removes every node (the balancer is closing). */
  clear(): void {
    for (const node of this.#nodes.slice()) this.#remove(node.key);
  }

  /** True if the endpoint is new. */
  #upsert(endpoint: T): boolean {
    const key = endpointKey(endpoint);
    const existing = this.#byKey.get(key);
    if (existing !== undefined) {
      this.#hooks.changed?.(existing, endpoint);
      return false;
    }
    const node = this.#hooks.create(endpoint, key);
    node.index = this.#nodes.length;
    this.#nodes.push(node);
    this.#byKey.set(key, node);
    return true;
  }

  #remove(key: string): boolean {
    const node = this.#byKey.get(key);
    if (node === undefined) return false;
    this.#byKey.delete(key);
    const last = this.#nodes.pop();
    if (last !== undefined && last !== node) {
      this.#nodes[node.index] = last;
      last.index = node.index;
    }
    node.index = -1;
    this.#hooks.removed(node);
    return true;
  }
}
