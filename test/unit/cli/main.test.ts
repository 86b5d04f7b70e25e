// The CLI as users run it: a child process of `node agent/cli/main.ts`, checked by exit code,
// stdout and stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { AdminServer } from '../../../agent/admin/server.ts';
import { findCgroup2Mount } from '../../../agent/host/cgroup2.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const node = process.execPath;
const main = join(root, 'agent/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'weft-cli-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI without blocking this process (the status tests serve the admin endpoint here). */
function weft(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    // A clean WEFT_* environment, so the developer's own settings cannot change results.
    const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('WEFT_') && key !== 'NODE_NAME'));
    const child = spawn(node, [main, ...args], { cwd: root, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

describe('weft CLI: usage', () => {
  it('--help prints the usage on stdout and exits 0', async () => {
    const run = await weft(['--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^usage: weft <command> \[options\]/);
    for (const command of ['agent', 'check', 'status', 'demo']) assert.match(run.stdout, new RegExp(`\\n {2}${command} `));
    assert.equal(run.stderr, '');
  });

  it('--version prints the package version', async () => {
    const run = await weft(['--version']);
    assert.equal(run.code, 0);
    assert.equal(run.stdout, `weft ${version}\n`);
  });

  it('no command: usage on stderr, exit 2', async () => {
    const run = await weft([]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^weft: no command given\n\nusage: weft/);
    assert.equal(run.stdout, '');
  });

  it('an unknown command: usage on stderr, exit 2', async () => {
    const run = await weft(['frobnicate']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^weft: unknown command "frobnicate"\n\nusage: weft/);
  });

  it('an unknown option, or one of another command: usage on stderr, exit 2', async () => {
    const unknown = await weft(['check', '--bogus']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^weft: Unknown option '--bogus'\n\nusage: weft/);
    const otherCommand = await weft(['check', '--admin', '127.0.0.1:1']);
    assert.equal(otherCommand.code, 2);
    assert.match(otherCommand.stderr, /Unknown option '--admin'/);
  });

  it('an extra argument after the command: exit 2', async () => {
    const run = await weft(['check', 'now']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^weft: unexpected argument "now" after check/);
  });
});

describe('weft CLI: configuration errors', () => {
  it('a bad config file: exit 1 and every problem, without a stack trace', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'admin:\n  port: 99999\nlog:\n  level: chatty\n');
    const run = await weft(['check', '--config', path]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      [
        'weft: invalid configuration (2 problems):',
        `  - admin.port: must be a whole number from 0 to 65535 (0: any free port) (got 99999, from ${path}:2:9)`,
        `  - log.level: must be one of fatal, error, warn, info, debug, trace, silent (got "chatty", from ${path}:4:10)`,
        '',
      ].join('\n'),
    );
    assert.equal(run.stdout, '');
  });

  it('a missing config file named by WEFT_CONFIG: exit 1 naming it', async () => {
    const path = join(dir, 'absent.yaml');
    const run = await weft(['check'], { WEFT_CONFIG: path });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, `weft: cannot read the config file ${path} (named by WEFT_CONFIG): no such file\n`);
  });

  it('a bad environment override: exit 1 naming the variable', async () => {
    const run = await weft(['check', '--json'], { WEFT_ADMIN_PORT: 'eighty' });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /admin\.port: .* \(got "eighty", from env WEFT_ADMIN_PORT\)/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  });
});

interface CheckJson {
  ok: boolean;
  passed: number;
  failed: number;
  checks: Array<{ name: string; ok: boolean; detail: string; fix?: string }>;
  host: { osRelease: string; node: string };
}

describe('weft check on this host', () => {
  it('--json: every check with name, ok and detail; exit code follows the result', async () => {
    const run = await weft(['check', '--json']);
    const result = JSON.parse(run.stdout) as CheckJson;
    assert.equal(run.code, result.ok ? 0 : 1, run.stderr);
    assert.equal(result.passed + result.failed, result.checks.length);
    assert.equal(result.failed, result.checks.filter((check) => !check.ok).length);
    const names = result.checks.map((check) => check.name);
    for (const name of ['kernel', 'btf', 'cgroup2', 'bpffs', 'cap-bpf', 'cap-net-admin', 'cap-sys-ptrace', 'cap-sys-admin', 'pods-cgroup']) assert.ok(names.includes(name), name);
    for (const check of result.checks) if (!check.ok) assert.ok(check.fix !== undefined, `${check.name} failed without a fix`);
    assert.equal(result.host.node, process.version);
  });

  it('finds the cgroup2 mount of this host and uses a configured pods root', async () => {
    const mount = findCgroup2Mount();
    assert.ok(mount !== undefined, 'this host mounts cgroup2');
    const run = await weft(['check', '--json'], { WEFT_PODS_CGROUP: mount });
    const result = JSON.parse(run.stdout) as CheckJson;
    assert.deepEqual(result.checks.find((check) => check.name === 'cgroup2'), { name: 'cgroup2', ok: true, detail: `mounted at ${mount}` });
    assert.deepEqual(result.checks.find((check) => check.name === 'pods-cgroup'), { name: 'pods-cgroup', ok: true, detail: `${mount} (configured)` });
  });

  it('BPF types are probed through agent/intercept, or fail as one "addon not built" check with the fix', async () => {
    const run = await weft(['check', '--json']);
    const result = JSON.parse(run.stdout) as CheckJson;
    const features = result.checks.find((check) => check.name === 'bpf-features');
    if (features === undefined) {
      // The addon loaded: its answers are the two type checks.
      assert.ok(result.checks.some((check) => check.name === 'bpf-programs'));
      assert.ok(result.checks.some((check) => check.name === 'bpf-maps'));
    } else {
      assert.equal(features.ok, false);
      assert.match(features.detail, /addon not built/);
      assert.match(features.fix ?? '', /npm run setup/);
      assert.equal(run.code, 1);
    }
  });

  it('text output: PASS/FAIL lines with the fix under each failure, and a summary', async () => {
    const run = await weft(['check']);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^weft check on /);
    const checks = lines.filter((line) => /^(PASS|FAIL) /.test(line));
    assert.ok(checks.length >= 10, run.stdout);
    for (const line of checks) assert.match(line, /^(PASS|FAIL) [a-z0-9-]+ — \S/);
    lines.forEach((line, i) => {
      if (line.startsWith('FAIL ')) assert.match(lines[i + 1] ?? '', /^ {5}fix: \S/, `no fix under: ${line}`);
    });
    const failed = checks.filter((line) => line.startsWith('FAIL')).length;
    assert.equal(lines.at(-1), `${checks.length} checks: ${checks.length - failed} passed, ${failed} failed${failed === 0 ? '' : ' (fixes above)'}`);
    assert.equal(run.code, failed === 0 ? 0 : 1);
  });
});

