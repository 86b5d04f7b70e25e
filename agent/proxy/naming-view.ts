// What a bound name means to the proxy: the concrete backend it stands for and its endpoints, read
// from discovery's current table. One view per table, so request bindings can be cached until
// discovery changes; endpoint arrays keep their identity while unchanged, so a route's balancer is
// reset only when its endpoints really change.
import type { EndpointAddress } from '../balance/endpoint-set.ts';
import { isIP } from 'node:net';
import type { BoundName } from '../naming/bind.ts';
import type { ServiceLookup } from '../naming/k8s-namers.ts';
import { servicePort } from '../naming/k8s-namers.ts';
import type { Backend, NamingView } from './request-router.ts';
import { k8sBackendName } from './request-router.ts';

/** Addresses dialled directly: one endpoint array per address, kept across views. */
export class PassthroughEndpoints {
  readonly #arrays = new Map<string, readonly EndpointAddress[]>();
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  of(address: string, port: number): readonly EndpointAddress[] {
    const key = `${address}|${port}`;
    let array = this.#arrays.get(key);
    if (array === undefined) {
      if (this.#arrays.size >= this.#limit) this.#arrays.clear();
      array = Object.freeze([Object.freeze({ address, port })]);
      this.#arrays.set(key, array);
    }
    return array;
  }
}

export function namingView(lookup: ServiceLookup, passthrough: PassthroughEndpoints): NamingView {
  return {
    lookup,
    backend(name: BoundName): Backend | undefined {
      const id = name.id;
      const k8s = k8sBackendName(id);
      if (k8s !== undefined) {
        const port = servicePort(k8s.port);
        if (port === undefined) return undefined;
        const match = lookup.byName({ namespace: k8s.namespace, name: k8s.name }, port);
        if (match === undefined) return undefined;
        const routeName = `${k8s.namespace}/${k8s.name}:${match.portName === '' ? match.port : match.portName}`;
        return { name: routeName, authority: routeName, endpoints: match.endpoints, namespace: k8s.namespace };
      }
      // /$/inet/<ip>/<port>: where the application sent it. A host name would need DNS, which is
      // the DNS namer's job, not this one's.
      if (id.length === 4 && id[0] === '$' && id[1] === 'inet') {
        const host = id[2] as string;
        const port = Number(id[3]);
        if (isIP(host) === 0 || !(port >= 1 && port <= 65535)) return undefined;
        const name = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
        return { name, authority: 'passthrough', endpoints: passthrough.of(host, port), namespace: undefined };
      }
      return undefined;
    },
  };
}
