// Outbound routing for opaque TCP: a connection whose original destination is a Service address
// (clusterIP:port) goes to that Service's endpoints; anything else goes where it was dialled.
// Discovery is advisory: the table in use is the last good one, so a file that turns malformed
// mid-flight changes nothing here.
import { DiscoveryFileSource } from '../discovery/file-source.ts';
import { serviceKeyString } from '../discovery/types.ts';
import type { OriginalDestination, OutboundRouter, RouteDecision } from '../proxy/outbound.ts';

export interface ServiceRouter extends OutboundRouter {
  status(): unknown;
  close(): Promise<void>;
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

const passthrough: RouteDecision = { kind: 'passthrough' };

export function serviceRouter(file: string | undefined, log: Log): ServiceRouter {
  if (file === undefined) {
    return {
      route: () => passthrough,
      status: () => ({ source: 'none (set discovery.file or WEFT_DISCOVERY_FILE)', services: 0 }),
      close: () => Promise.resolve(),
    };
  }
  const source = new DiscoveryFileSource({ path: file });
  source.start();
  let lastError: string | undefined;
  const unsubscribe = source.onTable(() => log('info', 'discovery table updated', { file }));
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
      if (error !== undefined && error !== lastError) log('warn', 'discovery file error; keeping the last good set', { file, error });
      lastError = error;
      return status;
    },
    close: () => {
      unsubscribe();
      return source.close();
    },
  };
}
