// The Kubernetes namers of the default dtab, over discovery's table of Services:
//   /#/k8s/<namespace>/<port>/<service>   a Service port (number or name) → bound, if it exists
//   /#/k8s-ip/<ip>/<port>                 a Service's cluster IP:port → /svc/<namespace>/<service>/<port>
//   /#/file/<namespace>/<port>/<service>  the same, from the discovery file (when it is the source)
// The bound name is in Linkerd 1's order (io.l5d.k8s: namespace, port, service). The namer also
// reads weft's request names, which put the service before the port (/svc/<ns>/<svc>/<port>, so one
// dentry redirects a service on every port) and reach it through `/svc => /#/k8s`; which order a
// path is in is told by which Service port exists. Unknown names answer `neg`, so the binding falls
// back to the next alternative (the original destination), as the default dtab expects. Pure and
// synchronous: the table is read, not watched.
import type { EndpointAddress } from '../balance/endpoint-set.ts';
import type { ServiceKey } from '../discovery/types.ts';
import type { NamerEntry, NamerResult } from './bind.ts';
import { k8sClusterIpNamerPrefix, k8sNamerPrefix } from './default-dtab.ts';
import { leaf } from './name-tree.ts';
import { pathDrop, pathOf } from './path.ts';

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

/** The Service port a namer path means: Linkerd's /<ns>/<port>/<svc> first, then weft's /<ns>/<svc>/<port>. */
function servicePortOf(lookup: ServiceLookup, namespace: string, a: string, b: string): { name: string; port: number | string } | undefined {
  const linkerdPort = servicePort(a);
  if (linkerdPort !== undefined && lookup.byName({ namespace, name: b }, linkerdPort) !== undefined) return { name: b, port: linkerdPort };
  const weftPort = servicePort(b);
  if (weftPort !== undefined && lookup.byName({ namespace, name: a }, weftPort) !== undefined) return { name: a, port: weftPort };
  return undefined;
}

function serviceNamer(prefix: readonly string[], lookup: () => ServiceLookup): NamerEntry {
  const shown = `/${prefix.join('/')}`;
  return {
    prefix,
    namer: (path) => {
      const [namespace, a, b] = path;
      if (namespace === undefined || a === undefined || b === undefined) {
        return { kind: 'fail', reason: `${shown} needs /<namespace>/<port>/<service>` };
      }
      if (servicePort(a) === undefined && servicePort(b) === undefined) {
        return { kind: 'fail', reason: `${shown}: neither ${JSON.stringify(a)} nor ${JSON.stringify(b)} is a port number or name` };
      }
      const found = servicePortOf(lookup(), namespace, a, b);
      if (found === undefined) return NEG;
      return { kind: 'bound', id: pathOf(namespace, String(found.port), found.name), residual: pathDrop(path, 3) };
    },
  };
}

export const fileNamerPrefix = Object.freeze(['#', 'file']);

/**
 * `/#/k8s` and `/#/k8s-ip` over `lookup`; `/#/file` too when the discovery file is the source
 * (`fileLookup`), so a dtab can name the file's Services explicitly.
 */
export function k8sNamers(lookup: () => ServiceLookup, fileLookup?: () => ServiceLookup): NamerEntry[] {
  return [
    serviceNamer(k8sNamerPrefix, lookup),
    ...(fileLookup === undefined ? [] : [serviceNamer(fileNamerPrefix, fileLookup)]),
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
