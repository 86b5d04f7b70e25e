import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { belongsToPrefix, checkName, checkPrefix, netnsName, netnsPath, newPrefix } from '../../../agent/lab/names.ts';
import { removeCgroupTree } from '../../../agent/lab/host-ops.ts';
import { runSync } from '../../../agent/lab/plan.ts';
import { parseLabResource } from '../../../agent/lab/resources.ts';

describe('lab names', () => {
  it('new prefixes are weft-t plus 6 hex digits, and differ', () => {
    const a = newPrefix();
    assert.match(a, /^weft-t[0-9a-f]{6}$/);
    const many = new Set(Array.from({ length: 50 }, () => newPrefix()));
    assert.ok(many.size > 45, 'random suffixes repeat too often');
    assert.match(newPrefix('weft-demo-'), /^weft-demo-[0-9a-f]{6}$/);
  });

  it('a prefix must start with weft- and be a DNS label, so a sweep by prefix only finds our things', () => {
    assert.equal(checkPrefix('weft-t1a2b3c'), 'weft-t1a2b3c');
    for (const bad of ['', 'kube-system', 'weft-', 'weft-T1', 'weft-a/b', 'weft-a b', `weft-${'x'.repeat(40)}`]) {
      assert.throws(() => checkPrefix(bad), { code: 'WEFT_E_LAB_NAME' }, bad);
    }
  });

  it('node and pod names are DNS labels of at most 40 characters', () => {
    assert.equal(checkName('pod', 'client-1'), 'client-1');
    for (const bad of ['', '-a', 'a-', 'A', 'a.b', 'a_b', '../x', 'x'.repeat(41)]) {
      assert.throws(() => checkName('pod', bad), { code: 'WEFT_E_LAB_NAME' }, bad);
    }
  });

  it('a netns is named <prefix>-<name> under /run/netns', () => {
    assert.equal(netnsName('weft-t000001', 'node-a'), 'weft-t000001-node-a');
    assert.equal(netnsPath('weft-t000001-node-a'), '/run/netns/weft-t000001-node-a');
  });

  it('belongsToPrefix needs a separator after the prefix, so one run never claims a longer-named run', () => {
    assert.ok(belongsToPrefix('weft-t1', 'weft-t1'));
    assert.ok(belongsToPrefix('weft-t1-node', 'weft-t1'));
    assert.ok(belongsToPrefix('weft-t1_maps', 'weft-t1'));
    assert.ok(!belongsToPrefix('weft-t12-node', 'weft-t1'));
    assert.ok(!belongsToPrefix('other-weft-t1', 'weft-t1'));
  });
});

describe('lab resource records', () => {
  it('reads back each kind and rejects malformed ones', () => {
    assert.deepEqual(parseLabResource({ kind: 'netns', name: 'weft-t1-a' }), { kind: 'netns', name: 'weft-t1-a' });
    assert.deepEqual(parseLabResource({ kind: 'cgroup', path: '/sys/fs/cgroup/x' }), { kind: 'cgroup', path: '/sys/fs/cgroup/x' });
    assert.deepEqual(parseLabResource({ kind: 'pin', path: '/sys/fs/bpf/x' }), { kind: 'pin', path: '/sys/fs/bpf/x' });
    assert.deepEqual(parseLabResource({ kind: 'pid', pid: 42, startTime: '123' }), { kind: 'pid', pid: 42, startTime: '123' });
    for (const bad of [null, 'netns', {}, { kind: 'cgroup', path: 'relative' }, { kind: 'pid', pid: 1, startTime: '1' }, { kind: 'pid', pid: 4.5, startTime: '1' }, { kind: 'pid', pid: 42 }]) {
      assert.equal(parseLabResource(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('cgroup removal guard', () => {
  it('refuses anything that is not a normalized weft-* tree below the cgroup2 mount', () => {
    const mount = '/sys/fs/cgroup/unified';
    for (const dir of [mount, '/sys/fs/cgroup/unified/process_api', '/sys/fs/cgroup/unified/weft-t1/../x', '/tmp/weft-t1', `${mount}/weft-t1/`]) {
      assert.throws(() => runSync(removeCgroupTree(dir, mount)), { code: 'WEFT_E_LAB_CGROUP' }, dir);
    }
    // Allowed, and a missing tree is simply nothing to do.
    assert.doesNotThrow(() => runSync(removeCgroupTree(`${mount}/weft-tunit-missing/node`, mount)));
  });
});
