// The lookup the outbound proxy makes for every captured connection: the destination the pod
// dialled (a Service's cluster IP and port) → which Service port it meant and the endpoints to
// balance over; and the same by name for logical routing. An immutable snapshot of one good answer
// set, built once per change, with answers memoised: lookups on the connection path allocate nothing
// after the first.
//
// Endpoint selection follows kube-proxy:
// - the port: a Service port's targetPort may name a container port, which only the endpoints
//   controller can resolve (per pod), so the port comes from the slice's port of the same name and
//   protocol; a slice without ports (hand-written) or with a port left open falls back to a numeric
//   targetPort;
// - the endpoints: ready ones; when none is ready, the ones still serving while terminating (so a
//   rollout's last pods finish their work instead of a hard outage); else none;
// - by cluster IP: only the endpoints of that IP's family (a dual-stack Service has one cluster IP
//   and one set of slices per family); by name: both families, unless one is asked for;
// - only an endpoint's first address (the API says addresses are fungible; kube-proxy does the same).
import { isIP, SocketAddress } from 'node:net';
import type { Endpoint, EndpointSliceInfo, Protocol, ServiceInfo, ServiceKey, ServicePort } from './types.ts';
import { serviceKeyString } from './types.ts';

export type EndpointSelection = 'ready' | 'terminating-fallback' | 'none';

export interface ServiceMatch {
  readonly service: ServiceKey;
  /** The Service port's name ('' for an unnamed single port) and number. */
  readonly portName: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Sorted by address:port; only ready endpoints, or the terminating fallback (see `selection`). */
  readonly endpoints: readonly Endpoint[];
  readonly selection: EndpointSelection;
  /**
   * Endpoints the answer lists as terminating (served or not): departures the source announced, so
   * the advisory layer (advisory.ts) does not count them as a sudden drop when they leave the set.
   */
  readonly leaving: readonly Endpoint[];
  /** Endpoints left out because no port could be resolved for them (a named targetPort no slice names). */
  readonly unresolved: number;
}

export interface NameLookupOptions {
  /** Only endpoints of this IP family. */
  readonly family?: 4 | 6;
  readonly protocol?: Protocol;
}

/** IPv6 text in one spelling (RFC 5952, as inet_ntop writes it), so `fd00:0::1` and `fd00::1` match. */
export function canonicalAddress(address: string): string {
  if (isIP(address) !== 6) return address;
  return new SocketAddress({ address, family: 'ipv6' }).address;
}

interface IndexedPort {
  readonly service: ServiceInfo;
  readonly port: ServicePort;
  readonly family: 4 | 6;
}

const NONE: readonly Endpoint[] = Object.freeze([]);

export class ServiceTable {
  static readonly empty = new ServiceTable([], []);

  readonly #services = new Map<string, ServiceInfo>();
  readonly #slices = new Map<string, EndpointSliceInfo[]>();
  /** `ip|port|protocol` → the Service port behind that cluster IP. */
  readonly #byAddress = new Map<string, IndexedPort>();
  readonly #memo = new Map<string, ServiceMatch>();
  readonly sliceCount: number;

