import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { capabilityName, effectiveCapabilities, parseCapabilityMask } from '../../../agent/host/capabilities.ts';
import { compareKernelVersions, parseKernelRelease } from '../../../agent/host/kernel-release.ts';
import { escapeMountField, mountAt, parseFilesystems, parseMounts, unescapeMountField } from '../../../agent/host/mounts.ts';
import { parseCgroup2Mount } from '../../../agent/host/cgroup2.ts';
import { isWithin, resolvePodsRoot } from '../../../agent/host/pods-root.ts';

describe('kernel release parsing', () => {
  it('reads major.minor.patch from the releases distributions ship', () => {
    assert.deepEqual(parseKernelRelease('6.18.44-fc-v669'), { major: 6, minor: 18, patch: 44 });
    assert.deepEqual(parseKernelRelease('5.15.0-91-generic'), { major: 5, minor: 15, patch: 0 });
    assert.deepEqual(parseKernelRelease('6.1.0-18-amd64'), { major: 6, minor: 1, patch: 0 });
    assert.deepEqual(parseKernelRelease('4.18.0-513.el8.x86_64'), { major: 4, minor: 18, patch: 0 });
    assert.deepEqual(parseKernelRelease('6.9'), { major: 6, minor: 9, patch: 0 });
    assert.deepEqual(parseKernelRelease('6.10-rc1'), { major: 6, minor: 10, patch: 0 });
  });

  it('refuses text that does not start with a version', () => {
    for (const text of ['', 'linux', 'v6.1.0', '6', '6.x', '-6.1']) assert.equal(parseKernelRelease(text), undefined, text);
  });

  it('any version with any non-digit suffix parses back to itself', () => {
    const part = fc.integer({ min: 0, max: 999 });
    const suffix = fc.string().filter((s) => !/^[\d.]/.test(s));
    fc.assert(
      fc.property(part, part, part, suffix, (major, minor, patch, rest) => {
        assert.deepEqual(parseKernelRelease(`${major}.${minor}.${patch}${rest}`), { major, minor, patch });
      }),
    );
  });

  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string(), (text) => void parseKernelRelease(text)));
  });

  it('orders versions by major, then minor, then patch', () => {
    const version = fc.record({ major: fc.nat(20), minor: fc.nat(30), patch: fc.nat(300) });
    fc.assert(
      fc.property(version, version, (a, b) => {
        assert.equal(Math.sign(compareKernelVersions(a, b)), -Math.sign(compareKernelVersions(b, a)));
        const expected = a.major !== b.major ? a.major - b.major : a.minor !== b.minor ? a.minor - b.minor : a.patch - b.patch;
        assert.equal(Math.sign(compareKernelVersions(a, b)), Math.sign(expected));
      }),
    );
    assert.ok(compareKernelVersions({ major: 5, minor: 10, patch: 200 }, { major: 5, minor: 15, patch: 0 }) < 0);
  });
});

describe('capability masks', () => {
  it('reads the bits of CapEff as this machine reports it', () => {
    const caps = parseCapabilityMask('000001fffeffffff');
    assert.ok(caps !== undefined);
    assert.equal(caps.size, 40);
    assert.ok(caps.has(39) && caps.has(21) && caps.has(12) && caps.has(19));
    assert.ok(!caps.has(24), 'CAP_SYS_RESOURCE is not in that mask');
    assert.equal(parseCapabilityMask('0')?.size, 0);
  });

  it('any set of capability bits round-trips through its hex mask', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 63 })), (bits) => {
        const mask = bits.reduce((acc, bit) => acc | (1n << BigInt(bit)), 0n);
        const hex = mask.toString(16).padStart(16, '0');
        assert.deepEqual([...(parseCapabilityMask(hex) ?? [])].sort((a, b) => a - b), [...bits].sort((a, b) => a - b));
      }),
    );
  });

  it('refuses what is not a 64-bit hex mask', () => {
    for (const text of ['', 'xyz', '0x1f', '1'.repeat(17), '-1']) assert.equal(parseCapabilityMask(text), undefined, text);
    fc.assert(fc.property(fc.string(), (text) => void parseCapabilityMask(text)));
  });

  it('takes CapEff, not CapPrm or CapBnd, from /proc/self/status', () => {
    const status = 'Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000001000\nCapBnd:\t000001ffffffffff\n';
    assert.deepEqual([...(effectiveCapabilities(status) ?? [])], [12]);
    assert.equal(effectiveCapabilities('Name:\tnode\n'), undefined);
  });

  it('names capabilities', () => {
    assert.equal(capabilityName(39), 'CAP_BPF');
    assert.equal(capabilityName(21), 'CAP_SYS_ADMIN');
    assert.equal(capabilityName(12), 'CAP_NET_ADMIN');
    assert.equal(capabilityName(19), 'CAP_SYS_PTRACE');
    assert.equal(capabilityName(63), 'CAP_63');
  });
});

