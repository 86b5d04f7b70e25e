import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Server, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { PodCapture } from '../../../agent/runtime/pod-capture.ts';
import type { CapturePod, PodCaptureDeps, PodPlacement } from '../../../agent/runtime/pod-capture.ts';

class FakeServer extends EventEmitter {
  closed = false;
  close(): this {
    this.closed = true;
    return this;
  }
}

function harness() {
  const journal: string[] = [];
  const placements = new Map<string, PodPlacement>();
  const servers: FakeServer[] = [];
  let failOpen = new Set<string>();
  const deps: PodCaptureDeps = {
    locate: (pod) => placements.get(pod.uid) ?? { kind: 'not-ready', reason: 'no cgroup yet', code: 'WEFT_E_INVENTORY_CGROUP_NOT_FOUND', retryable: true },
    openListeners: (netnsPath) => {
      journal.push(`listen ${netnsPath}`);
      if (failOpen.has(netnsPath)) return Promise.reject(new Error(`netns ${netnsPath} vanished`));
      const server = new FakeServer();
      servers.push(server);
      return Promise.resolve({ servers: [server as unknown as Server], v4: true, v6: false, netnsCookie: 1n });
    },
    connectionHandler: () => (socket: Socket) => socket.destroy(),
    mesh: (cgroupId) => journal.push(`mesh ${cgroupId}`),
    unmesh: (cgroupId) => journal.push(`unmesh ${cgroupId}`),
    log: () => undefined,
  };
  const ready = (uid: string, cgroupId: bigint, netnsId = 'ns1'): void => {
    placements.set(uid, {
      kind: 'ready', cgroupPath: `/cg/${uid}`, cgroupId, netnsPath: `/proc/${cgroupId}/ns/net`, netnsId,
      netnsDev: 4n, netnsInode: cgroupId, pid: Number(cgroupId),
    });
  };
  return {
    deps, journal, servers, ready, placements,
    failListen: (paths: string[]) => { failOpen = new Set(paths); },
  };
}

const pod = (uid: string): CapturePod => ({ uid, namespace: 'default', name: `pod-${uid}` });
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('PodCapture', () => {
  it('opens the in-pod listeners before marking the cgroup, and unmarks before closing them', async () => {
    const h = harness();
    h.ready('a', 11n);
    const capture = new PodCapture({ retryMs: 10, recheckMs: 10_000 }, h.deps);
    capture.setDesired([pod('a')], []);
    await settle();
    assert.deepEqual(h.journal, ['listen /proc/11/ns/net', 'mesh 11']);
    assert.equal(capture.status()[0]?.state, 'meshed');
    capture.setDesired([], []);
    assert.deepEqual(h.journal.slice(2), ['unmesh 11']);
    assert.equal(h.servers[0]?.closed, true);
    assert.equal(capture.status().length, 0);
    capture.close();
  });

  it('keeps retrying a pod whose cgroup is not there yet and captures it once it is', async () => {
    const h = harness();
    const capture = new PodCapture({ retryMs: 10, recheckMs: 10_000 }, h.deps);
    capture.setDesired([pod('b')], []);
    await settle();
    assert.equal(capture.status()[0]?.state, 'pending');
    assert.equal(capture.status()[0]?.reason, 'no cgroup yet');
    h.ready('b', 12n);
    await settle();
    assert.equal(capture.status()[0]?.state, 'meshed');
    capture.close();
    assert.ok(h.journal.includes('unmesh 12'), 'close() releases captured pods');
  });

  it('a pod that fails to capture is marked failed with the reason while others are meshed', async () => {
    const h = harness();
    h.ready('c', 13n);
    h.ready('d', 14n);
    h.failListen(['/proc/13/ns/net']);
    const capture = new PodCapture({ retryMs: 1000, recheckMs: 10_000 }, h.deps);
    capture.setDesired([pod('c'), pod('d')], []);
    await settle();
    const byUid = new Map(capture.status().map((s) => [s.uid, s]));
    assert.equal(byUid.get('c')?.state, 'failed');
    assert.match(byUid.get('c')?.reason ?? '', /vanished/);
    assert.equal(byUid.get('d')?.state, 'meshed');
    assert.ok(!h.journal.includes('mesh 13'), 'a pod without listeners is never marked');
    capture.close();
  });

  it('lists opted-out pods with their reason and never meshes them', async () => {
    const h = harness();
    h.ready('e', 15n);
    const capture = new PodCapture({ retryMs: 10, recheckMs: 10_000 }, h.deps);
    capture.setDesired([], [{ pod: pod('e'), reason: 'annotation weft.io/mesh=disabled' }]);
    await settle();
    assert.equal(capture.status()[0]?.state, 'excluded');
    assert.deepEqual(h.journal, []);
    capture.close();
  });

  it('captures again in the new netns when a pod sandbox is recreated', async () => {
    const h = harness();
    h.ready('f', 16n, 'ns-old');
    const capture = new PodCapture({ retryMs: 10, recheckMs: 20 }, h.deps);
    capture.setDesired([pod('f')], []);
    await settle();
    h.ready('f', 16n, 'ns-new');
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(h.servers[0]?.closed, true, 'old listener closed');
    assert.equal(h.servers.length, 2, 'a new listener was opened');
    assert.equal(capture.status()[0]?.state, 'meshed');
    capture.close();
  });
});
