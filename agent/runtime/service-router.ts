// Outbound routing for captured connections: one whose original destination is a Service address
// (clusterIP:port) goes to that Service's endpoints; anything else goes where it was dialled.
// Discovery is advisory: routing reads the source's tables through the advisory layer
// (discovery/advisory.ts), so a source error or a sudden empty answer keeps the last good endpoints,
// marked stale on /status and in the metrics, and the endpoints array routing hands out keeps its
// identity until the served set really changes (HttpRoute.sync resets its balancer on a new array).
import type { AdvisoryParams, StaleService } from '../discovery/advisory.ts';
import { AdvisoryTable, advisoryParams } from '../discovery/advisory.ts';
import type { DiscoveryMetrics } from '../discovery/metrics.ts';
import { noDiscoveryMetrics } from '../discovery/metrics.ts';
import { ServiceTable } from '../discovery/service-table.ts';
import { serviceKeyString } from '../discovery/types.ts';
import type { ServiceLookup } from '../naming/k8s-namers.ts';
import type { DiscoverySourceStatus, SourceHealthListener } from '../discovery/types.ts';
import type { OriginalDestination, OutboundRouter, RouteDecision } from '../proxy/outbound.ts';
import type { Clock } from '../time/clock.ts';
import { systemClock } from '../time/clock.ts';

export interface ServiceRouter extends OutboundRouter {
  status(): unknown;
  /**
   * Called when a routed service's served endpoints change (a new array), outside any route() call:
   * for pushing them to a balancer that exists (an HTTP route whose connections stay open would
   * otherwise learn of it only with the next routed connection). Returns the unsubscribe.
   */
  onChange(listener: (decision: RouteDecision & { readonly kind: 'service' }) => void): () => void;
  /**
   * Services by name and by cluster IP for naming, with the advisory endpoints (the last good set
   * while an answer is held). A new object whenever the source's table changes, so bindings
   * cached against it are dropped then.
   */
  services(): ServiceLookup;
  close(): Promise<void>;
}

