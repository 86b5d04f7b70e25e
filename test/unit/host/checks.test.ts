import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../agent/config/load.ts';
import {
  checkBpffs,
  checkKernel,
  checkKernelFeatures,
  procPaths,
  requiredMapTypes,
  requiredProgramTypes,
  runHostChecks,
} from '../../../agent/host/checks.ts';
import type { CheckResult, HostCheckDeps, KernelProbeOutcome } from '../../../agent/host/checks.ts';
import { parseMounts } from '../../../agent/host/mounts.ts';

const allTypes = (names: Readonly<Record<string, string>>): Record<string, boolean> => Object.fromEntries(Object.keys(names).map((name) => [name, true]));
const workingProbe: KernelProbeOutcome = { kind: 'ok', probe: { programTypes: () => allTypes(requiredProgramTypes), mapTypes: () => allTypes(requiredMapTypes) } };

interface FakeHost {
  release?: string;
  /** File contents; undefined makes a file absent. */
  files?: Record<string, string | undefined>;
  dirs?: string[];
  probe?: KernelProbeOutcome;
}

const goodFiles = {
  [procPaths.mounts]: 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\nbpf /sys/fs/bpf bpf rw 0 0\n',
  [procPaths.filesystems]: 'nodev\tbpf\nnodev\tcgroup2\n',
  [procPaths.status]: 'CapEff:\t000001ffffffffff\n',
  [procPaths.btf]: '',
};

function fakeDeps(host: FakeHost = {}): HostCheckDeps {
  const files: Record<string, string | undefined> = { ...goodFiles, ...host.files };
  const dirs = host.dirs ?? ['/sys/fs/cgroup/kubepods.slice', '/sys/fs/bpf', '/sys/fs'];
  return {
    osRelease: () => host.release ?? '6.8.0-45-generic',
    readText: (path) => files[path],
    exists: (path) => files[path] !== undefined,
    isDirectory: (path) => dirs.includes(path),
    probeKernel: () => Promise.resolve(host.probe ?? workingProbe),
  };
}

const config = parseConfig({});
const byName = (results: readonly CheckResult[], name: string): CheckResult => {
  const found = results.find((result) => result.name === name);
  assert.ok(found !== undefined, `no check named ${name}`);
  return found;
};

