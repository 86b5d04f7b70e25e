// The lab and harness tested for real: real namespaces, veths, cgroups and processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { QOS_CLASSES, type CgroupDriver, type QosClass } from '../../../agent/lab/cgroup-layout.ts';
import { startTcpClient } from '../../../agent/lab/client.ts';
import { startEchoServer } from '../../../agent/lab/echo.ts';
import { isAlive, trackPid, type TrackedPid } from '../../../agent/lab/host-ops.ts';
import { randomHex } from '../../../agent/lab/names.ts';
import { describeLeftovers, findLeftovers, isBpffs, isClean, removeLeftovers } from '../../../agent/lab/sweep.ts';
import { labSkip, withLab } from '../../support/lab.ts';
import { Ledger, runLedger } from '../../support/ledger.ts';
import { runPrefix } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';

const UID = '3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const CONTAINER = 'c'.repeat(64);

describe('lab', { skip: labSkip('lab e2e') }, () => {
  it('two pods on one node: bytes round-trip and the server sees the client pod’s IP', async (t) => {
    const lab = withLab(t);
    const node = await lab.addNode({ name: 'node-a' });
    const [server, client] = await Promise.all([node.addPod({ name: 'server' }), node.addPod({ name: 'client' })]);
    const echo = await startEchoServer(server, { port: 8080 });
    const tcp = await startTcpClient(client);

    const sent = 'ping across the lab bridge';
    const result = await tcp.connect({ host: server.ip, port: 8080, send: sent });
    assert.equal(result.connected, true);
    assert.equal(result.how, 'end');
    assert.equal(result.received.toString(), sent);
    assert.equal(result.localAddress, client.ip);

    const seen = await echo.waitForConnection((c) => c.remotePort === result.localPort);
    assert.equal(seen.remoteAddress, client.ip, 'the server saw the client pod’s own address');
    assert.equal(seen.localAddress, server.ip);
    const closed = await echo.waitForClose(seen.id);
    assert.deepEqual(closed, { bytesIn: sent.length, bytesOut: sent.length, how: 'end', errorCode: null });
  });

  it('pods on different nodes reach each other through the fabric with their own source IP', async (t) => {
    const lab = withLab(t);
    const [a, b] = await Promise.all([lab.addNode({ name: 'node-a' }), lab.addNode({ name: 'node-b', cgroupDriver: 'cgroupfs' })]);
    const server = await a.addPod({ name: 'server' });
    const client = await b.addPod({ name: 'client' });
    assert.notEqual(a.subnet, b.subnet);
    const echo = await startEchoServer(server, { greet: true });
    const tcp = await startTcpClient(client);
    const result = await tcp.connect({ host: server.ip, port: echo.port, send: 'x' });
    assert.equal(result.how, 'end');
    const greeting = result.received.toString().split('\n')[0] ?? '';
    assert.deepEqual(JSON.parse(greeting), { peer: client.ip, port: result.localPort });
  });

  it('a pod has lo up and only the lab route via its bridge: no default route', async (t) => {
    const lab = withLab(t);
    const node = await lab.addNode({ name: 'node' });
    const pod = await node.addPod({ name: 'pod' });
    const routes = await pod.run('ip', ['-4', 'route', 'show']);
    assert.equal(routes.code, 0, routes.stderr);
    assert.match(routes.stdout, new RegExp(`^198\\.18\\.0\\.0/15 via ${node.bridgeIp.replaceAll('.', '\\.')} dev eth0`, 'm'));
    assert.doesNotMatch(routes.stdout, /default/);
    const lo = await pod.run('ip', ['-o', 'link', 'show', 'lo']);
    assert.match(lo.stdout, /[<,]UP[,>]/);
    // Anything outside the lab range has no route at all.
    const outside = await pod.run('ip', ['route', 'get', '192.0.2.1']);
    assert.notEqual(outside.code, 0);
    assert.match(outside.stderr, /unreachable/i);
  });

  it('spawn runs the process in the pod netns and container cgroup from the start, and records its PID', async (t) => {
    const lab = withLab(t);
    const node = await lab.addNode({ name: 'node' });
    const pod = await node.addPod({ name: 'pod', qos: 'Burstable' });
    const child = pod.spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid ?? assert.fail('no pid');
    assert.deepEqual(pod.pids, [pid]);
    assert.ok(
      runLedger().entries().some((r) => r.kind === 'pid' && r.pid === pid),
      'the PID is in the run ledger',
    );
    // Before exec the PID is still the joining shell; once it is `sleep`, it must already be inside.
    await waitFor(() => readFileSync(`/proc/${pid}/comm`, 'utf8') === 'sleep\n', { what: 'the command to be exec’d' });
    const cgroupLine = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    assert.equal(cgroupLine, `0::/${relative(lab.cgroupMount, pod.containerCgroupPath)}`);
    assert.equal(readlinkSync(`/proc/${pid}/ns/net`), `net:[${statSync(pod.netnsPath).ino}]`);
    // The cgroup the process sees from inside is the same, from its first instruction on.
    const own = await pod.run('cat', ['/proc/self/cgroup']);
    assert.match(own.stdout, new RegExp(`^0::/${relative(lab.cgroupMount, pod.containerCgroupPath)}$`, 'm'));
    assert.equal(pod.cgroupIds().container, statSync(pod.containerCgroupPath, { bigint: true }).ino);

    const tracked = trackPid(pid) ?? assert.fail('process vanished');
    await pod.destroy();
    assert.equal(isAlive(tracked), false, 'destroy ended the process');
    assert.equal(existsSync(pod.netnsPath), false);
    assert.equal(existsSync(pod.cgroupPath), false);
    assert.equal(node.pods.length, 0);
  });

  it('the client reports refused and reset connections as such', async (t) => {
    const lab = withLab(t);
    const node = await lab.addNode({ name: 'node' });
    const [server, client] = await Promise.all([node.addPod({ name: 'server' }), node.addPod({ name: 'client' })]);
    const resetter = await startEchoServer(server, { reset: true });
    const tcp = await startTcpClient(client);
    const reset = await tcp.connect({ host: server.ip, port: resetter.port, send: 'hello', halfClose: false });
    assert.equal(reset.connected, true);
    assert.equal(reset.how, 'reset');
    assert.equal(reset.errorCode, 'ECONNRESET');
    const refused = await tcp.connect({ host: server.ip, port: resetter.port + 1 === 65536 ? 1 : resetter.port + 1, send: 'x' });
    assert.equal(refused.connected, false);
    assert.equal(refused.how, 'error');
    assert.equal(refused.errorCode, 'ECONNREFUSED');
  });

  describe('cgroup drivers and QoS classes give the kubelet’s paths', () => {
    const expected: Record<CgroupDriver, Record<QosClass, string>> = {
      systemd: {
        Guaranteed: `kubepods.slice/kubepods-pod3f1c2b4a_5d6e_4f70_8a9b_0c1d2e3f4a5b.slice/cri-containerd-${CONTAINER}.scope`,
        Burstable: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f1c2b4a_5d6e_4f70_8a9b_0c1d2e3f4a5b.slice/cri-containerd-${CONTAINER}.scope`,
        BestEffort: `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod3f1c2b4a_5d6e_4f70_8a9b_0c1d2e3f4a5b.slice/cri-containerd-${CONTAINER}.scope`,
      },
      cgroupfs: {
        Guaranteed: `kubepods/pod${UID}/${CONTAINER}`,
        Burstable: `kubepods/burstable/pod${UID}/${CONTAINER}`,
        BestEffort: `kubepods/besteffort/pod${UID}/${CONTAINER}`,
      },
    };
    for (const driver of ['systemd', 'cgroupfs'] as const) {
      it(`${driver} driver`, async (t) => {
        const lab = withLab(t);
        const node = await lab.addNode({ name: 'node', cgroupDriver: driver });
        const root = driver === 'systemd' ? 'kubepods.slice' : 'kubepods';
        assert.equal(node.podsRootPath, join(lab.cgroupMount, lab.prefix, 'node', root));
        assert.ok(statSync(node.podsRootPath).isDirectory());
        assert.equal(node.podsRootCgroupId(), statSync(node.podsRootPath, { bigint: true }).ino);
        for (const qos of QOS_CLASSES) {
          // The same UID and container ID in each class: only one pod exists at a time.
          const pod = await node.addPod({ name: `pod-${qos.toLowerCase()}`, uid: UID, containerId: CONTAINER, qos });
          assert.equal(pod.containerCgroupPath, join(node.cgroupPath, expected[driver][qos]));
          assert.ok(statSync(pod.containerCgroupPath).isDirectory(), `${driver}/${qos} container cgroup exists`);
          assert.equal(pod.cgroupPath, join(pod.containerCgroupPath, '..'));
          assert.equal(pod.toKubernetes().status.qosClass, qos);
          await pod.destroy();
          assert.equal(existsSync(pod.cgroupPath), false);
        }
      });
    }
  });

  it('toKubernetes describes the live pod', async (t) => {
    const lab = withLab(t);
    const node = await lab.addNode({ name: 'node' });
    const pod = await node.addPod({ name: 'web', namespace: 'shop', labels: { app: 'web' }, annotations: { a: 'b' } });
    const k = pod.toKubernetes();
    assert.equal(k.metadata.namespace, 'shop');
    assert.equal(k.metadata.name, 'web');
    assert.equal(k.metadata.uid, pod.uid);
    assert.match(pod.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random v4 UUID');
    assert.deepEqual(k.metadata.labels, { app: 'web' });
    assert.deepEqual(k.metadata.annotations, { a: 'b' });
    assert.equal(k.spec.nodeName, 'node');
    assert.equal(k.status.podIP, pod.ip);
    assert.deepEqual(k.status.podIPs, [{ ip: pod.ip }]);
    assert.equal(k.status.phase, 'Running');
  });

  it('teardown is idempotent and copes with things already removed by hand', async (t) => {
    const lab = withLab(t);
    const node = await lab.addNode({ name: 'node' });
    const pod = await node.addPod({ name: 'pod' });
    const other = await node.addPod({ name: 'other' });
    await runCommand('ip', ['netns', 'del', pod.netnsName]);
    rmdirSync(pod.containerCgroupPath);
    await pod.destroy();
    await pod.destroy();
    assert.equal(existsSync(pod.cgroupPath), false);
    assert.throws(() => pod.spawn('true'), { code: 'WEFT_E_LAB_DESTROYED' });
    // A name is free again once its pod is gone.
    const again = await node.addPod({ name: 'pod' });
    assert.notEqual(again.uid, pod.uid);
    await Promise.all([node.destroy(), node.destroy()]);
    assert.equal(existsSync(other.netnsPath), false);
    assert.equal(existsSync(node.cgroupPath), false);
    await lab.destroy();
    await lab.destroy();
    assert.ok(isClean(findLeftovers(lab.prefix)), describeLeftovers(findLeftovers(lab.prefix)).join(', '));
  });

  it('refuses duplicate names and use after destroy with clear errors', async (t) => {
    const lab = withLab(t);
    const node = await lab.addNode({ name: 'node' });
    await node.addPod({ name: 'pod' });
    await assert.rejects(node.addPod({ name: 'pod' }), { code: 'WEFT_E_LAB_NAME_TAKEN' });
    await assert.rejects(node.addPod({ name: 'node' }), { code: 'WEFT_E_LAB_NAME_TAKEN' });
    await assert.rejects(lab.addNode({ name: 'fabric' }), { code: 'WEFT_E_LAB_NAME' });
    await assert.rejects(node.addPod({ name: 'Bad_Name' }), { code: 'WEFT_E_LAB_NAME' });
    await lab.destroy();
    await assert.rejects(lab.addNode({ name: 'late' }), { code: 'WEFT_E_LAB_DESTROYED' });
    await assert.rejects(node.addPod({ name: 'late' }), { code: 'WEFT_E_LAB_DESTROYED' });
  });

  it('a short command that hangs is killed and reported', async (t) => {
    const lab = withLab(t);
    const pod = await (await lab.addNode({ name: 'node' })).addPod({ name: 'pod' });
    await assert.rejects(pod.run('sleep', ['30'], { timeoutMs: 300 }), { code: 'WEFT_E_LAB_TIMEOUT' });
    const echoed = await pod.run('cat', [], { input: 'through stdin' });
    assert.deepEqual(echoed, { code: 0, signal: null, stdout: 'through stdin', stderr: '' });
  });

  it('the sweep finds and removes bpffs pins of the prefix, and leaves other pins alone', async (t) => {
    // A private bpffs in a temp dir, so the test neither needs nor touches /sys/fs/bpf.
    const dir = mkdtempSync('/run/weft-test-bpffs-');
    await runCommand('mount', ['-t', 'bpf', 'bpf', dir]);
    t.after(async () => {
      await runCommand('umount', [dir]);
      rmdirSync(dir);
    });
    assert.equal(isBpffs(dir), true);
    assert.equal(isBpffs(tmpdir()), false, 'a plain directory is not bpffs');
    const prefix = `${runPrefix()}-p${randomHex(2)}`;
    const pinMap = (path: string): Promise<void> =>
      runCommand('bpftool', ['map', 'create', path, 'type', 'array', 'key', '4', 'value', '4', 'entries', '1', 'name', 'weft_lab_test']);
    await pinMap(join(dir, `${prefix}_map`));
    mkdirSync(join(dir, prefix));
    await pinMap(join(dir, prefix, 'inner'));
    await pinMap(join(dir, 'weft-tother-map'));

    const found = findLeftovers(prefix, { bpffs: dir });
    assert.deepEqual([...found.pins].sort(), [join(dir, prefix), join(dir, `${prefix}_map`)]);
    assert.deepEqual(await removeLeftovers(found), []);
    assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith('weft-')), ['weft-tother-map']);
  });

  describe('a test process that dies mid-way leaves nothing behind', () => {
    for (const mode of ['throw', 'timeout', 'exit', 'signal'] as const) {
      it(`${mode}: its own cleanup removes the lab and ends its processes`, async (t) => {
        const run = await runFixture(t, mode);
        const leftovers = findLeftovers(run.state.prefix, { resources: run.ledger.entries() });
        assert.ok(isClean(leftovers), `left behind: ${describeLeftovers(leftovers).join(', ')}\n${run.output}`);
        assert.equal(isAlive(run.state.sleeper), false, 'the process it started was ended');
        if (mode === 'signal') assert.equal(run.exit.signal, 'SIGTERM', 'it still died of the signal');
        else assert.notEqual(run.exit.code, 0, 'the fixture failed as it should');
      });
    }

    it('sigkill: nothing runs in the process, and the ledger sweep finds and removes everything', async (t) => {
      const run = await runFixture(t, 'sigkill');
      const leftovers = findLeftovers(run.state.prefix, { resources: run.ledger.entries() });
      const listed = describeLeftovers(leftovers);
      for (const name of run.state.netns) assert.ok(leftovers.netns.includes(name), `found netns ${name}`);
      assert.ok(leftovers.cgroups.length > 0, 'found the cgroup tree');
      assert.ok(leftovers.pids.some((p) => p.pid === run.state.sleeper.pid), `found the pod's process in ${listed.join(', ')}`);
      assert.deepEqual(await removeLeftovers(leftovers), []);
      const after = findLeftovers(run.state.prefix, { resources: run.ledger.entries() });
      assert.ok(isClean(after), describeLeftovers(after).join(', '));
      assert.equal(isAlive(run.state.sleeper), false);
    });
  });
});

