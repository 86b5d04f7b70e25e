import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PodPlacement } from '../../../agent/inventory/resolver.ts';
import { PodResolver } from '../../../agent/inventory/resolver.ts';
import { TempDir, UID_A, UID_B } from './fixtures.ts';
import { cgroupWith, FakeProc } from './proc-fixture.ts';

type Ready = Extract<PodPlacement, { kind: 'ready' }>;

function ready(placement: PodPlacement): Ready {
  if (placement.kind !== 'ready') assert.fail(`expected ready, got not-ready: ${placement.reason}`);
  return placement;
}

describe('PodResolver: pod → cgroup → netns', () => {
  const dir = new TempDir();
  after(() => dir.remove());

  function node(name: string): { root: string; proc: FakeProc; podDir: string } {
    const root = dir.file(`${name}/kubepods.slice`);
    const podDir = join(root, 'kubepods-burstable.slice', `kubepods-burstable-pod${UID_A.replaceAll('-', '_')}.slice`);
    return { root, proc: new FakeProc(dir.file(`${name}/proc`)), podDir };
  }

  it('ready: cgroup path and id, netns path and identity, and the process it came through', () => {
    const { root, proc, podDir } = node('n1');
    proc.addProcess(10, 'pause', 100);
    cgroupWith(podDir, []);
    cgroupWith(join(podDir, 'cri-containerd-x.scope'), [10]);
    const placement = ready(new PodResolver({ podsRoot: root, procRoot: proc.root }).resolve({ uid: UID_A, qosClass: 'Burstable' }));
    const ns = statSync(proc.netnsPath(10), { bigint: true });
    assert.deepEqual(placement, {
      kind: 'ready',
      cgroupPath: podDir,
      cgroupId: statSync(podDir, { bigint: true }).ino,
      netnsPath: proc.netnsPath(10),
      netnsDev: ns.dev,
      netnsInode: ns.ino,
      netnsId: `${ns.dev}:${ns.ino}`,
      pid: 10,
    });
  });

  it('not ready, retryable: no cgroup yet; cgroup but no process yet', () => {
    const { root, proc, podDir } = node('n2');
    const resolver = new PodResolver({ podsRoot: root, procRoot: proc.root });
    const before = resolver.resolve({ uid: UID_A });
    assert.deepEqual(before.kind === 'not-ready' ? [before.code, before.retryable] : [], ['WEFT_E_INVENTORY_CGROUP_NOT_FOUND', true]);
    cgroupWith(podDir, []);
    const empty = resolver.resolve({ uid: UID_A });
    assert.deepEqual(empty.kind === 'not-ready' ? [empty.code, empty.retryable] : [], ['WEFT_E_INVENTORY_NO_PROCESS', true]);
  });

  it('not ready, not retryable: a UID no cgroup can carry', () => {
    const { root, proc } = node('n3');
    const placement = new PodResolver({ podsRoot: root, procRoot: proc.root }).resolve({ uid: 'not-a-uuid' });
    assert.deepEqual(placement.kind === 'not-ready' ? placement.retryable : undefined, false);
  });

  it('a pod whose netns is the host\'s is refused (a hostNetwork pod the source did not report)', () => {
    const { root, proc, podDir } = node('n4');
    proc.addProcess(10, 'pause', 100);
    cgroupWith(podDir, [10]);
    const host = statSync(proc.netnsPath(10), { bigint: true });
    const placement = new PodResolver({ podsRoot: root, procRoot: proc.root, hostNetns: { dev: host.dev, ino: host.ino } }).resolve({ uid: UID_A });
    assert.equal(placement.kind === 'not-ready' ? placement.code : placement.kind, 'WEFT_E_INVENTORY_HOST_NETNS');
    assert.equal(placement.kind === 'not-ready' ? placement.retryable : true, false);
  });

  it('by default the host netns is the agent\'s own: a real pod netns is not it', () => {
    const { root, proc, podDir } = node('n5');
    proc.addProcess(10, 'pause', 100);
    cgroupWith(podDir, [10]);
    // procRoot is fake (no `self`), so compare against the real one explicitly.
    const own = statSync('/proc/self/ns/net', { bigint: true });
    assert.equal(new PodResolver({ podsRoot: root, procRoot: proc.root, hostNetns: { dev: own.dev, ino: own.ino } }).resolve({ uid: UID_A }).kind, 'ready');
  });

  it('recheck: same while nothing moved; changed when the netns process is replaced; gone with the cgroup', () => {
    const { root, proc, podDir } = node('n6');
    proc.addProcess(10, 'pause', 100);
    cgroupWith(podDir, [10]);
    const resolver = new PodResolver({ podsRoot: root, procRoot: proc.root, hostNetns: 'none' });
    const placement = ready(resolver.resolve({ uid: UID_A }));
    assert.deepEqual(resolver.recheck(placement), { kind: 'same' });
    // Sandbox recreated: the pause process is gone and a new one, in a new netns, took its PID.
    // (The new netns is made before the old one is removed, so the fake fs cannot reuse the inode.)
    proc.addProcess(20, 'new-sandbox', 150);
    proc.exit(10);
    proc.addProcess(10, 'pause', 200, 20);
    assert.equal(resolver.recheck(placement).kind, 'changed');
    assert.notEqual(ready(resolver.resolve({ uid: UID_A })).netnsId, placement.netnsId);
    rmSync(podDir, { recursive: true });
    assert.equal(resolver.recheck(placement).kind, 'gone');
  });

  it('another pod\'s UID does not match this pod\'s cgroup', () => {
    const { root, proc, podDir } = node('n7');
    proc.addProcess(10, 'pause', 100);
    cgroupWith(podDir, [10]);
    assert.equal(new PodResolver({ podsRoot: root, procRoot: proc.root }).resolve({ uid: UID_B }).kind, 'not-ready');
  });
});
