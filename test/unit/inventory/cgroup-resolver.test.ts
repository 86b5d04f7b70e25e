import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { driverOf, podCgroupCandidates, podCgroupName, podsRootAuto, resolvePodCgroup } from '../../../agent/inventory/cgroup-resolver.ts';
import type { CgroupResolution } from '../../../agent/inventory/cgroup-resolver.ts';
import { QOS_CLASSES } from '../../../agent/inventory/types.ts';
// The lab builds kubelet trees by its own, independent spelling of the same naming: finding what it
// builds cross-checks both.
import { CGROUP_DRIVERS, podCgroupDir, podsRootDir } from '../../../agent/lab/cgroup-layout.ts';
import { TempDir, UID_A, UID_B } from './fixtures.ts';

function found(result: CgroupResolution): Extract<CgroupResolution, { kind: 'found' }> {
  if (result.kind !== 'found') assert.fail(`expected the cgroup, got not-found: ${result.reason}`);
  return result;
}

describe('pod cgroup names', () => {
  it('systemd: kubepods-pod<uid_>.slice for Guaranteed, kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice otherwise', () => {
    assert.equal(podCgroupName('systemd', 'kubepods.slice', 'Guaranteed', UID_A), 'kubepods-pod0b5e6b4c_1f2a_4d3e_9c8b_7a6f5e4d3c2b.slice');
    assert.equal(
      podCgroupName('systemd', 'kubepods.slice', 'Burstable', UID_A),
      'kubepods-burstable.slice/kubepods-burstable-pod0b5e6b4c_1f2a_4d3e_9c8b_7a6f5e4d3c2b.slice',
    );
    assert.equal(
      podCgroupName('systemd', 'kubepods.slice', 'BestEffort', UID_A),
      'kubepods-besteffort.slice/kubepods-besteffort-pod0b5e6b4c_1f2a_4d3e_9c8b_7a6f5e4d3c2b.slice',
    );
  });

  it('systemd under another root slice takes that slice\'s name as the prefix (kubelet --cgroup-root=/kubelet)', () => {
    assert.equal(
      podCgroupName('systemd', 'kubelet-kubepods.slice', 'Burstable', UID_A),
      'kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod0b5e6b4c_1f2a_4d3e_9c8b_7a6f5e4d3c2b.slice',
    );
  });

  it('cgroupfs: pod<uid> for Guaranteed, <qos>/pod<uid> otherwise, the UID as it is', () => {
    assert.equal(podCgroupName('cgroupfs', 'kubepods', 'Guaranteed', UID_A), `pod${UID_A}`);
    assert.equal(podCgroupName('cgroupfs', 'kubepods', 'Burstable', UID_A), `burstable/pod${UID_A}`);
    assert.equal(podCgroupName('cgroupfs', 'kubepods', 'BestEffort', UID_A), `besteffort/pod${UID_A}`);
  });

  it('the driver follows the root: a .slice is systemd, anything else cgroupfs', () => {
    assert.equal(driverOf('/sys/fs/cgroup/kubepods.slice'), 'systemd');
    assert.equal(driverOf('/sys/fs/cgroup/kubepods'), 'cgroupfs');
    assert.equal(driverOf('/sys/fs/cgroup/custom-pods'), 'cgroupfs');
  });

  it('searches the QoS hint first, then the other classes', () => {
    assert.deepEqual(podCgroupCandidates('/r/kubepods', UID_A, { qosClass: 'BestEffort' })?.map((c) => c.qos), ['BestEffort', 'Guaranteed', 'Burstable']);
    assert.deepEqual(podCgroupCandidates('/r/kubepods', UID_A)?.map((c) => c.qos), ['Guaranteed', 'Burstable', 'BestEffort']);
  });

  it('a UID that is not a UUID yields no candidates (no path can be built from it)', () => {
    assert.equal(podCgroupCandidates('/r/kubepods', '../../etc'), undefined);
    const result = resolvePodCgroup('/r/kubepods', '../../etc');
    assert.equal(result.kind, 'not-found');
    assert.deepEqual(result.kind === 'not-found' ? result.searched : ['?'], []);
  });
});

