// connect4/connect6/sockops for real: programs attached at a pods root, a meshed pod's client (its own
// netns and cgroup, a separate process) dials a "service", and the agent's listener inside the pod's
// netns gets the connection with the original destination recorded. Each bypass rule (loopback,
// excluded port, unmeshed cgroup, agent cgroup, stale heartbeat, family not captured) is proven by
// where the connection arrived AND by the pod's counters.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { findCgroup2Mount } from '../../../agent/host/cgroup2.ts';
import { ADDON_PATH, nativeAddon } from '../../../agent/intercept/addon.ts';
import type { Interceptor, OriginalDestination, PodCounters } from '../../../agent/intercept/index.ts';
import { inPodSocketFactory, startInterceptor } from '../../../agent/intercept/index.ts';
import type { InPodSocketFactory } from '../../../agent/intercept/index.ts';
import { labSkip } from '../../support/lab.ts';
import { recordPin } from '../../support/ledger.ts';
import { labPrefix } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';
import type { ClientResult } from './fixture.ts';
import {
  blockEventLoop,
  CgroupTree,
  cgroupId,
  cgroupProcs,
  NetnsPair,
  POD_V4,
  runClient,
  runClientBlocking,
  SERVER_V4,
  SERVER_V6,
} from './fixture.ts';

const REDIRECT_PORT = 4140;
const SERVICE_PORT = 8080;
const EXCLUDED_PORT = 8081;
const LOCAL_APP_PORT = 9090;
const HEARTBEAT_INTERVAL_MS = 100;
const HEARTBEAT_TIMEOUT_MS = 400;
const BPFFS = '/sys/fs/bpf';

function whyNot(): string | false {
  const lab = labSkip('intercept/redirect');
  if (lab !== false) return lab;
  if (!existsSync(ADDON_PATH)) return loud(`the native addon is not built (${ADDON_PATH}); run \`npm run setup\``);
  if (!nativeAddon().probeProgramType('cgroup_sock_addr') || !nativeAddon().probeProgramType('sock_ops')) {
    return loud('this kernel cannot load cgroup_sock_addr / sock_ops programs');
  }
  return false;
}

function loud(reason: string): string {
  if (process.env['WEFT_TEST_NO_SKIP'] === '1') throw new Error(`intercept/redirect cannot run: ${reason} (WEFT_TEST_NO_SKIP=1 forbids skipping)`);
  console.warn(`WEFT TEST SKIPPED intercept/redirect: ${reason}`);
  return reason;
}

interface Arrival {
  readonly tag: string;
  readonly listener: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** For the agent's capture listeners: the original destination looked up on accept. */
  readonly orig?: OriginalDestination | undefined;
  /** A second look-up of the same key (the record is consumed by the first). */
  readonly origAgain?: OriginalDestination | undefined;
}

const skip = whyNot();

