import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CGROUP_DRIVERS,
  QOS_CLASSES,
  containerCgroupDir,
  nodeCgroupDirs,
  podCgroupDir,
  podsRootDir,
  qosParentDir,
} from '../../../agent/lab/cgroup-layout.ts';

const uid = '0b5e6b4c-1f2a-4d3e-9c8b-7a6f5e4d3c2b';
const id = 'a'.repeat(64);

describe('kubelet cgroup layout', () => {
  it('systemd driver: kubepods.slice, QoS slices, pod slice with the UID dashes as underscores, cri-containerd scope', () => {
    assert.equal(
      containerCgroupDir('systemd', 'Burstable', uid, id),
      `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b5e6b4c_1f2a_4d3e_9c8b_7a6f5e4d3c2b.slice/cri-containerd-${id}.scope`,
    );
    assert.equal(
      containerCgroupDir('systemd', 'BestEffort', uid, id),
      `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0b5e6b4c_1f2a_4d3e_9c8b_7a6f5e4d3c2b.slice/cri-containerd-${id}.scope`,
    );
  });

  it('systemd driver: Guaranteed pods sit directly in kubepods.slice', () => {
    assert.equal(
      podCgroupDir('systemd', 'Guaranteed', uid),
      'kubepods.slice/kubepods-pod0b5e6b4c_1f2a_4d3e_9c8b_7a6f5e4d3c2b.slice',
    );
  });

  it('cgroupfs driver: kubepods/<qos>/pod<uid>/<id>, the UID kept as it is', () => {
    assert.equal(containerCgroupDir('cgroupfs', 'Burstable', uid, id), `kubepods/burstable/pod${uid}/${id}`);
    assert.equal(containerCgroupDir('cgroupfs', 'BestEffort', uid, id), `kubepods/besteffort/pod${uid}/${id}`);
    assert.equal(containerCgroupDir('cgroupfs', 'Guaranteed', uid, id), `kubepods/pod${uid}/${id}`);
  });

  it('every pod dir lies below its QoS parent, which lies below the pods root the kubelet creates', () => {
    for (const driver of CGROUP_DRIVERS) {
      const created = nodeCgroupDirs(driver);
      assert.equal(created[0], podsRootDir(driver));
      for (const qos of QOS_CLASSES) {
        const parent = qosParentDir(driver, qos);
        assert.ok(created.includes(parent), `${driver}/${qos}: ${parent} is made with the node`);
        assert.ok(podCgroupDir(driver, qos, uid).startsWith(`${parent}/`));
        assert.ok(containerCgroupDir(driver, qos, uid, id).startsWith(`${podCgroupDir(driver, qos, uid)}/`));
      }
    }
  });

  it('rejects UIDs and container IDs that are not the kubelet shapes', () => {
    assert.throws(() => podCgroupDir('systemd', 'Burstable', 'not-a-uid'), { code: 'WEFT_E_LAB_NAME' });
    assert.throws(() => podCgroupDir('systemd', 'Burstable', uid.toUpperCase()), { code: 'WEFT_E_LAB_NAME' });
    assert.throws(() => podCgroupDir('cgroupfs', 'Burstable', '../../etc'), { code: 'WEFT_E_LAB_NAME' });
    assert.throws(() => containerCgroupDir('systemd', 'Burstable', uid, 'abc'), { code: 'WEFT_E_LAB_NAME' });
  });
});
