// Pods and Namespaces as Kubernetes serves them, validated with zod and reduced to what the
// inventory uses. Shared by the file source now and the Kubernetes source later, so both read
// objects alike.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { ObjectParse } from './object-file.ts';
import type { NamespaceInfo, PodInfo } from './types.ts';
import { POD_PHASES, QOS_CLASSES } from './types.ts';

// Kubernetes writes UIDs as lower-case UUIDs; the check also keeps path separators out of the
// cgroup names built from them.
const UID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const stringMap = z.record(z.string(), z.string()).nullish();
const ip = z.string().refine((value) => isIP(value) !== 0, { error: 'expected an IPv4 or IPv6 address' });

const podSchema = z.object({
  metadata: z.object({
    // A manifest without a namespace means `default`, as kubectl reads it.
    namespace: z.string().min(1).nullish(),
    name: z.string().min(1, { error: 'required' }),
    uid: z.string().regex(UID, { error: 'expected a UUID such as the API server assigns' }).nullish(),
    labels: stringMap,
    annotations: stringMap,
  }),
  spec: z
    .object({
      nodeName: z.string().min(1).nullish(),
      hostNetwork: z.boolean().nullish(),
    })
    .nullish(),
  status: z
    .object({
      phase: z.enum(POD_PHASES, { error: `expected one of ${POD_PHASES.join(', ')}` }).nullish(),
      podIP: ip.nullish(),
      podIPs: z.array(z.object({ ip })).nullish(),
      qosClass: z.enum(QOS_CLASSES, { error: `expected one of ${QOS_CLASSES.join(', ')}` }).nullish(),
    })
    .nullish(),
});

const namespaceSchema = z.object({
  metadata: z.object({
    name: z.string().min(1, { error: 'required' }),
    labels: stringMap,
    annotations: stringMap,
  }),
});

/** A Pod object → PodInfo, or the field problems. Pure. */
export function podFromObject(object: unknown): ObjectParse<PodInfo> {
  const parsed = podSchema.safeParse(object);
  return parsed.success ? { kind: 'ok', value: toPodInfo(parsed.data) } : { kind: 'invalid', issues: parsed.error.issues };
}

/** A Namespace object → NamespaceInfo, or the field problems. Pure. */
export function namespaceFromObject(object: unknown): ObjectParse<NamespaceInfo> {
  const parsed = namespaceSchema.safeParse(object);
  if (!parsed.success) return { kind: 'invalid', issues: parsed.error.issues };
  const { metadata } = parsed.data;
  return { kind: 'ok', value: { name: metadata.name, labels: { ...metadata.labels }, annotations: { ...metadata.annotations } } };
}

type PodObject = z.infer<typeof podSchema>;

function toPodInfo(data: PodObject): PodInfo {
  const { metadata, spec, status } = data;
  const ips = status?.podIPs?.map((entry) => entry.ip) ?? (status?.podIP === undefined || status.podIP === null ? [] : [status.podIP]);
  return {
    namespace: metadata.namespace ?? 'default',
    name: metadata.name,
    ...(metadata.uid === undefined || metadata.uid === null ? {} : { uid: metadata.uid }),
    labels: { ...metadata.labels },
    annotations: { ...metadata.annotations },
    podIPs: ips,
    ...(spec?.nodeName === undefined || spec.nodeName === null ? {} : { nodeName: spec.nodeName }),
    ...(status?.phase === undefined || status.phase === null ? {} : { phase: status.phase }),
    hostNetwork: spec?.hostNetwork === true,
    ...(status?.qosClass === undefined || status.qosClass === null ? {} : { qosClass: status.qosClass }),
  };
}
