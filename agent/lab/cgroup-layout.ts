// The kubelet's cgroup tree, as the agent's inventory must find it: pods live under a "pods root"
// (kubepods.slice or kubepods) by QoS class, each pod dir holds one dir per container. Both kubelet
// cgroup drivers are reproduced exactly, because the inventory maps a pod UID to its cgroup by these
// names and the BPF programs attach at the pods root.
import { WeftError } from '../errors.ts';

export type CgroupDriver = 'systemd' | 'cgroupfs';
export const CGROUP_DRIVERS: readonly CgroupDriver[] = ['systemd', 'cgroupfs'];

/** Kubernetes spells QoS classes this way in `status.qosClass`. */
export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';
export const QOS_CLASSES: readonly QosClass[] = ['Guaranteed', 'Burstable', 'BestEffort'];

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** The pods root relative to the node's cgroup dir: where the agent attaches its programs. */
export function podsRootDir(driver: CgroupDriver): string {
  return driver === 'systemd' ? 'kubepods.slice' : 'kubepods';
}

/** Directories the kubelet creates before any pod (pods root and the two QoS parents), parents first. */
export function nodeCgroupDirs(driver: CgroupDriver): string[] {
  const root = podsRootDir(driver);
  return [root, qosParentDir(driver, 'Burstable'), qosParentDir(driver, 'BestEffort')];
}

/** The directory a pod of class `qos` sits in. Guaranteed pods sit directly in the pods root. */
export function qosParentDir(driver: CgroupDriver, qos: QosClass): string {
  const root = podsRootDir(driver);
  if (qos === 'Guaranteed') return root;
  const lower = qos.toLowerCase();
  return driver === 'systemd' ? `${root}/kubepods-${lower}.slice` : `${root}/${lower}`;
}

/** The pod's cgroup dir relative to the node's cgroup dir. */
export function podCgroupDir(driver: CgroupDriver, qos: QosClass, uid: string): string {
  checkUid(uid);
  const parent = qosParentDir(driver, qos);
  if (driver === 'cgroupfs') return `${parent}/pod${uid}`;
  // systemd unit names cannot carry "-" inside a component (it means nesting), so the kubelet
  // writes the UID's dashes as underscores.
  const escaped = uid.replaceAll('-', '_');
  const slice = qos === 'Guaranteed' ? `kubepods-pod${escaped}.slice` : `kubepods-${qos.toLowerCase()}-pod${escaped}.slice`;
  return `${parent}/${slice}`;
}

/** The container's cgroup dir relative to the node's cgroup dir (containerd naming). */
export function containerCgroupDir(driver: CgroupDriver, qos: QosClass, uid: string, containerId: string): string {
  checkContainerId(containerId);
  const pod = podCgroupDir(driver, qos, uid);
  return driver === 'systemd' ? `${pod}/cri-containerd-${containerId}.scope` : `${pod}/${containerId}`;
}

export function checkUid(uid: string): string {
  if (!UID.test(uid)) {
    throw new WeftError(
      'WEFT_E_LAB_NAME',
      `bad pod UID ${JSON.stringify(uid)}: use a lower-case UUID such as crypto.randomUUID() returns`,
    );
  }
  return uid;
}

export function checkContainerId(id: string): string {
  if (!CONTAINER_ID.test(id)) {
    throw new WeftError('WEFT_E_LAB_NAME', `bad container ID ${JSON.stringify(id)}: use 64 lower-case hex digits`);
  }
  return id;
}
