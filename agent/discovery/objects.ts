// Services and EndpointSlices as Kubernetes serves them, validated with zod and reduced to what
// discovery uses, with the API's defaults and nil meanings applied here once (protocol TCP,
// targetPort = port, ready nil = ready, serving nil = ready, terminating nil = not terminating).
// Shared by the file source now and the Kubernetes source later, so both read objects alike.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { ObjectParse } from '../inventory/object-file.ts';
import { canonicalAddress } from './service-table.ts';
import type { EndpointSliceInfo, ServiceInfo, SliceEndpoint } from './types.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const protocol = z.enum(['TCP', 'UDP', 'SCTP'], { error: 'expected TCP, UDP or SCTP' });
const portWith = (problem: string) => z.number({ error: problem }).int({ error: problem }).min(1, { error: problem }).max(65535, { error: problem });
const portNumber = portWith('expected a port number (1-65535)');
// targetPort: a number, or the name of a container port (an IANA service name: up to 15 characters).
const targetPortProblem = 'expected a port number (1-65535) or a container port name (a-z, 0-9 and -, up to 15)';
const targetPort = z.union([portWith(targetPortProblem), z.string().regex(/^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/, { error: targetPortProblem })], {
  error: targetPortProblem,
});
const clusterIp = z.string().refine((value) => value === '' || value === 'None' || isIP(value) !== 0, {
  error: 'expected an IPv4 or IPv6 address, or None',
});

const serviceSchema = z.object({
  metadata: z.object({
    namespace: z.string().min(1).nullish(),
    name: z.string().min(1, { error: 'required' }),
  }),
  spec: z
    .object({
      clusterIP: clusterIp.nullish(),
      clusterIPs: z.array(clusterIp).nullish(),
      ports: z
        .array(
          z.object({
            name: z.string().nullish(),
            port: portNumber,
            targetPort: targetPort.nullish(),
            protocol: protocol.nullish(),
          }),
        )
        .nullish(),
    })
    .superRefine((spec, ctx) => {
      // Kubernetes refuses these too: a port name or number must pick one port.
      const names = new Map<string, number>();
      const numbers = new Map<string, number>();
      for (const [index, port] of (spec.ports ?? []).entries()) {
        const name = port.name ?? '';
        const seenName = names.get(name);
        if (seenName !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['ports', index, 'name'], message: `port name ${JSON.stringify(name)} is also used by ports[${seenName}]; give each port its own name` });
        }
        names.set(name, index);
        const number = `${port.port}/${port.protocol ?? 'TCP'}`;
        const seenNumber = numbers.get(number);
        if (seenNumber !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['ports', index, 'port'], message: `${number} is also ports[${seenNumber}]` });
        }
        numbers.set(number, index);
      }
    })
    .nullish(),
});

const sliceSchema = z
  .object({
    metadata: z.object({
      namespace: z.string().min(1).nullish(),
      name: z.string().min(1, { error: 'required' }),
      labels: z
        .object({ [SERVICE_NAME_LABEL]: z.string({ error: 'required: the name of the Service this slice belongs to' }).min(1) })
        .catchall(z.string()),
    }),
    addressType: z.enum(['IPv4', 'IPv6', 'FQDN'], { error: 'expected IPv4, IPv6 or FQDN' }),
    endpoints: z
      .array(
        z.object({
          addresses: z.array(z.string()).min(1, { error: 'an endpoint needs at least one address' }),
          conditions: z
            .object({ ready: z.boolean().nullish(), serving: z.boolean().nullish(), terminating: z.boolean().nullish() })
            .nullish(),
          nodeName: z.string().nullish(),
          zone: z.string().nullish(),
          targetRef: z.object({ kind: z.string().nullish(), namespace: z.string().nullish(), name: z.string().nullish() }).nullish(),
        }),
      )
      .nullish(),
    ports: z
      .array(z.object({ name: z.string().nullish(), port: portNumber.nullish(), protocol: protocol.nullish() }))
      .nullish(),
  })
  .superRefine((slice, ctx) => {
    if (slice.addressType === 'FQDN') return;
    const family = slice.addressType === 'IPv4' ? 4 : 6;
    for (const [i, endpoint] of (slice.endpoints ?? []).entries()) {
      for (const [j, address] of endpoint.addresses.entries()) {
        if (isIP(address) !== family) {
          ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'addresses', j], message: `${JSON.stringify(address)} is not an ${slice.addressType} address (addressType)` });
        }
      }
    }
  });

/** A Service object → ServiceInfo, or the field problems. Pure. */
export function serviceFromObject(object: unknown): ObjectParse<ServiceInfo> {
  const parsed = serviceSchema.safeParse(object);
  if (!parsed.success) return { kind: 'invalid', issues: parsed.error.issues };
  const { metadata, spec } = parsed.data;
  const ips: string[] = [];
  for (const ip of [...(spec?.clusterIPs ?? []), spec?.clusterIP ?? '']) {
    if (ip === '' || ip === 'None') continue;
    const canonical = canonicalAddress(ip);
    if (!ips.includes(canonical)) ips.push(canonical);
  }
  return {
    kind: 'ok',
    value: {
      namespace: metadata.namespace ?? 'default',
      name: metadata.name,
      clusterIPs: ips,
      ports: (spec?.ports ?? []).map((port) => ({
        name: port.name ?? '',
        port: port.port,
        targetPort: port.targetPort ?? port.port,
        protocol: port.protocol ?? 'TCP',
      })),
    },
  };
}

/** An EndpointSlice object → EndpointSliceInfo, or the field problems. Pure. */
export function endpointSliceFromObject(object: unknown): ObjectParse<EndpointSliceInfo> {
  const parsed = sliceSchema.safeParse(object);
  if (!parsed.success) return { kind: 'invalid', issues: parsed.error.issues };
  const { metadata, addressType, endpoints, ports } = parsed.data;
  const serviceName = metadata.labels[SERVICE_NAME_LABEL] ?? '';
  return {
    kind: 'ok',
    value: {
      namespace: metadata.namespace ?? 'default',
      name: metadata.name,
      serviceName,
      addressType,
      endpoints: (endpoints ?? []).map((endpoint): SliceEndpoint => {
        const ready = endpoint.conditions?.ready ?? true;
        const ref = endpoint.targetRef;
        const isPod = ref !== undefined && ref !== null && (ref.kind ?? 'Pod') === 'Pod';
        return {
          addresses: addressType === 'FQDN' ? endpoint.addresses : endpoint.addresses.map(canonicalAddress),
          ready,
          serving: endpoint.conditions?.serving ?? ready,
          terminating: endpoint.conditions?.terminating ?? false,
          ...(isPod && typeof ref.name === 'string' ? { podName: ref.name } : {}),
          ...(isPod && typeof ref.namespace === 'string' ? { podNamespace: ref.namespace } : {}),
          ...(typeof endpoint.nodeName === 'string' ? { nodeName: endpoint.nodeName } : {}),
          ...(typeof endpoint.zone === 'string' ? { zone: endpoint.zone } : {}),
        };
      }),
      ports:
        ports === undefined || ports === null
          ? undefined
          : ports.map((port) => ({ name: port.name ?? '', port: port.port ?? undefined, protocol: port.protocol ?? 'TCP' })),
    },
  };
}