  /**
   * Services must be unique by namespace/name and cluster IP (the file source checks it and names the
   * duplicates); given duplicates anyway, the first wins.
   */
  constructor(services: readonly ServiceInfo[], slices: readonly EndpointSliceInfo[]) {
    for (const service of services) {
      const key = serviceKeyString(service);
      if (this.#services.has(key)) continue;
      this.#services.set(key, service);
      for (const ip of service.clusterIPs) {
        const family = isIP(ip) === 6 ? 6 : 4;
        for (const port of service.ports) {
          const addressKey = `${ip}|${port.port}|${port.protocol}`;
          if (!this.#byAddress.has(addressKey)) this.#byAddress.set(addressKey, { service, port, family });
        }
      }
    }
    for (const slice of slices) {
      const key = `${slice.namespace}/${slice.serviceName}`;
      const list = this.#slices.get(key);
      if (list === undefined) this.#slices.set(key, [slice]);
      else list.push(slice);
    }
    this.sliceCount = slices.length;
  }

  get services(): readonly ServiceInfo[] {
    return [...this.#services.values()];
  }

  service(key: ServiceKey): ServiceInfo | undefined {
    return this.#services.get(serviceKeyString(key));
  }

  /** The Service port a pod meant by dialling `address:port`, with its endpoints of that family. */
  byAddress(address: string, port: number, protocol: Protocol = 'TCP'): ServiceMatch | undefined {
    const indexed = this.#byAddress.get(`${canonicalAddress(address)}|${port}|${protocol}`);
    if (indexed === undefined) return undefined;
    return this.#match(indexed.service, indexed.port, indexed.family);
  }

  /** A Service port by its name (a string) or number, with endpoints of both families unless asked. */
  byName(key: ServiceKey, port: number | string, options: NameLookupOptions = {}): ServiceMatch | undefined {
    const service = this.#services.get(serviceKeyString(key));
    if (service === undefined) return undefined;
    const protocol = options.protocol ?? 'TCP';
    const servicePort = service.ports.find((p) => p.protocol === protocol && (typeof port === 'number' ? p.port === port : p.name === port));
    if (servicePort === undefined) return undefined;
    return this.#match(service, servicePort, options.family);
  }

  #match(service: ServiceInfo, port: ServicePort, family: 4 | 6 | undefined): ServiceMatch {
    const memoKey = `${serviceKeyString(service)}|${port.name}|${port.port}|${port.protocol}|${family ?? 'any'}`;
    const memoised = this.#memo.get(memoKey);
    if (memoised !== undefined) return memoised;
    const candidates = new Map<string, Endpoint>();
    let unresolved = 0;
    for (const slice of this.#slices.get(serviceKeyString(service)) ?? []) {
      // FQDN slices are deprecated and name hosts, not addresses: nothing to connect to here.
      if (slice.addressType === 'FQDN') continue;
      if (family !== undefined && slice.addressType !== (family === 4 ? 'IPv4' : 'IPv6')) continue;
      const number = slicePort(slice, port);
      if (number === undefined) {
        unresolved += slice.endpoints.length;
        continue;
      }
      for (const endpoint of slice.endpoints) {
        const address = endpoint.addresses[0];
        if (address === undefined) continue;
        const candidate: Endpoint = {
          address,
          port: number,
          ready: endpoint.ready,
          serving: endpoint.serving,
          terminating: endpoint.terminating,
          ...(endpoint.podName === undefined ? {} : { podName: endpoint.podName }),
          ...(endpoint.podNamespace === undefined ? {} : { podNamespace: endpoint.podNamespace }),
          ...(endpoint.nodeName === undefined ? {} : { nodeName: endpoint.nodeName }),
          ...(endpoint.zone === undefined ? {} : { zone: endpoint.zone }),
        };
        const key = endpointKey(candidate);
        const existing = candidates.get(key);
        // The same endpoint in two slices (a slice being split or merged): the readier copy wins.
        if (existing === undefined || rank(candidate) > rank(existing)) candidates.set(key, candidate);
      }
    }
    const all = [...candidates.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, endpoint]) => endpoint);
    const ready = all.filter((endpoint) => endpoint.ready);
    const draining = ready.length > 0 ? [] : all.filter((endpoint) => endpoint.serving && endpoint.terminating);
    const match: ServiceMatch = {
      service: { namespace: service.namespace, name: service.name },
      portName: port.name,
      port: port.port,
      protocol: port.protocol,
      endpoints: ready.length > 0 ? ready : draining,
      selection: ready.length > 0 ? 'ready' : draining.length > 0 ? 'terminating-fallback' : 'none',
      leaving: all.some((endpoint) => endpoint.terminating) ? all.filter((endpoint) => endpoint.terminating) : NONE,
      unresolved,
    };
    this.#memo.set(memoKey, match);
    return match;
  }
}

/** `10.0.0.1:80`, `[fd00::1]:80`: the balancer's endpoint key spelling. */
export function endpointKey(endpoint: { readonly address: string; readonly port: number }): string {
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

/** The endpoint port a slice gives for a Service port, or undefined when it cannot say. */
function slicePort(slice: EndpointSliceInfo, port: ServicePort): number | undefined {
  const numericTarget = typeof port.targetPort === 'number' ? port.targetPort : undefined;
  if (slice.ports === undefined || slice.ports.length === 0) return numericTarget;
  const named = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol);
  if (named === undefined) return undefined;
  return named.port ?? numericTarget;
}

function rank(endpoint: Endpoint): number {
  return (endpoint.ready ? 2 : 0) + (endpoint.serving ? 1 : 0);
}