describe('/proc/mounts and /proc/filesystems', () => {
  const mounts = [
    'sysfs /sys sysfs rw,relatime 0 0',
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
    'tmpfs /sys/fs/bpf tmpfs rw 0 0',
    'bpf /sys/fs/bpf bpf rw,relatime,mode=700 0 0',
    'none /mnt/with\\040space tmpfs rw 0 0',
    'garbage',
    '',
  ].join('\n');

  it('parses fields, unescapes octal escapes and skips malformed lines', () => {
    const entries = parseMounts(mounts);
    assert.equal(entries.length, 5);
    assert.deepEqual(entries[1], { source: 'cgroup2', mountPoint: '/sys/fs/cgroup/unified', type: 'cgroup2', options: ['rw', 'relatime'] });
    assert.equal(entries[4]?.mountPoint, '/mnt/with space');
  });

  it('the last mount at a path is the visible one', () => {
    assert.equal(mountAt(parseMounts(mounts), '/sys/fs/bpf')?.type, 'bpf');
    assert.equal(mountAt(parseMounts(mounts), '/nowhere'), undefined);
  });

  it('agrees with cgroup2.ts on the cgroup2 mount point', () => {
    assert.equal(parseMounts(mounts).find((entry) => entry.type === 'cgroup2')?.mountPoint, parseCgroup2Mount(mounts));
  });

  it('any mount point survives escaping into a /proc/mounts line and parsing back', () => {
    const pathChar = fc.constantFrom('a', 'b', '/', ' ', '\t', '\\', '\n', '-', '.', 'é');
    fc.assert(
      fc.property(fc.array(fc.string({ unit: pathChar, minLength: 1 }), { minLength: 1, maxLength: 5 }), (points) => {
        const text = points.map((point) => `src ${escapeMountField(point)} ext4 rw 0 0`).join('\n');
        assert.deepEqual(parseMounts(text).map((entry) => entry.mountPoint), points);
        for (const point of points) assert.equal(unescapeMountField(escapeMountField(point)), point);
      }),
    );
  });

  it('reads the file system types, nodev or not', () => {
    const types = parseFilesystems('nodev\tsysfs\nnodev\tbpf\n\text4\nnodev\tcgroup2\n');
    assert.deepEqual([...types].sort(), ['bpf', 'cgroup2', 'ext4', 'sysfs']);
  });
});

describe('pods cgroup root', () => {
  const dirs = (...paths: string[]) => (path: string) => paths.includes(path);

  it('auto finds kubepods.slice (systemd driver) before kubepods (cgroupfs driver)', () => {
    const both = dirs('/sys/fs/cgroup/kubepods.slice', '/sys/fs/cgroup/kubepods');
    assert.deepEqual(resolvePodsRoot('auto', { cgroup2Mount: '/sys/fs/cgroup', isDirectory: both }), { kind: 'found', path: '/sys/fs/cgroup/kubepods.slice', how: 'auto' });
    const cgroupfs = dirs('/sys/fs/cgroup/unified/kubepods');
    assert.deepEqual(resolvePodsRoot('auto', { cgroup2Mount: '/sys/fs/cgroup/unified', isDirectory: cgroupfs }), { kind: 'found', path: '/sys/fs/cgroup/unified/kubepods', how: 'auto' });
  });

  it('auto without kubelet\'s tree says what it tried', () => {
    const result = resolvePodsRoot('auto', { cgroup2Mount: '/sys/fs/cgroup', isDirectory: dirs() });
    assert.deepEqual(result, {
      kind: 'missing',
      reason: 'neither /sys/fs/cgroup/kubepods.slice nor /sys/fs/cgroup/kubepods exists',
      tried: ['/sys/fs/cgroup/kubepods.slice', '/sys/fs/cgroup/kubepods'],
    });
  });

  it('a configured root must exist and lie inside the cgroup2 hierarchy', () => {
    const isDirectory = dirs('/sys/fs/cgroup/unified/lab/kubepods', '/sys/fs/cgroup/cpu/kubepods');
    assert.equal(resolvePodsRoot('/sys/fs/cgroup/unified/lab/kubepods', { cgroup2Mount: '/sys/fs/cgroup/unified', isDirectory }).kind, 'found');
    assert.deepEqual(resolvePodsRoot('/sys/fs/cgroup/cpu/kubepods', { cgroup2Mount: '/sys/fs/cgroup/unified', isDirectory }), {
      kind: 'missing',
      reason: '/sys/fs/cgroup/cpu/kubepods is outside the cgroup2 hierarchy (mounted at /sys/fs/cgroup/unified)',
      tried: ['/sys/fs/cgroup/cpu/kubepods'],
    });
    assert.equal(resolvePodsRoot('/sys/fs/cgroup/unified/gone', { cgroup2Mount: '/sys/fs/cgroup/unified', isDirectory }).kind, 'missing');
    assert.equal(resolvePodsRoot('auto', { cgroup2Mount: undefined, isDirectory }).kind, 'missing');
  });

  it('isWithin compares path segments, not string prefixes', () => {
    assert.ok(isWithin('/a/b', '/a'));
    assert.ok(isWithin('/a', '/a'));
    assert.ok(isWithin('/a/..b', '/a'));
    assert.ok(!isWithin('/ab', '/a'));
    assert.ok(!isWithin('/a/../c', '/a'));
  });
});
