// What a bound name means to the proxy: the concrete backend it stands for and its endpoints, read
// from discovery's current table. One view per table, so request bindings can be cached until
// discovery changes; endpoint arrays keep their identity while unchanged, so a route's balancer is
// reset only when its endpoints really change.
import type { EndpointAddress } from '../balance/endpoint-set.ts';
import { isIP } from 'node:net';
import type { DnsTarget } from '../discovery/dns-target.ts';
import type { DiscoveryResult } from '../discovery/types.ts';
import type { BoundName } from '../naming/bind.ts';
import { dnsTargetOfBoundName } from '../naming/dns-namer.ts';
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

/** What the view needs of the DNS source (DnsDiscoverySource has it). */
export interface DnsEndpoints {
  resolve(target: DnsTarget): DiscoveryResult;
}

/**
 * A source that builds a new array per answer: the same content keeps the array it had, so the
 * route's balancer is not reset on every request.
 */
export class StableEndpoints {
  readonly #last = new Map<string, { readonly signature: string; readonly endpoints: readonly EndpointAddress[] }>();

  of(key: string, endpoints: readonly EndpointAddress[]): readonly EndpointAddress[] {
    const signature = endpoints.map((e) => `${e.address}|${e.port}`).join(',');
    const last = this.#last.get(key);
    if (last !== undefined && last.signature === signature) return last.endpoints;
    if (this.#last.size >= 10_000) this.#last.clear();
    this.#last.set(key, { signature, endpoints });
    return endpoints;
  }
}

export function namingView(lookup: ServiceLookup, passthrough: PassthroughEndpoints, dns?: { readonly source: DnsEndpoints; readonly stable: StableEndpoints }): NamingView {
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
      const dnsTarget = dns === undefined ? undefined : dnsTargetOfBoundName(id);
      if (dns !== undefined && dnsTarget !== undefined) {
        // The DNS source follows the name from its first use; until its first answer there are
        // no endpoints (a 503 that says so), and on failures it keeps serving the last good set.
        const result = dns.source.resolve(dnsTarget);
        const endpoints = result.kind === 'ok' ? result.endpoints : result.kind === 'error' ? (result.lastGood ?? []) : [];
        const name = dnsTarget.kind === 'dns' ? `dns/${dnsTarget.name}:${dnsTarget.port}` : `dns-srv/${dnsTarget.name}`;
        return { name, authority: name, endpoints: dns.stable.of(name, endpoints), namespace: undefined };
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
