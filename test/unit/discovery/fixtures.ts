// Service and EndpointSlice objects as the API serves them, for the discovery tests.

export interface PortSpec {
  readonly name?: string;
  readonly port: number;
  readonly targetPort?: number | string;
  readonly protocol?: string;
}

export function serviceObject(namespace: string, name: string, clusterIPs: readonly string[], ports: readonly PortSpec[]): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace, name },
    spec: { ...(clusterIPs[0] === undefined ? {} : { clusterIP: clusterIPs[0] }), clusterIPs, ports },
  };
}

export interface EndpointSpec {
  readonly ip: string;
  readonly ready?: boolean | null;
  readonly serving?: boolean | null;
  readonly terminating?: boolean | null;
  readonly pod?: string;
  readonly node?: string;
}

export function sliceObject(
  namespace: string,
  name: string,
  service: string,
  addressType: 'IPv4' | 'IPv6' | 'FQDN',
  endpoints: readonly EndpointSpec[],
  ports: ReadonlyArray<{ name?: string; port?: number | null; protocol?: string }> | undefined,
): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace, name, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'test' } },
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ...(e.ready === undefined ? {} : { ready: e.ready }),
        ...(e.serving === undefined ? {} : { serving: e.serving }),
        ...(e.terminating === undefined ? {} : { terminating: e.terminating }),
      },
      ...(e.pod === undefined ? {} : { targetRef: { kind: 'Pod', namespace, name: e.pod } }),
      ...(e.node === undefined ? {} : { nodeName: e.node }),
    })),
    ...(ports === undefined ? {} : { ports }),
  };
}

export function list(items: readonly unknown[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2);
}
