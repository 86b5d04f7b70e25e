import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseCgroupProcs, parseProcStatStartTime, resolveCgroupNetns } from '../../../agent/inventory/netns-resolver.ts';
import type { NetnsResolution } from '../../../agent/inventory/netns-resolver.ts';
import { TempDir } from './fixtures.ts';
import { cgroupWith, FakeProc, statLine } from './proc-fixture.ts';

function found(result: NetnsResolution): Extract<NetnsResolution, { kind: 'found' }> {
  if (result.kind !== 'found') assert.fail(`expected a netns, got ${result.kind}: ${result.kind === 'error' ? result.error.message : result.reason}`);
  return result;
}

describe('parseCgroupProcs', () => {
  it('reads one PID a line and ignores blanks and junk', () => {
    assert.deepEqual(parseCgroupProcs('1234\n5678\n'), [1234, 5678]);
    assert.deepEqual(parseCgroupProcs(''), []);
    assert.deepEqual(parseCgroupProcs('\n 42 \nx\n0\n-1\n'), [42]);
  });
});

describe('parseProcStatStartTime', () => {
  it('takes field 22, counting after the last ")" so a command name with spaces and parentheses cannot shift it', () => {
    assert.equal(parseProcStatStartTime(statLine(1, 'pause', 4711)), 4711n);
    assert.equal(parseProcStatStartTime(statLine(1, 'a) (b c) d', 99)), 99n);
    assert.equal(parseProcStatStartTime('garbage'), undefined);
    assert.equal(parseProcStatStartTime('1 (x) S 1 2'), undefined);
  });

  it('reads this process\'s real /proc/self/stat', () => {
    const start = parseProcStatStartTime(readFileSync('/proc/self/stat', 'utf8'));
    assert.equal(typeof start, 'bigint');
    assert.ok((start ?? 0n) > 0n);
  });

  it('property: any command name and start time round-trip', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 15 }).filter((s) => !s.includes('\n')), fc.bigInt({ min: 0n, max: 2n ** 63n }), (comm, start) => {
        assert.equal(parseProcStatStartTime(statLine(321, comm, start)), start);
      }),
    );
  });
});

describe('resolveCgroupNetns on a fake cgroup tree and procfs', () => {
  const dir = new TempDir();
  after(() => dir.remove());

  it('prefers the oldest process (the pause process) among the pod cgroup and its container cgroups', () => {
    const proc = new FakeProc(dir.file('p1/proc'));
    proc.addProcess(100, 'pause', 500);
    proc.addProcess(200, 'app', 900, 100);
    proc.addProcess(300, 'sidecar (x)', 700, 100);
    const pod = cgroupWith(dir.file('p1/pod'), []);
    cgroupWith(join(pod, 'sandbox'), [100]);
    cgroupWith(join(pod, 'app'), [300, 200]);
    const result = found(resolveCgroupNetns(pod, { procRoot: proc.root }));
    assert.equal(result.pid, 100);
    assert.equal(result.path, proc.netnsPath(100));
    const info = statSync(proc.netnsPath(100), { bigint: true });
    assert.equal(result.dev, info.dev);
    assert.equal(result.ino, info.ino);
    assert.equal(result.id, `${info.dev}:${info.ino}`);
  });

  it('when the oldest process exited after being listed, the next oldest gives the same netns', () => {
    const proc = new FakeProc(dir.file('p2/proc'));
    proc.addProcess(100, 'pause', 500);
    proc.addProcess(200, 'app', 900, 100);
    const ino = statSync(proc.netnsPath(100), { bigint: true }).ino;
    const pod = cgroupWith(dir.file('p2/pod'), []);
    cgroupWith(join(pod, 'c'), [100, 200]);
    proc.exit(100);
    const result = found(resolveCgroupNetns(pod, { procRoot: proc.root }));
    assert.equal(result.pid, 200);
    assert.equal(result.ino, ino);
  });

  it('a process whose netns cannot be read is passed over for the next; if none can be read, that is the error', () => {
    const proc = new FakeProc(dir.file('p7/proc'));
    proc.addProcess(100, 'pause', 500);
    proc.addProcess(200, 'app', 900);
    proc.breakNetns(100);
    const pod = cgroupWith(dir.file('p7/pod'), [100, 200]);
    assert.equal(found(resolveCgroupNetns(pod, { procRoot: proc.root })).pid, 200);
    proc.breakNetns(200);
    const result = resolveCgroupNetns(pod, { procRoot: proc.root });
    assert.equal(result.kind === 'error' ? result.error.code : result.kind, 'WEFT_E_INVENTORY_NETNS_READ');
    assert.match(result.kind === 'error' ? result.error.message : '', /100\/ns\/net: .*ELOOP/);
  });

  it('no process yet while the sandbox starts', () => {
    const pod = cgroupWith(dir.file('p3/pod'), []);
    cgroupWith(join(pod, 'c'), []);
    const result = resolveCgroupNetns(pod, { procRoot: dir.file('p3/proc') });
    assert.equal(result.kind, 'no-process-yet');
    assert.match(result.kind === 'no-process-yet' ? result.reason : '', /^no process in .* yet/);
  });

  it('every listed process exited mid-lookup: a clear reason, not an error', () => {
    const proc = new FakeProc(dir.file('p4/proc'));
    const pod = cgroupWith(dir.file('p4/pod'), [111, 222]);
    const result = resolveCgroupNetns(pod, { procRoot: proc.root });
    assert.equal(result.kind, 'no-process-yet');
    assert.match(result.kind === 'no-process-yet' ? result.reason : '', /exited while their network namespace was looked up/);
  });

  it('a cgroup that is gone is an error with its own code', () => {
    const result = resolveCgroupNetns(dir.file('p5/never'), { procRoot: dir.file('p5/proc') });
    assert.equal(result.kind === 'error' ? result.error.code : result.kind, 'WEFT_E_INVENTORY_CGROUP_GONE');
  });

  it('the walk stops at maxDepth', () => {
    const proc = new FakeProc(dir.file('p6/proc'));
    proc.addProcess(100, 'deep', 1);
    const pod = cgroupWith(dir.file('p6/pod'), []);
    cgroupWith(join(pod, 'a', 'b', 'c'), [100]);
    assert.equal(resolveCgroupNetns(pod, { procRoot: proc.root, maxDepth: 2 }).kind, 'no-process-yet');
    assert.equal(resolveCgroupNetns(pod, { procRoot: proc.root, maxDepth: 3 }).kind, 'found');
  });
});
