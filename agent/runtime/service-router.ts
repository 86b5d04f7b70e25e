// Outbound routing for opaque TCP: a connection whose original destination is a Service address
// (clusterIP:port) goes to that Service's endpoints; anything else goes where it was dialled.
// Discovery is advisory: the table in use is the last good one, so a file that turns malformed
// mid-flight changes nothing here.
import type { ServiceTable } from '../discovery/service-table.ts';
import type { DiscoverySourceStatus } from '../discovery/types.ts';
import { serviceKeyString } from '../discovery/types.ts';
import type { OriginalDestination, OutboundRouter, RouteDecision } from '../proxy/outbound.ts';

export interface ServiceRouter extends OutboundRouter {
  status(): unknown;
  close(): Promise<void>;
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** What the router needs of a discovery source (the file and Kubernetes sources both offer it). */
export interface TableSource {
  readonly id: string;
  start(): void;
  table(): ServiceTable;
  onTable(listener: (table: ServiceTable) => void): () => void;
  status(): DiscoverySourceStatus;
  close(): Promise<void>;
}

const passthrough: RouteDecision = { kind: 'passthrough' };

export function serviceRouter(source: TableSource | undefined, log: Log): ServiceRouter {
  if (source === undefined) {
    return {
      route: () => passthrough,
      status: () => ({ source: 'none (set discovery.file or WEFT_DISCOVERY_FILE, or run in a cluster)', services: 0 }),
      close: () => Promise.resolve(),
    };
  }
  source.start();
  let lastError: string | undefined;
  const unsubscribe = source.onTable(() => log('info', 'discovery table updated', { source: source.id }));
  return {
    route(dst: OriginalDestination): RouteDecision {
      const match = source.table().byAddress(dst.address, dst.port);
      if (match === undefined) return passthrough;
      return {
        kind: 'service',
        name: `${serviceKeyString(match.service)}:${match.portName === '' ? match.port : match.portName}`,
        endpoints: match.endpoints,
      };
    },
    status() {
      const status = source.status();
      const error = status.error?.message;
      if (error !== undefined && error !== lastError) log('warn', 'discovery source error; keeping the last good set', { source: source.id, error });
      lastError = error;
      return status;
    },
    close: () => {
      unsubscribe();
      return source.close();
    },
  };
}