describe('host checks', () => {
  it('a host with everything passes every check, in fix order', async () => {
    const results = await runHostChecks(config, fakeDeps());
    assert.deepEqual(
      results.map((r) => r.name),
      ['kernel', 'btf', 'cgroup2', 'bpffs', 'cap-bpf', 'cap-net-admin', 'cap-sys-ptrace', 'cap-sys-admin', 'pods-cgroup', 'bpf-programs', 'bpf-maps'],
    );
    for (const result of results) {
      assert.equal(result.ok, true, `${result.name}: ${result.detail}`);
      assert.equal(result.fix, undefined);
    }
    assert.equal(byName(results, 'pods-cgroup').detail, '/sys/fs/cgroup/kubepods.slice (found automatically)');
    assert.equal(byName(results, 'cgroup2').detail, 'mounted at /sys/fs/cgroup');
  });

  it('a bare host fails, and every failure carries a fix', async () => {
    const results = await runHostChecks(config, fakeDeps({
      release: '4.19.0-26-amd64',
      files: { [procPaths.mounts]: 'sysfs /sys sysfs rw 0 0\n', [procPaths.filesystems]: '\text4\n', [procPaths.status]: 'CapEff:\t0000000000000000\n', [procPaths.btf]: undefined },
      dirs: [],
      probe: { kind: 'unavailable', reason: 'addon not built' },
    }));
    const failed = results.filter((r) => !r.ok);
    assert.deepEqual(
      failed.map((r) => r.name),
      ['kernel', 'btf', 'cgroup2', 'bpffs', 'cap-bpf', 'cap-net-admin', 'cap-sys-ptrace', 'cap-sys-admin', 'pods-cgroup', 'bpf-features'],
    );
    for (const result of failed) assert.ok(result.fix !== undefined && result.fix.length > 10, `${result.name} has no fix`);
  });

  it('kernel: at least 5.15; older or unreadable fails with the upgrade to make', () => {
    assert.equal(checkKernel('5.15.0-91-generic').ok, true);
    assert.equal(checkKernel('6.18.44-fc-v669').detail, '6.18.44-fc-v669 (≥ 5.15)');
    const old = checkKernel('5.10.209-1');
    assert.equal(old.ok, false);
    assert.match(old.detail, /5\.10\.209 is older than 5\.15/);
    assert.equal(old.fix, 'upgrade the node\'s kernel to 5.15 or later');
    assert.equal(checkKernel('weird').ok, false);
  });

  it('btf: missing vmlinux BTF fails naming the kernel option', async () => {
    const results = await runHostChecks(config, fakeDeps({ files: { [procPaths.btf]: undefined } }));
    const btf = byName(results, 'btf');
    assert.equal(btf.ok, false);
    assert.match(btf.fix ?? '', /CONFIG_DEBUG_INFO_BTF/);
  });

  describe('bpffs', () => {
    const caps = (bits: number[]) => new Set(bits);
    const facts = (mounts: string, options: { caps?: number[]; dirs?: string[]; filesystems?: string[] } = {}) => ({
      mounts: parseMounts(mounts),
      filesystems: new Set(options.filesystems ?? ['bpf']),
      caps: caps(options.caps ?? [21, 39]),
      isDirectory: (path: string) => (options.dirs ?? ['/sys/fs/bpf']).includes(path),
    });

    it('passes when bpffs is mounted at the configured path', () => {
      assert.deepEqual(checkBpffs('/sys/fs/bpf', facts('bpf /sys/fs/bpf bpf rw 0 0')), { name: 'bpffs', ok: true, detail: 'mounted at /sys/fs/bpf' });
    });

    it('passes, saying so, when it is not mounted but the agent can mount it', () => {
      const result = checkBpffs('/sys/fs/bpf', facts(''));
      assert.equal(result.ok, true);
      assert.equal(result.detail, 'not mounted at /sys/fs/bpf, but mountable: the agent mounts it at start');
    });

    it('fails without CAP_SYS_ADMIN to mount it, with the mount command as the fix', () => {
      const result = checkBpffs('/sys/fs/bpf', facts('', { caps: [39] }));
      assert.equal(result.ok, false);
      assert.match(result.detail, /mounting it needs CAP_SYS_ADMIN/);
      assert.match(result.fix ?? '', /^mount -t bpf bpf \/sys\/fs\/bpf/);
    });

    it('fails when another file system sits at the path, or the kernel has no bpffs', () => {
      assert.match(checkBpffs('/sys/fs/bpf', facts('tmpfs /sys/fs/bpf tmpfs rw 0 0')).detail, /holds a tmpfs mount, not bpffs/);
      assert.equal(checkBpffs('/sys/fs/bpf', facts('tmpfs /sys/fs/bpf tmpfs rw 0 0')).ok, false);
      const none = checkBpffs('/sys/fs/bpf', facts('', { filesystems: ['ext4'] }));
      assert.equal(none.ok, false);
      assert.match(none.fix ?? '', /CONFIG_BPF_SYSCALL/);
    });

    it('checks the configured path, not the default', async () => {
      const custom = parseConfig({ bpf: { bpffs: '/run/weft/bpf' } });
      const results = await runHostChecks(custom, fakeDeps({ dirs: ['/sys/fs/cgroup/kubepods.slice'] }));
      const bpffs = byName(results, 'bpffs');
      assert.equal(bpffs.ok, false);
      assert.match(bpffs.detail, /not mounted at \/run\/weft\/bpf/);
    });
  });

  describe('capabilities', () => {
    const withCaps = async (hex: string) => runHostChecks(config, fakeDeps({ files: { [procPaths.status]: `CapEff:\t${hex}\n` } }));

    it('CAP_SYS_ADMIN stands in for CAP_BPF (kernels before 5.8, or runtimes that do not grant CAP_BPF)', async () => {
      const results = await withCaps((1n << 21n).toString(16));
      assert.equal(byName(results, 'cap-bpf').ok, true);
      assert.equal(byName(results, 'cap-bpf').detail, 'CAP_SYS_ADMIN held (to load BPF programs and maps)');
      assert.equal(byName(results, 'cap-sys-admin').ok, true);
      assert.equal(byName(results, 'cap-net-admin').ok, false);
    });

    it('each missing capability fails on its own, naming it and how to add it', async () => {
      const results = await withCaps(((1n << 39n) | (1n << 12n)).toString(16));
      assert.equal(byName(results, 'cap-bpf').ok, true);
      assert.equal(byName(results, 'cap-net-admin').ok, true);
      const ptrace = byName(results, 'cap-sys-ptrace');
      assert.equal(ptrace.ok, false);
      assert.match(ptrace.detail, /^CAP_SYS_PTRACE missing: needed to open other processes' \/proc\/<pid>\/ns/);
      assert.match(ptrace.fix ?? '', /add CAP_SYS_PTRACE to the container's securityContext/);
      assert.equal(byName(results, 'cap-sys-admin').ok, false);
    });

    it('an unreadable status file fails every capability check rather than guessing', async () => {
      const results = await runHostChecks(config, fakeDeps({ files: { [procPaths.status]: 'Name:\tx\n' } }));
      for (const name of ['cap-bpf', 'cap-net-admin', 'cap-sys-ptrace', 'cap-sys-admin']) assert.equal(byName(results, name).ok, false);
    });
  });

  describe('pods cgroup', () => {
    it('fails when kubelet\'s tree is absent, pointing at cgroup.podsRoot', async () => {
      const results = await runHostChecks(config, fakeDeps({ dirs: ['/sys/fs/bpf'] }));
      const pods = byName(results, 'pods-cgroup');
      assert.equal(pods.ok, false);
      assert.match(pods.detail, /neither \/sys\/fs\/cgroup\/kubepods\.slice nor \/sys\/fs\/cgroup\/kubepods exists/);
      assert.match(pods.fix ?? '', /cgroup\.podsRoot \(WEFT_PODS_CGROUP\)/);
    });

    it('a configured root is used as given', async () => {
      const custom = parseConfig({ cgroup: { podsRoot: '/sys/fs/cgroup/lab/kubepods' } });
      const results = await runHostChecks(custom, fakeDeps({ dirs: ['/sys/fs/cgroup/lab/kubepods'] }));
      assert.equal(byName(results, 'pods-cgroup').detail, '/sys/fs/cgroup/lab/kubepods (configured)');
    });
  });

  describe('BPF program and map types (through the injected probe)', () => {
    it('a missing addon is one failed check telling how to build it', () => {
      assert.deepEqual(checkKernelFeatures({ kind: 'unavailable', reason: 'addon not built (no build/weft.node)' }), [
        { name: 'bpf-features', ok: false, detail: 'cannot probe BPF program and map types: addon not built (no build/weft.node)', fix: 'run npm run setup (builds the native addon and the BPF programs)' },
      ]);
    });

    it('names each unsupported type and what weft needs it for', () => {
      const [programs, maps] = checkKernelFeatures({
        kind: 'ok',
        probe: { programTypes: () => ({ ...allTypes(requiredProgramTypes), sk_msg: false }), mapTypes: () => ({ ...allTypes(requiredMapTypes), sockhash: false }) },
      });
      assert.equal(programs?.ok, false);
      assert.match(programs?.detail ?? '', /^sk_msg unsupported \(splice opaque TCP/);
      assert.match(programs?.fix ?? '', /sk_msg/);
      assert.equal(maps?.ok, false);
      assert.match(maps?.detail ?? '', /^sockhash unsupported/);
    });

    it('accepts kernel-style names (BPF_PROG_TYPE_SOCK_OPS) and reports types the probe left out', () => {
      const [programs] = checkKernelFeatures({
        kind: 'ok',
        probe: { programTypes: () => ({ BPF_PROG_TYPE_CGROUP_SOCK_ADDR: true, BPF_PROG_TYPE_SOCK_OPS: true, BPF_PROG_TYPE_SK_MSG: true }), mapTypes: () => allTypes(requiredMapTypes) },
      });
      assert.equal(programs?.ok, false);
      assert.equal(programs?.detail, 'sk_skb not reported by the probe');
      assert.match(programs?.fix ?? '', /rebuild the addon/);
    });

    it('a probe that throws fails the check with its message', () => {
      const [programs, maps] = checkKernelFeatures({
        kind: 'ok',
        probe: {
          programTypes: () => {
            throw new Error('bpf(BPF_PROG_LOAD): Operation not permitted');
          },
          mapTypes: () => allTypes(requiredMapTypes),
        },
      });
      assert.equal(programs?.ok, false);
      assert.match(programs?.detail ?? '', /probing program types failed: bpf\(BPF_PROG_LOAD\): Operation not permitted/);
      assert.equal(maps?.ok, true);
    });
  });
});
