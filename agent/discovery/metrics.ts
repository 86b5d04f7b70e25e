// What discovery records, as an interface the runtime adapts to its prom-client registry
// (telemetry/metrics.ts): metrics are passed in, never global. Suggested series:
//   weft_discovery_updates_total{source}               counter, one per good table
//   weft_discovery_source_errors_total{source,code}    counter, one per failed read, list or watch
//   weft_discovery_stale_services{source,reason}       gauge, service ports served stale now
//   weft_discovery_stale_since_seconds{source,service,reason}  gauge, when each began (age = time() - it)
import type { StaleService } from './advisory.ts';

export interface DiscoveryMetrics {
  tableUpdated(source: string): void;
  sourceError(source: string, code: string): void;
  /** The full set of stale service ports of `source`, each time it changes (empty: none stale). */
  stale(source: string, services: readonly StaleService[]): void;
}

export const noDiscoveryMetrics: DiscoveryMetrics = {
  tableUpdated: () => undefined,
  sourceError: () => undefined,
  stale: () => undefined,
};