describe('resolvePodCgroup on a fake kubelet tree', () => {
  const dir = new TempDir();
  after(() => dir.remove());

  for (const driver of CGROUP_DRIVERS) {
    for (const qos of QOS_CLASSES) {
      it(`${driver} driver, ${qos}: finds the dir the lab builds, with its inode as the cgroup id, with or without a QoS hint`, () => {
        const node = dir.file(`${driver}-${qos}`);
        const podDir = join(node, podCgroupDir(driver, qos, UID_A));
        mkdirSync(join(podDir, 'cri-containerd-abc.scope'), { recursive: true });
        const root = join(node, podsRootDir(driver));
        const expectedId = statSync(podDir, { bigint: true }).ino;
        for (const hint of [undefined, qos, 'Guaranteed' as const]) {
          const result = found(resolvePodCgroup(root, UID_A, { qosClass: hint }));
          assert.equal(result.path, podDir);
          assert.equal(result.cgroupId, expectedId);
          assert.equal(result.driver, driver);
          assert.equal(result.qos, qos);
        }
      });
    }
  }

  it('not found: says where it looked, and that the kubelet may not have made it yet', () => {
    const root = dir.file('empty/kubepods.slice');
    mkdirSync(root, { recursive: true });
    const result = resolvePodCgroup(root, UID_B);
    assert.equal(result.kind, 'not-found');
    if (result.kind !== 'not-found') return;
    assert.deepEqual(result.searched, [
      `${root}/kubepods-pod1c6f7c5d_2a3b_4e4f_8d9c_8b7a6f5e4d3c.slice`,
      `${root}/kubepods-burstable.slice/kubepods-burstable-pod1c6f7c5d_2a3b_4e4f_8d9c_8b7a6f5e4d3c.slice`,
      `${root}/kubepods-besteffort.slice/kubepods-besteffort-pod1c6f7c5d_2a3b_4e4f_8d9c_8b7a6f5e4d3c.slice`,
    ]);
    assert.match(result.reason, /^no cgroup for pod 1c6f7c5d-.* under .* \(systemd driver, all QoS classes searched\); the kubelet may not have created it yet$/);
  });

  it('a pods root that does not exist is named as the problem', () => {
    const result = resolvePodCgroup(dir.file('nowhere/kubepods'), UID_A);
    assert.match(result.kind === 'not-found' ? result.reason : '', /^pods root .*nowhere\/kubepods does not exist; set the pods root/);
  });

  it('a file where the pod dir should be is not a cgroup', () => {
    const root = dir.file('file-not-dir/kubepods');
    mkdirSync(join(root, 'burstable'), { recursive: true });
    dir.write(`file-not-dir/kubepods/burstable/pod${UID_A}`, '');
    assert.equal(resolvePodCgroup(root, UID_A).kind, 'not-found');
  });

  it('property: any UUID, driver and class the lab lays out is found', () => {
    let n = 0;
    fc.assert(
      fc.property(fc.uuid({ version: 4 }), fc.constantFrom(...CGROUP_DRIVERS), fc.constantFrom(...QOS_CLASSES), (uid, driver, qos) => {
        const node = dir.file(`prop-${n++}`);
        mkdirSync(join(node, podCgroupDir(driver, qos, uid)), { recursive: true });
        const result = found(resolvePodCgroup(join(node, podsRootDir(driver)), uid));
        assert.equal(result.qos, qos);
      }),
      { numRuns: 40 },
    );
  });
});

describe('podsRootAuto', () => {
  const dir = new TempDir();
  after(() => dir.remove());

  it('finds kubepods.slice, kubepods, or a kubelet-rooted tree under the mount; else lists what it tried', () => {
    const systemd = dir.file('m1');
    mkdirSync(join(systemd, 'kubepods.slice'), { recursive: true });
    assert.deepEqual(podsRootAuto(systemd), { kind: 'found', path: join(systemd, 'kubepods.slice'), driver: 'systemd' });

    const cgroupfs = dir.file('m2');
    mkdirSync(join(cgroupfs, 'kubepods'), { recursive: true });
    assert.deepEqual(podsRootAuto(cgroupfs), { kind: 'found', path: join(cgroupfs, 'kubepods'), driver: 'cgroupfs' });

    const kind = dir.file('m3');
    mkdirSync(join(kind, 'kubelet.slice/kubelet-kubepods.slice'), { recursive: true });
    assert.deepEqual(podsRootAuto(kind), { kind: 'found', path: join(kind, 'kubelet.slice/kubelet-kubepods.slice'), driver: 'systemd' });

    const none = dir.file('m4');
    mkdirSync(none);
    const result = podsRootAuto(none);
    assert.equal(result.kind, 'not-found');
    assert.equal(result.kind === 'not-found' ? result.searched.length : 0, 4);
  });
});
