import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../agent/config/load.ts';
import { formatChecks, runCheck, toProbeOutcome } from '../../../agent/cli/check.ts';
import type { CheckCommandDeps } from '../../../agent/cli/check.ts';
import { procPaths, requiredMapTypes, requiredProgramTypes } from '../../../agent/host/checks.ts';
import type { HostFacts } from '../../../agent/host/facts.ts';

const facts: HostFacts = {
  hostname: 'node-1',
  os: { distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0' },
  cpu: { cores: 2, physicalCores: 2, model: 'AMD EPYC' },
  memory: { totalBytes: 4 * 2 ** 30 },
  node: 'v24.9.0',
  osRelease: '6.1.0-18-amd64',
  unknown: {},
};

const all = (names: Readonly<Record<string, string>>): Record<string, boolean> => Object.fromEntries(Object.keys(names).map((name) => [name, true]));

function io(): { stdout: string[]; stderr: string[]; io: { stdout(text: string): void; stderr(text: string): void } } {
  const out = { stdout: [] as string[], stderr: [] as string[] };
  return { ...out, io: { stdout: (text) => void out.stdout.push(text), stderr: (text) => void out.stderr.push(text) } };
}

function deps(mounts: { text: string }, mount: (path: string) => Promise<void>): CheckCommandDeps {
  const files: Record<string, string> = {
    [procPaths.filesystems]: 'nodev\tbpf\n',
    [procPaths.status]: 'CapEff:\t000001ffffffffff\n',
    [procPaths.btf]: '',
  };
  return {
    host: {
      osRelease: () => '6.1.0-18-amd64',
      readText: (path) => (path === procPaths.mounts ? mounts.text : files[path]),
      exists: (path) => path in files,
      isDirectory: (path) => ['/sys/fs/bpf', '/sys/fs/cgroup/kubepods.slice'].includes(path),
      probeKernel: () => Promise.resolve({ kind: 'ok', probe: { programTypes: () => all(requiredProgramTypes), mapTypes: () => all(requiredMapTypes) } }),
    },
    facts: () => Promise.resolve(facts),
    mountBpffs: mount,
  };
}

describe('weft check command', () => {
  it('all passing: exit 0 and a summary without failures', async () => {
    const out = io();
    const code = await runCheck(parseConfig({}), { json: false, mountBpffs: false }, out.io, deps({ text: 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\nbpf /sys/fs/bpf bpf rw 0 0\n' }, () => Promise.reject(new Error('not asked'))));
    assert.equal(code, 0);
    const text = out.stdout.join('');
    assert.match(text, /^weft check on node-1: Debian GNU\/Linux 12, kernel 6\.1\.0-18-amd64, 2 cores AMD EPYC, 4\.0 GiB, Node\.js v24\.9\.0\n/);
    assert.match(text, /\n11 checks: 11 passed, 0 failed\n$/);
  });

  it('--mount-bpffs mounts bpffs when it is not mounted, then checks again', async () => {
    const mounts = { text: 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n' };
    const mounted: string[] = [];
    const out = io();
    const config = parseConfig({});
    const code = await runCheck(config, { json: true, mountBpffs: true }, out.io, deps(mounts, (path) => {
      mounted.push(path);
      mounts.text += `bpf ${path} bpf rw 0 0\n`;
      return Promise.resolve();
    }));
    assert.equal(code, 0);
    assert.deepEqual(mounted, ['/sys/fs/bpf']);
    const result = JSON.parse(out.stdout.join('')) as { mountBpffs: unknown; checks: Array<{ name: string; detail: string }> };
    assert.deepEqual(result.mountBpffs, { ok: true, detail: 'mounted bpffs at /sys/fs/bpf' });
    assert.equal(result.checks.find((check) => check.name === 'bpffs')?.detail, 'mounted at /sys/fs/bpf');
  });

  it('--mount-bpffs does nothing when bpffs is already mounted, and check alone never mounts', async () => {
    let calls = 0;
    const mount = (): Promise<void> => {
      calls += 1;
      return Promise.resolve();
    };
    await runCheck(parseConfig({}), { json: true, mountBpffs: true }, io().io, deps({ text: 'bpf /sys/fs/bpf bpf rw 0 0\n' }, mount));
    await runCheck(parseConfig({}), { json: true, mountBpffs: false }, io().io, deps({ text: '' }, mount));
    assert.equal(calls, 0);
  });

  it('a failed mount is reported and the checks still print', async () => {
    const out = io();
    const code = await runCheck(parseConfig({}), { json: false, mountBpffs: true }, out.io, deps({ text: 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n' }, () => Promise.reject(new Error('mount: permission denied'))));
    const text = out.stdout.join('');
    assert.match(text, /\n! could not mount bpffs at \/sys\/fs\/bpf: mount: permission denied\n/);
    assert.match(text, /\nPASS bpffs — not mounted at \/sys\/fs\/bpf, but mountable/);
    assert.equal(code, 0);
  });

  it('prints the fix under each failure', () => {
    const text = formatChecks(
      [
        { name: 'kernel', ok: true, detail: '6.1' },
        { name: 'btf', ok: false, detail: 'missing', fix: 'rebuild' },
      ],
      facts,
    );
    assert.match(text, /\nPASS kernel — 6\.1\nFAIL btf — missing\n {5}fix: rebuild\n2 checks: 1 passed, 1 failed \(fixes above\)\n$/);
  });
});

describe('reading what agent/intercept probeKernel() returns', () => {
  it('accepts a KernelFeatureProbe, plain records, and an ok result union', () => {
    const records = { programTypes: { sock_ops: true }, mapTypes: { hash: false } };
    const asProbe = { programTypes: () => records.programTypes, mapTypes: () => records.mapTypes };
    for (const value of [asProbe, records, { kind: 'ok', probe: asProbe }, { kind: 'ok', ...records }]) {
      const outcome = toProbeOutcome(value);
      assert.equal(outcome.kind, 'ok');
      if (outcome.kind !== 'ok') continue;
      assert.deepEqual(outcome.probe.programTypes(), { sock_ops: true });
      assert.deepEqual(outcome.probe.mapTypes(), { hash: false });
    }
  });

  it('turns an error result or an unusable answer into "addon not built"', () => {
    assert.deepEqual(toProbeOutcome({ kind: 'missing', reason: 'build/Release/weft.node not found' }), { kind: 'unavailable', reason: 'addon not built (build/Release/weft.node not found)' });
    assert.deepEqual(toProbeOutcome({ kind: 'error', message: 'EPERM' }), { kind: 'unavailable', reason: 'addon not built (EPERM)' });
    for (const value of [undefined, null, 3, {}, { programTypes: {} }]) assert.equal(toProbeOutcome(value).kind, 'unavailable');
  });

  it('a probe method answering something other than a record throws (and the check reports it)', () => {
    const outcome = toProbeOutcome({ programTypes: () => 'yes', mapTypes: () => ({}) });
    assert.equal(outcome.kind, 'ok');
    if (outcome.kind === 'ok') assert.throws(() => outcome.probe.programTypes(), { code: 'WEFT_E_CHECK_PROBE' });
  });
});