describe('weft status', () => {
  const statusDocument = {
    agent: { version: '0.1.0', pid: 4242, startedAt: new Date(Date.now() - 125_000).toISOString(), ready: { ready: false, reasons: ['inventory not synced yet'] } },
    programs: [{ program: 'connect4', cgroup: '/sys/fs/cgroup/kubepods.slice' }],
    pods: [
      { uid: 'u1', namespace: 'demo', name: 'web', state: 'meshed', meshed: true, counters: { captured: 12, bypassed: 0, failed: 1 } },
      { uid: 'u2', namespace: 'demo', name: 'client', state: 'failed', meshed: false, reason: 'netns gone' },
    ],
    connections: { totals: { connections: 12, failed: 1 } },
  };

  it('prints a summary of a running agent\'s admin endpoint', async () => {
    const server = new AdminServer({ address: '127.0.0.1', port: 0, provider: { status: () => statusDocument, readiness: () => ({ ready: false, reasons: [] }) } });
    const bound = await server.listen();
    try {
      const run = await weft(['status', '--admin', `127.0.0.1:${bound.port}`]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^weft agent 0\\.1\\.0 at 127\\.0\\.0\\.1:${bound.port} \\(pid 4242, up 2m\\d\\ds\\): NOT READY: inventory not synced yet\\n`));
      assert.match(run.stdout, /\npods: 2 known, 1 meshed\n {2}POD +STATE +CAPTURED +BYPASSED +FAILED +REASON\n {2}demo\/web +meshed +12 +0 +1\n {2}demo\/client +failed +- +- +- +netns gone\n/);
      assert.match(run.stdout, /\nattachments:\n {2}program=connect4 cgroup=\/sys\/fs\/cgroup\/kubepods\.slice\n/);
      assert.match(run.stdout, /\nconnections: connections 12, failed 1\n/);
      const json = await weft(['status', '--json', '--admin', `127.0.0.1:${bound.port}`]);
      assert.equal(json.code, 0);
      assert.deepEqual(JSON.parse(json.stdout), statusDocument);
    } finally {
      await server.close();
    }
  });

  it('takes the admin address from the configuration when --admin is not given', async () => {
    const server = new AdminServer({ address: '127.0.0.1', port: 0, provider: { status: () => statusDocument, readiness: () => ({ ready: true, reasons: [] }) } });
    const bound = await server.listen();
    try {
      const run = await weft(['status', '--json'], { WEFT_ADMIN_PORT: String(bound.port) });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), statusDocument);
    } finally {
      await server.close();
    }
  });

  it('no agent there: exit 1 with a clear message', async () => {
    const port = await freePort();
    const run = await weft(['status', '--admin', `127.0.0.1:${port}`]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      `weft: no agent answering at 127.0.0.1:${port} (connection refused): is \`weft agent\` running? Point --admin at its admin address (admin.address:admin.port)\n`,
    );
  });

  it('a malformed --admin: exit 1 saying the expected form', async () => {
    const run = await weft(['status', '--admin', 'localhost']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^weft: --admin must be host:port \(such as 127\.0\.0\.1:4191 or \[::1\]:4191\), got "localhost"\n$/);
  });
});

/** A port nobody listens on: bound, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  const address = server.address();
  await new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