interface FixtureRun {
  readonly state: { prefix: string; sleeper: TrackedPid; netns: string[] };
  readonly ledger: Ledger;
  readonly exit: { code: number | null; signal: NodeJS.Signals | null };
  readonly output: string;
}

/** Runs the dies-midway fixture in its own process under a sub-run prefix and waits for it to end. */
async function runFixture(t: TestContext, mode: string): Promise<FixtureRun> {
  const subRun = `${runPrefix()}-c${randomHex(2)}`;
  const ledger = new Ledger(subRun);
  const dir = mkdtempSync('/run/weft-test-fixture-');
  const stateFile = join(dir, 'state.json');
  const env: NodeJS.ProcessEnv = { ...process.env, WEFT_TEST_RUN: subRun, WEFT_FIXTURE_MODE: mode, WEFT_FIXTURE_STATE: stateFile };
  delete env['NODE_TEST_CONTEXT']; // else the fixture would talk the test runner's child protocol
  const fixture = fileURLToPath(new URL('./fixtures/dies-midway.ts', import.meta.url));
  const child = spawn(process.execPath, [fixture], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(async () => {
    // Whatever happened above: the fixture ends, its leftovers go, its files go.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    const prefixOf = (): string | undefined => {
      try {
        return (JSON.parse(readFileSync(stateFile, 'utf8')) as { prefix: string }).prefix;
      } catch {
        return undefined;
      }
    };
    await removeLeftovers(findLeftovers(prefixOf() ?? subRun, { resources: ledger.entries() }));
    ledger.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const state = await waitFor(
    () => {
      if (!existsSync(stateFile)) return child.exitCode === null ? undefined : assert.fail(`fixture ended early:\n${output}`);
      return JSON.parse(readFileSync(stateFile, 'utf8')) as FixtureRun['state'];
    },
    { timeoutMs: 30_000, what: `the ${mode} fixture to build its lab` },
  );
  if (mode === 'sigkill') child.kill('SIGKILL');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = await exited;
  clearTimeout(timer);
  return { state, ledger, exit: { code, signal }, output };
}

async function runCommand(file: string, args: string[]): Promise<void> {
  const child = spawn(file, args, { stdio: 'inherit' });
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, `${file} ${args.join(' ')}`);
}