describe('capture programs redirect a meshed pod’s outbound TCP to the agent’s in-pod listener', { skip }, () => {
  const prefix = skip === false ? labPrefix() : 'weft-unused';
  const cgroups = new CgroupTree(findCgroup2Mount() ?? '/nonexistent', prefix);
  const netns = new NetnsPair(prefix);
  const pinDir = `${BPFFS}/${prefix}`;
  const arrivals: Arrival[] = [];
  const servers: Server[] = [];
  let interceptor: Interceptor | undefined;
  let podFactory: InPodSocketFactory;
  let podsRoot: string;
  let podA: string; // meshed v4+v6 (the mark is on the pod cgroup, clients run in a container below it)
  let podAContainer: string;
  let podAAgent: string; // below podA, but the "agent's" cgroup: never captured
  let podB: string; // not meshed
  let podC: string; // meshed v4 only
  let podAId: bigint;
  let podCId: bigint;

  /** Listener that records each connection's first line as its tag. */
  function record(listener: string, onAccept?: (socket: Socket) => Partial<Arrival>): (socket: Socket) => void {
    return (socket) => {
      const extra = onAccept?.(socket) ?? {};
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        const newline = text.indexOf('\n');
        if (newline < 0) return;
        arrivals.push({
          tag: text.slice(0, newline),
          listener,
          remoteAddress: socket.remoteAddress ?? '',
          remotePort: socket.remotePort ?? 0,
          ...extra,
        });
      });
      socket.on('error', () => {});
      socket.on('end', () => socket.end());
    };
  }

  async function arrivalOf(tag: string): Promise<Arrival> {
    return waitFor(() => arrivals.find((a) => a.tag === tag), { what: `a connection tagged ${tag}`, timeoutMs: 5000 });
  }

  function counters(id: bigint): PodCounters {
    const c = interceptor?.counters(id);
    assert.ok(c, `counters for cgroup ${id}`);
    return c;
  }

  function delta(before: PodCounters, now: PodCounters): { captured: number; bypassed: number; failed: number } {
    return {
      captured: Number(now.captured - before.captured),
      bypassed: Number(now.bypassed - before.bypassed),
      failed: Number(now.failed - before.failed),
    };
  }

  /** Runs a client and returns where its connection arrived and how the pod's counters moved. */
  async function dial(cgroup: string, host: string, port: number, tag: string, pod = podAId) {
    const before = counters(pod);
    const client: ClientResult = await runClient(netns.pod, cgroup, host, port, tag);
    assert.equal(client.outcome, 'ok', `client ${tag}: ${JSON.stringify(client)}`);
    const arrival = await arrivalOf(tag);
    return { client, arrival, moved: delta(before, counters(pod)) };
  }

  before(async () => {
    const mount = findCgroup2Mount();
    assert.ok(mount, 'cgroup2 mount');
    podsRoot = cgroups.make('kubepods');
    podA = cgroups.make('kubepods/burstable/podA');
    podAContainer = cgroups.make('kubepods/burstable/podA/ctr');
    podAAgent = cgroups.make('kubepods/burstable/podA/agent');
    podB = cgroups.make('kubepods/burstable/podB');
    podC = cgroups.make('kubepods/podC');
    podAId = cgroupId(podA);
    podCId = cgroupId(podC);
    netns.make();

    recordPin(pinDir);
    interceptor = startInterceptor(
      {
        bpffs: BPFFS,
        pinDir,
        podsRoot,
        redirectPort: REDIRECT_PORT,
        heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
        agentCgroupId: cgroupId(podAAgent),
        excludedPorts: [EXCLUDED_PORT],
      },
      { log: () => {} },
    );

    // The "agent": capture listeners in the pod's netns, v4 and v6, looking up each connection.
    podFactory = interceptor.socketFactoryFor(NetnsPair.path(netns.pod));
    const capture = (family: 4 | 6) =>
      record(`capture-v${family}`, (socket) => {
        const port = socket.remotePort ?? 0;
        const orig = interceptor?.originalDestination(podFactory.netnsCookie, family, port);
        return { orig, origAgain: interceptor?.originalDestination(podFactory.netnsCookie, family, port) };
      });
    servers.push(await podFactory.listen({ address: '127.0.0.1', port: REDIRECT_PORT, onConnection: capture(4) }));
    servers.push(await podFactory.listen({ address: '::1', port: REDIRECT_PORT, onConnection: capture(6) }));
    // An application of the pod's own on its loopback.
    servers.push(await podFactory.listen({ address: '127.0.0.1', port: LOCAL_APP_PORT, onConnection: record('pod-local-app') }));
    // The real destination, in the other netns.
    const serverFactory = inPodSocketFactory(NetnsPair.path(netns.server));
    for (const address of [SERVER_V4, SERVER_V6]) {
      for (const port of [SERVICE_PORT, EXCLUDED_PORT]) {
        servers.push(await serverFactory.listen({ address, port, onConnection: record(`server:${port}`) }));
      }
    }

    interceptor.meshPod(podAId, { v4: true, v6: true });
    interceptor.meshPod(podCId, { v4: true, v6: false });
  });

  after(async () => {
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (error) {
        errors.push(`${what}: ${String(error)}`);
      }
    };
    await attempt('close interceptor', () => interceptor?.close());
    for (const server of servers) await attempt('close server', () => new Promise<void>((resolve) => server.close(() => resolve())));
    await attempt('netns', () => netns.remove());
    await attempt('cgroups', () => cgroups.remove());
    await attempt('pins', () => nativeAddon().removePins(pinDir));
    if (errors.length > 0) assert.fail(`teardown failed:\n${errors.join('\n')}`);
  });

  test('programs are attached at the pods root, one link each, and pinned under the pin dir', () => {
    const attached = interceptor?.attachments() ?? [];
    assert.deepEqual(attached.map((a) => a.attachType).sort(), ['cgroup_inet4_connect', 'cgroup_inet4_getpeername', 'cgroup_inet6_connect', 'cgroup_inet6_getpeername', 'cgroup_sock_ops']);
    for (const a of attached) {
      assert.equal(a.cgroupPath, podsRoot);
      assert.ok(a.programId > 0 && a.linkId > 0);
    }
    for (const name of ['meshed_cgroups', 'pod_counters', 'orig_dst', 'weft_connect4', 'weft_sockops']) assert.ok(existsSync(`${pinDir}/${name}`), name);
  });

  test('a meshed pod’s IPv4 connection goes to the agent, which learns the address the client dialled', async () => {
    const { client, arrival, moved } = await dial(podAContainer, SERVER_V4, SERVICE_PORT, 'v4');
    assert.equal(arrival.listener, 'capture-v4');
    // getpeername4 answers with the address the client dialled, not the capture listener.
    assert.equal(client.remote, `${SERVER_V4}:${SERVICE_PORT}`);
    assert.equal(arrival.remotePort, client.localPort);
    assert.deepEqual(arrival.orig, { address: SERVER_V4, port: SERVICE_PORT, family: 4, podCgroupId: podAId });
    assert.equal(arrival.origAgain, undefined, 'the record is consumed by the first look-up');
    assert.deepEqual(moved, { captured: 1, bypassed: 0, failed: 0 });
  });

  test('a native IPv6 connection goes to the agent’s [::1] listener with its IPv6 destination', async () => {
    const { client, arrival, moved } = await dial(podAContainer, SERVER_V6, SERVICE_PORT, 'v6');
    assert.equal(arrival.listener, 'capture-v6');
    assert.equal(client.remote, `${SERVER_V6}:${SERVICE_PORT}`, 'getpeername6 answers with the dialled IPv6 destination');
    assert.deepEqual(arrival.orig, { address: SERVER_V6, port: SERVICE_PORT, family: 6, podCgroupId: podAId });
    assert.deepEqual(moved, { captured: 1, bypassed: 0, failed: 0 });
  });

  test('a v4-mapped IPv6 connection counts as IPv4: the v4 listener, an IPv4 destination', async () => {
    const { arrival, moved } = await dial(podAContainer, `::ffff:${SERVER_V4}`, SERVICE_PORT, 'mapped');
    assert.equal(arrival.listener, 'capture-v4');
    assert.deepEqual(arrival.orig, { address: SERVER_V4, port: SERVICE_PORT, family: 4, podCgroupId: podAId });
    assert.deepEqual(moved, { captured: 1, bypassed: 0, failed: 0 });
  });

  test('loopback destinations are left alone and counted as bypassed', async () => {
    const { arrival, moved } = await dial(podAContainer, '127.0.0.1', LOCAL_APP_PORT, 'loopback');
    assert.equal(arrival.listener, 'pod-local-app');
    assert.deepEqual(moved, { captured: 0, bypassed: 1, failed: 0 });
  });

  test('excluded ports are left alone and counted as bypassed; setExcludedPorts replaces the set', async () => {
    const first = await dial(podAContainer, SERVER_V4, EXCLUDED_PORT, 'excluded');
    assert.equal(first.arrival.listener, `server:${EXCLUDED_PORT}`);
    assert.equal(first.arrival.remoteAddress, POD_V4);
    assert.deepEqual(first.moved, { captured: 0, bypassed: 1, failed: 0 });

    interceptor?.setExcludedPorts([]);
    try {
      const again = await dial(podAContainer, SERVER_V4, EXCLUDED_PORT, 'no-longer-excluded');
      assert.equal(again.arrival.listener, 'capture-v4');
      assert.equal(again.arrival.orig?.port, EXCLUDED_PORT);
    } finally {
      interceptor?.setExcludedPorts([EXCLUDED_PORT]);
    }
  });

  test('an unmeshed pod’s connection is untouched and counted nowhere', async () => {
    const before = counters(podAId);
    const client = await runClient(netns.pod, podB, SERVER_V4, SERVICE_PORT, 'unmeshed');
    assert.equal(client.outcome, 'ok');
    const arrival = await arrivalOf('unmeshed');
    assert.equal(arrival.listener, `server:${SERVICE_PORT}`);
    assert.equal(arrival.remoteAddress, POD_V4);
    assert.equal(interceptor?.counters(cgroupId(podB)), undefined);
    assert.deepEqual(delta(before, counters(podAId)), { captured: 0, bypassed: 0, failed: 0 });
  });

  test('the agent’s own cgroup inside a meshed pod is never captured (and not counted)', async () => {
    const { arrival, moved } = await dial(podAAgent, SERVER_V4, SERVICE_PORT, 'agent-cgroup');
    assert.equal(arrival.listener, `server:${SERVICE_PORT}`);
    assert.deepEqual(moved, { captured: 0, bypassed: 0, failed: 0 });
  });

  test('a pod meshed for IPv4 only: IPv6 bypassed, IPv4 captured', async () => {
    const v6 = await dial(podC, SERVER_V6, SERVICE_PORT, 'v4only-v6', podCId);
    assert.equal(v6.arrival.listener, `server:${SERVICE_PORT}`);
    assert.deepEqual(v6.moved, { captured: 0, bypassed: 1, failed: 0 });
    const v4 = await dial(podC, SERVER_V4, SERVICE_PORT, 'v4only-v4', podCId);
    assert.equal(v4.arrival.listener, 'capture-v4');
    assert.deepEqual(v4.arrival.orig, { address: SERVER_V4, port: SERVICE_PORT, family: 4, podCgroupId: podCId });
  });

  test('with a stale heartbeat (the agent’s event loop hung) connections fail open and count as bypassed', async () => {
    const before = counters(podAId);
    // No timer runs while the loop is blocked: the heartbeat ages past its timeout, then the client
    // connects while the loop is still blocked.
    blockEventLoop(HEARTBEAT_TIMEOUT_MS + 300);
    const client = runClientBlocking(netns.pod, podAContainer, SERVER_V4, SERVICE_PORT, 'stale');
    assert.equal(client.outcome, 'ok', JSON.stringify(client));
    const arrival = await arrivalOf('stale');
    assert.equal(arrival.listener, `server:${SERVICE_PORT}`);
    assert.deepEqual(delta(before, counters(podAId)), { captured: 0, bypassed: 1, failed: 0 });

    // The heartbeat resumes with the loop, and so does capture.
    await sleep(HEARTBEAT_INTERVAL_MS * 3);
    const { arrival: back } = await dial(podAContainer, SERVER_V4, SERVICE_PORT, 'after-stale');
    assert.equal(back.listener, 'capture-v4');
  });

  test('the agent’s in-pod connection leaves with the pod’s own source IP and is not captured', async () => {
    const socket = podFactory.connect({ address: SERVER_V4, port: SERVICE_PORT });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.end('agent-upstream\n');
    const arrival = await arrivalOf('agent-upstream');
    assert.equal(arrival.listener, `server:${SERVICE_PORT}`);
    assert.equal(arrival.remoteAddress, POD_V4);
    socket.destroy();
  });

  test('unmeshing stops capture at once; its counters go with it', async () => {
    assert.equal(interceptor?.unmeshPod(podCId), true);
    assert.equal(interceptor?.counters(podCId), undefined);
    const client = await runClient(netns.pod, podC, SERVER_V4, SERVICE_PORT, 'unmeshed-c');
    assert.equal(client.outcome, 'ok');
    assert.equal((await arrivalOf('unmeshed-c')).listener, `server:${SERVICE_PORT}`);
    assert.equal(interceptor?.unmeshPod(podCId), false);
  });

  test('close() detaches and unpins: the pod’s connections go straight to their destination', async () => {
    interceptor?.close();
    interceptor?.close();
    assert.deepEqual(interceptor?.attachments(), []);
    assert.equal(existsSync(pinDir), false);
    const client = await runClient(netns.pod, podAContainer, SERVER_V4, SERVICE_PORT, 'after-close');
    assert.equal(client.outcome, 'ok');
    assert.equal((await arrivalOf('after-close')).listener, `server:${SERVICE_PORT}`);
    for (const cgroup of [podAContainer, podAAgent, podB, podC]) assert.deepEqual(cgroupProcs(cgroup), [], `no process left in ${cgroup}`);
  });
});
