// A lab pod as the Kubernetes API would show it, so the inventory and discovery can be fed lab
// pods through the same code path (a fixture API server or a local file) as real ones.
import type { QosClass } from './cgroup-layout.ts';

export interface KubernetesPod {
  readonly apiVersion: 'v1';
  readonly kind: 'Pod';
  readonly metadata: {
    readonly namespace: string;
    readonly name: string;
    readonly uid: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
    readonly creationTimestamp: string;
  };
  readonly spec: {
    readonly nodeName: string;
    readonly containers: ReadonlyArray<{ readonly name: string; readonly image: string }>;
  };
  readonly status: {
    readonly phase: 'Running';
    readonly hostIP: string;
    readonly hostIPs: ReadonlyArray<{ readonly ip: string }>;
    readonly podIP: string;
    readonly podIPs: ReadonlyArray<{ readonly ip: string }>;
    readonly qosClass: QosClass;
    readonly conditions: ReadonlyArray<{ readonly type: string; readonly status: 'True' | 'False' }>;
    readonly containerStatuses: ReadonlyArray<{
      readonly name: string;
      readonly image: string;
      readonly containerID: string;
      readonly ready: boolean;
      readonly started: boolean;
      readonly restartCount: number;
      readonly state: { readonly running: { readonly startedAt: string } };
    }>;
  };
}

export interface KubernetesPodFacts {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly createdAt: Date;
  readonly nodeName: string;
  /** The node's address as pods see it (the lab uses the node bridge's IP). */
  readonly hostIP: string;
  readonly podIP: string;
  readonly qos: QosClass;
  readonly containerName: string;
  readonly containerId: string;
}

/** The image name is decoration: lab containers run host binaries. */
const LAB_IMAGE = 'weft.invalid/lab:host';

export function kubernetesPod(facts: KubernetesPodFacts): KubernetesPod {
  // The API server reports timestamps at whole seconds.
  const created = `${facts.createdAt.toISOString().slice(0, 19)}Z`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: facts.namespace,
      name: facts.name,
      uid: facts.uid,
      labels: { ...facts.labels },
      annotations: { ...facts.annotations },
      creationTimestamp: created,
    },
    spec: { nodeName: facts.nodeName, containers: [{ name: facts.containerName, image: LAB_IMAGE }] },
    status: {
      phase: 'Running',
      hostIP: facts.hostIP,
      hostIPs: [{ ip: facts.hostIP }],
      podIP: facts.podIP,
      podIPs: [{ ip: facts.podIP }],
      qosClass: facts.qos,
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
        type,
        status: 'True' as const,
      })),
      containerStatuses: [
        {
          name: facts.containerName,
          image: LAB_IMAGE,
          containerID: `containerd://${facts.containerId}`,
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: created } },
        },
      ],
    },
  };
}
