// The Kubernetes namers of the default dtab, over discovery's table of Services:
//   /#/k8s/<namespace>/<service>/<port>   a Service port (number or name) → bound, if it exists
//   /#/k8s-ip/<ip>/<port>                 a Service's cluster IP:port → /svc/<namespace>/<service>/<port>
// Unknown names answer `neg`, so the binding falls back to the next alternative (the original
// destination), as the default dtab expects. Pure and synchronous: the table is read, not watched;
// the proxy asks discovery for the endpoints of what was bound.
import type { EndpointAddress } from '../balance/endpoint-set.ts';
import type { ServiceKey } from '../discovery/types.ts';
import type { NamerEntry, NamerResult } from './bind.ts';
import { k8sClusterIpNamerPrefix, k8sNamerPrefix } from './default-dtab.ts';
import { leaf } from './name-tree.ts';
import { pathDrop, pathOf, pathTake } from './path.ts';

/** What the namers read: ServiceTable fits, and so does an advisory view over it. */
export interface ServiceLookup {
  byName(key: ServiceKey, port: number | string): { readonly port: number; readonly portName: string; readonly endpoints: readonly EndpointAddress[] } | undefined;
  byAddress(address: string, port: number): { readonly service: ServiceKey; readonly port: number } | undefined;
}

const NEG: NamerResult = Object.freeze({ kind: 'neg' });

/** A Service port segment: a number 1–65535, or an IANA-style port name. */
export function servicePort(segment: string): number | string | undefined {
  if (/^[0-9]{1,5}$/.test(segment)) {
    const n = Number(segment);
    return n >= 1 && n <= 65535 ? n : undefined;
  }
  return /^[a-z0-9](?:[-a-z0-9]{0,13}[a-z0-9])?$/.test(segment) ? segment : undefined;
}

export function k8sNamers(lookup: () => ServiceLookup): NamerEntry[] {
  return [
    {
      prefix: k8sNamerPrefix,
      namer: (path) => {
        const [namespace, name, portSegment] = path;
        if (namespace === undefined || name === undefined || portSegment === undefined) {
          return { kind: 'fail', reason: '/#/k8s needs /<namespace>/<service>/<port>' };
        }
        const port = servicePort(portSegment);
        if (port === undefined) return { kind: 'fail', reason: `/#/k8s: ${JSON.stringify(portSegment)} is not a port number or name` };
        const match = lookup().byName({ namespace, name }, port);
        if (match === undefined) return NEG;
        return { kind: 'bound', id: pathTake(path, 3), residual: pathDrop(path, 3) };
      },
    },
    {
      prefix: k8sClusterIpNamerPrefix,
      namer: (path) => {
        const [address, portSegment] = path;
        if (address === undefined || portSegment === undefined || !/^[0-9]{1,5}$/.test(portSegment)) return NEG;
        const match = lookup().byAddress(address, Number(portSegment));
        if (match === undefined) return NEG;
        return { kind: 'delegate', tree: leaf(pathOf('svc', match.service.namespace, match.service.name, String(match.port))) };
      },
    },
  ];
}
