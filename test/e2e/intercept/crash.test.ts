// Fail open on a crash: an agent killed outright takes its links with it (they are never pinned),
// so its pods' connections go straight to their destinations at once; the next agent finds the dead
// one's pins, removes them and captures again.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findCgroup2Mount } from '../../../agent/host/cgroup2.ts';
import { ADDON_PATH, nativeAddon } from '../../../agent/intercept/addon.ts';
import type { Interceptor } from '../../../agent/intercept/index.ts';
import { inPodSocketFactory, startInterceptor } from '../../../agent/intercept/index.ts';
import { labSkip } from '../../support/lab.ts';
import { recordPid, recordPin } from '../../support/ledger.ts';
import { labPrefix } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';
import { CgroupTree, cgroupId, NetnsPair, runClient, SERVER_V4 } from './fixture.ts';

const REDIRECT_PORT = 4140;
const SERVICE_PORT = 8080;

function whyNot(): string | false {
  const lab = labSkip('intercept/crash');
  if (lab !== false) return lab;
  if (existsSync(ADDON_PATH)) return false;
  const reason = `the native addon is not built (${ADDON_PATH}); run \`npm run setup\``;
  if (process.env['WEFT_TEST_NO_SKIP'] === '1') throw new Error(`intercept/crash cannot run: ${reason}`);
  console.warn(`WEFT TEST SKIPPED intercept/crash: ${reason}`);
  return reason;
}
const skip = whyNot();

describe('an agent killed outright fails open, and the next one takes over its pins', { skip }, () => {
  const prefix = skip === false ? labPrefix() : 'weft-unused';
  const cgroups = new CgroupTree(findCgroup2Mount() ?? '/nonexistent', prefix);
  const netns = new NetnsPair(prefix);
  const pinDir = `/sys/fs/bpf/${prefix}`;
  const serverTags: string[] = [];
  const childEvents: Array<Record<string, unknown>> = [];
  const servers: Server[] = [];
  const logged: string[] = [];
  let child: ChildProcessWithoutNullStreams | undefined;
  let successor: Interceptor | undefined;
  let podsRoot: string;
  let pod: string;

  before(async () => {
    podsRoot = cgroups.make('kubepods');
    pod = cgroups.make('kubepods/podA');
    netns.make();
    recordPin(pinDir);
    const server = await inPodSocketFactory(NetnsPair.path(netns.server)).listen({
      address: SERVER_V4,
      port: SERVICE_PORT,
      onConnection(socket) {
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => serverTags.push(chunk.trim()));
        socket.on('error', () => {});
        socket.on('end', () => socket.end());
      },
    });
    servers.push(server);
  });

  after(async () => {
    const errors: string[] = [];
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    try {
      successor?.close();
    } catch (error) {
      errors.push(String(error));
    }
    for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const step of [() => netns.remove(), () => cgroups.remove(), () => nativeAddon().removePins(pinDir)]) {
      try {
        step();
      } catch (error) {
        errors.push(String(error));
      }
    }
    if (errors.length > 0) assert.fail(`teardown failed:\n${errors.join('\n')}`);
  });

  test('while the first agent runs, the pod’s connection is captured by it', async () => {
    const script = join(import.meta.dirname, 'agent-child.ts');
    child = spawn(process.execPath, [script, pinDir, podsRoot, pod, NetnsPair.path(netns.pod), String(REDIRECT_PORT)], { stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid !== undefined) recordPid(child.pid);
    let buffered = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
        childEvents.push(JSON.parse(buffered.slice(0, at)) as Record<string, unknown>);
        buffered = buffered.slice(at + 1);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await waitFor(() => childEvents.some((e) => e['ready'] === true) || (child?.exitCode !== null ? Promise.reject(new Error(stderr)) : false), {
      what: 'the first agent to be ready',
      timeoutMs: 10_000,
    });
    const client = await runClient(netns.pod, pod, SERVER_V4, SERVICE_PORT, 'while-alive');
    assert.equal(client.outcome, 'ok');
    await waitFor(() => childEvents.some((e) => e['captured'] === 'while-alive'), { what: 'the first agent to capture' });
    assert.ok(existsSync(join(pinDir, 'meshed_cgroups')));
  });

  test('after SIGKILL the programs are detached at once: the connection goes straight to the server', async () => {
    const running = child;
    assert.ok(running?.pid !== undefined);
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    process.kill(running.pid, 'SIGKILL');
    await exited;
    // No waiting for a heartbeat to go stale: the links died with the process.
    const client = await runClient(netns.pod, pod, SERVER_V4, SERVICE_PORT, 'after-crash');
    assert.equal(client.outcome, 'ok');
    await waitFor(() => serverTags.includes('after-crash'), { what: 'the server to get the connection' });
    // The dead agent's pins are still there (pins outlive processes): the next agent must cope.
    assert.ok(existsSync(join(pinDir, 'meshed_cgroups')));
  });

  test('the next agent removes the stale pins, loads again and captures', async () => {
    successor = startInterceptor(
      { bpffs: '/sys/fs/bpf', pinDir, podsRoot, redirectPort: REDIRECT_PORT, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 },
      { log: (level, message) => logged.push(`${level} ${message}`) },
    );
    assert.ok(logged.includes('warn removing stale pins of a previous agent'), logged.join('\n'));
    // A fresh meshed_cgroups map: the dead agent's marks did not survive.
    assert.equal(successor.counters(cgroupId(pod)), undefined);
    const factory = successor.socketFactoryFor(NetnsPair.path(netns.pod));
    const captured: string[] = [];
    servers.push(
      await factory.listen({
        address: '127.0.0.1',
        port: REDIRECT_PORT,
        onConnection(socket) {
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => captured.push(chunk.trim()));
          socket.on('error', () => {});
          socket.on('end', () => socket.end());
        },
      }),
    );
    successor.meshPod(cgroupId(pod), { v4: true, v6: false });
    const client = await runClient(netns.pod, pod, SERVER_V4, SERVICE_PORT, 'successor');
    assert.equal(client.outcome, 'ok');
    await waitFor(() => captured.includes('successor'), { what: 'the successor to capture' });
    assert.equal(successor.counters(cgroupId(pod))?.captured, 1n);
  });
});
