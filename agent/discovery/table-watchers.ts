// What every discovery source does with a new good ServiceTable: tell the table listeners, and
// bring each endpoint watcher up to date (a first reset, then adds before removes). One place for
// it, so the file, Kubernetes and later DNS sources cannot drift apart in what watchers see.
import { isDeepStrictEqual } from 'node:util';
import type { ServiceMatch } from './service-table.ts';
import { endpointKey } from './service-table.ts';
import type { ServiceTable } from './service-table.ts';
import type { WeftError } from '../errors.ts';
import type { DiscoveryListener, DiscoveryTarget, Endpoint, SourceHealthListener } from './types.ts';
import { serviceKeyString } from './types.ts';

interface Watcher {
  readonly target: DiscoveryTarget;
  readonly listener: DiscoveryListener;
  /** What this watcher was last told, by endpoint key; undefined before its first reset. */
  delivered: Map<string, Endpoint> | undefined;
  active: boolean;
}

export function lookupTarget(table: ServiceTable, target: DiscoveryTarget): ServiceMatch | undefined {
  return target.kind === 'address' ? table.byAddress(target.address, target.port) : table.byName(target.service, target.port);
}

/** What a target is, in words, for `unknown` reasons. */
export function describeTarget(target: DiscoveryTarget): string {
  return target.kind === 'address'
    ? `cluster IP ${endpointKey(target)}`
    : `service ${serviceKeyString(target.service)} port ${typeof target.port === 'number' ? target.port : JSON.stringify(target.port)}`;
}

export class TableWatchers {
  readonly #watchers = new Set<Watcher>();
  readonly #tableListeners = new Set<(table: ServiceTable) => void>();
  readonly #healthListeners = new Set<SourceHealthListener>();
  #table: ServiceTable | undefined;
  #failing = false;

  get size(): number {
    return this.#watchers.size;
  }

  /** Follows one target; the first reset comes asynchronously, never inside this call. */
  watch(target: DiscoveryTarget, listener: DiscoveryListener): () => void {
    const watcher: Watcher = { target, listener, delivered: undefined, active: true };
    this.#watchers.add(watcher);
    // Never call back inside watch(): the caller may not have stored the unsubscribe yet.
    queueMicrotask(() => this.#sync(watcher));
    return () => {
      watcher.active = false;
      this.#watchers.delete(watcher);
    };
  }

  /** Called with each new good table. Returns the unsubscribe. */
  onTable(listener: (table: ServiceTable) => void): () => void {
    this.#tableListeners.add(listener);
    return () => this.#tableListeners.delete(listener);
  }

  /** Called with every failure of the source, and once when it answers well again. Returns the unsubscribe. */
  onHealth(listener: SourceHealthListener): () => void {
    this.#healthListeners.add(listener);
    return () => this.#healthListeners.delete(listener);
  }

  /** The source failed (each attempt); `since` is when the current failure began. */
  failed(error: WeftError, since: Date): void {
    this.#failing = true;
    for (const listener of this.#healthListeners) listener({ kind: 'error', error, since });
  }

  /** The source answers well again; tells the health listeners only after a failure. */
  recovered(): void {
    if (!this.#failing) return;
    this.#failing = false;
    for (const listener of this.#healthListeners) listener({ kind: 'ok' });
  }

  /** A new good table: listeners first, then every watcher. */
  publish(table: ServiceTable): void {
    this.#table = table;
    for (const listener of this.#tableListeners) listener(table);
    for (const watcher of this.#watchers) this.#sync(watcher);
  }

  close(): void {
    for (const watcher of this.#watchers) watcher.active = false;
    this.#watchers.clear();
    this.#tableListeners.clear();
    this.#healthListeners.clear();
  }

  /** Brings one watcher up to the current table: a first reset, then adds before removes. */
  #sync(watcher: Watcher): void {
    const table = this.#table;
    if (!watcher.active || table === undefined) return;
    const endpoints = lookupTarget(table, watcher.target)?.endpoints ?? [];
    const next = new Map(endpoints.map((endpoint) => [endpointKey(endpoint), endpoint]));
    const previous = watcher.delivered;
    watcher.delivered = next;
    if (previous === undefined) {
      watcher.listener({ kind: 'reset', endpoints });
      return;
    }
    // Adds first: a change that replaces every endpoint never leaves the balancer empty in between.
    const added = endpoints.filter((endpoint) => !isDeepStrictEqual(previous.get(endpointKey(endpoint)), endpoint));
    const removed = [...previous.entries()].filter(([key]) => !next.has(key)).map(([, endpoint]) => endpoint);
    if (added.length > 0) watcher.listener({ kind: 'add', endpoints: added });
    if (removed.length > 0 && watcher.active) watcher.listener({ kind: 'remove', endpoints: removed });
  }
}