export interface ServiceRouterStatus extends DiscoverySourceStatus {
  readonly advisory: AdvisoryParams;
  /** Service ports served stale now (held after an empty answer or a sudden drop, or while the source fails). */
  readonly stale: readonly StaleService[];
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** What the router needs of a discovery source (the file and Kubernetes sources both offer it). */
export interface TableSource {
  readonly id: string;
  start(): void;
  table(): ServiceTable;
  onTable(listener: (table: ServiceTable) => void): () => void;
  /** Failures as they happen; without it, a failing source is not marked stale (its tables still stay in use). */
  onHealth?(listener: SourceHealthListener): () => void;
  status(): DiscoverySourceStatus;
  close(): Promise<void>;
}

export interface ServiceRouterOptions {
  readonly advisory?: AdvisoryParams;
  readonly metrics?: DiscoveryMetrics;
  readonly clock?: Clock;
  readonly wallClock?: () => Date;
}

const passthrough: RouteDecision = { kind: 'passthrough' };

export function serviceRouter(source: TableSource | undefined, log: Log, options: ServiceRouterOptions = {}): ServiceRouter {
  if (source === undefined) {
    return {
      route: () => passthrough,
      services: () => ServiceTable.empty,
      status: () => ({ source: 'none (set discovery.file or WEFT_DISCOVERY_FILE, or run in a cluster)', services: 0, stale: [] }),
      onChange: () => () => undefined,
      close: () => Promise.resolve(),
    };
  }
  const metrics = options.metrics ?? noDiscoveryMetrics;
  const changeListeners = new Set<(decision: RouteDecision & { readonly kind: 'service' }) => void>();
  const id = source.id;
  // Pushed once per burst of changes (a table update can start or end many holds at once).
  let staleQueued = false;
  const staleChanged = (): void => {
    if (staleQueued) return;
    staleQueued = true;
    queueMicrotask(() => {
      staleQueued = false;
      metrics.stale(id, advisory.stale());
    });
  };
  const advisory = new AdvisoryTable(source.table(), options.advisory ?? advisoryParams, {
    clock: options.clock ?? systemClock,
    wallClock: options.wallClock ?? (() => new Date()),
    events: {
      held: (service, reason, before, answered) => {
        log('warn', 'discovery answer held: serving the last good endpoints, marked stale, until it is confirmed', {
          source: id, service, reason, lastGood: before, answered, confirmMs: advisory.params.confirmEmptyMs,
        });
        staleChanged();
      },
      released: (service, reason, heldMs) => {
        log('info', 'discovery hold released: the endpoints came back', { source: id, service, reason, heldMs: Math.round(heldMs) });
        staleChanged();
      },
      confirmed: (service, reason, heldMs, answered) => {
        log('info', 'discovery answer confirmed: now served as it is', { source: id, service, reason, heldMs: Math.round(heldMs), answered });
        staleChanged();
      },
      changed: (answer) => {
        for (const listener of changeListeners) listener(answer);
      },
    },
  });
  // A failing source reports every attempt (each backoff); warn once per kind of failure, when it
  // happens, and say when it is over.
  let failing: string | undefined;
  const unsubscribeHealth = source.onHealth?.((health) => {
    advisory.health(health);
    if (health.kind === 'error') {
      metrics.sourceError(id, health.error.code);
      const fields = { source: id, code: health.error.code, error: health.error.message, since: health.since.toISOString() };
      if (health.error.code !== failing) log('warn', 'discovery source error; keeping the last good set, marked stale', fields);
      else log('debug', 'discovery source error again', fields);
      if (failing === undefined) staleChanged();
      failing = health.error.code;
      return;
    }
    log('info', 'discovery source recovered', { source: id });
    failing = undefined;
    staleChanged();
  });
  // Naming asks by name; the advisory layer keys by cluster IP. Remember each named port's cluster
  // IP, so a Service the source suddenly forgets is still answered from its held endpoints.
  const clusterIpOf = new Map<string, string>();
  const lookupFor = (table: ServiceTable): ServiceLookup => ({
    byName(key, port) {
      const match = table.byName(key, port);
      const named = `${serviceKeyString(key)}|${port}`;
      const ip = table.service(key)?.clusterIPs[0] ?? clusterIpOf.get(named);
      if (ip === undefined) return match; // headless: nothing to hold by address
      const answer = match === undefined ? advisory.lookup(ip, typeof port === 'number' ? port : 0) : advisory.lookup(ip, match.port);
      if (match !== undefined) {
        if (clusterIpOf.size >= 10_000) clusterIpOf.clear();
        clusterIpOf.set(named, ip);
      }
      if (answer === undefined) return match;
      return { port: match?.port ?? (typeof port === 'number' ? port : 0), portName: match?.portName ?? (typeof port === 'string' ? port : ''), endpoints: answer.endpoints };
    },
    byAddress(address, port) {
      const answer = advisory.lookup(address, port);
      if (answer === undefined) return table.byAddress(address, port);
      const match = table.byAddress(address, port);
      return { service: answer.service, port: match?.port ?? port };
    },
  });
  let services = lookupFor(source.table());
  const unsubscribeTable = source.onTable((table) => {
    services = lookupFor(table);
    metrics.tableUpdated(id);
    log('debug', 'discovery table updated', { source: id });
    advisory.update(table);
  });
  source.start();
  return {
    route(dst: OriginalDestination): RouteDecision {
      return advisory.lookup(dst.address, dst.port) ?? passthrough;
    },
    services: () => services,
    status(): ServiceRouterStatus {
      return { ...source.status(), advisory: advisory.params, stale: advisory.stale() };
    },
    onChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    close: () => {
      unsubscribeTable();
      unsubscribeHealth?.();
      changeListeners.clear();
      advisory.close();
      return source.close();
    },
  };
}
