// Whether a pod on this node is meshed, and why (or why not): every answer carries a reason string
// so /status can say why a pod is left alone instead of silently doing nothing (merbridge#323).
// Meshed is the default; the opt-out is the `weft.io/mesh: disabled` annotation on the pod or its
// namespace, and a pod's own `enabled` overrides its namespace's `disabled`. Pods with nothing to
// capture (no UID to find their cgroup, exited, sharing the node's netns) are skipped whatever the
// annotations say.
import type { NamespaceInfo, PodInfo } from './types.ts';

export const MESH_ANNOTATION = 'weft.io/mesh';

export type MeshDecision =
  | { readonly meshed: true; readonly reason: string }
  | { readonly meshed: false; readonly reason: string };

type Setting = 'enabled' | 'disabled' | 'unset' | { readonly invalid: string };

/** Decides for one pod, given its namespace (undefined when the source lists no such namespace). Pure. */
export function meshDecision(pod: PodInfo, namespace: NamespaceInfo | undefined): MeshDecision {
  if (pod.uid === undefined) return { meshed: false, reason: 'pod has no metadata.uid, so its cgroup cannot be found' };
  if (pod.phase === 'Succeeded' || pod.phase === 'Failed') {
    return { meshed: false, reason: `pod phase is ${pod.phase}: its containers have exited` };
  }
  if (pod.hostNetwork) return { meshed: false, reason: "host-network pod: it shares the node's network namespace" };

  const own = setting(pod.annotations);
  const inherited = namespace === undefined ? 'unset' : setting(namespace.annotations);
  // An unrecognised value is reported, and the decision falls through as if it were unset:
  // a typo must neither mesh nor unmesh silently.
  const note = [invalidNote(own, 'pod'), invalidNote(inherited, `namespace ${pod.namespace}`)].filter((text) => text !== '').join('; ');
  const withNote = (reason: string): string => (note === '' ? reason : `${reason} (${note})`);

  if (own === 'disabled') return { meshed: false, reason: withNote(`pod annotation ${MESH_ANNOTATION}: disabled`) };
  if (own === 'enabled') {
    return {
      meshed: true,
      reason: withNote(
        inherited === 'disabled'
          ? `pod annotation ${MESH_ANNOTATION}: enabled overrides namespace ${pod.namespace}'s disabled`
          : `pod annotation ${MESH_ANNOTATION}: enabled`,
      ),
    };
  }
  if (inherited === 'disabled') {
    return { meshed: false, reason: withNote(`namespace ${pod.namespace} annotation ${MESH_ANNOTATION}: disabled`) };
  }
  return { meshed: true, reason: withNote('meshed by default') };
}

function setting(annotations: Readonly<Record<string, string>>): Setting {
  const value = annotations[MESH_ANNOTATION];
  if (value === undefined) return 'unset';
  const normalized = value.trim().toLowerCase();
  if (normalized === 'enabled' || normalized === 'disabled') return normalized;
  return { invalid: value };
}

function invalidNote(value: Setting, where: string): string {
  if (typeof value !== 'object') return '';
  return `${where} annotation ${MESH_ANNOTATION}: ${JSON.stringify(value.invalid)} ignored; use enabled or disabled`;
}
