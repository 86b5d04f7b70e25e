import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { unlinkSync } from 'node:fs';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { diffInventory, InventoryFileSource, parseInventory } from '../../../agent/inventory/file-source.ts';
import type { InventoryParse } from '../../../agent/inventory/file-source.ts';
import { InventoryView } from '../../../agent/inventory/inventory-view.ts';
import type { InventorySnapshot, InventoryUpdate, PodInfo } from '../../../agent/inventory/types.ts';
import { podKey } from '../../../agent/inventory/types.ts';
import type { FileWatchParams } from '../../../agent/inventory/watched-file.ts';
import { systemClock } from '../../../agent/time/clock.ts';
import { waitFor } from '../../support/wait.ts';
import { list, namespaceObject, podObject, TempDir, UID_A, UID_B, UID_C } from './fixtures.ts';

function ok(result: InventoryParse): InventorySnapshot {
  if (result.kind === 'error') assert.fail(`expected a snapshot, got ${result.error.message}`);
  return result.snapshot;
}

function failure(result: InventoryParse): { code: string; message: string } {
  if (result.kind === 'ok') assert.fail(`expected an error, got ${result.snapshot.pods.length} pods`);
  return { code: result.error.code, message: result.error.message };
}

describe('parseInventory', () => {
  it('maps a pod: namespace, name, uid, labels, annotations, node, phase, IPs, hostNetwork, QoS', () => {
    const text = list([
      podObject({
        namespace: 'demo', name: 'web', uid: UID_A, nodeName: 'node1', phase: 'Running', ips: ['10.1.0.5', 'fd00::5'],
        qosClass: 'Burstable', labels: { app: 'web' }, annotations: { 'weft.io/mesh': 'enabled' },
      }),
    ]);
    const expected: PodInfo = {
      namespace: 'demo', name: 'web', uid: UID_A, labels: { app: 'web' }, annotations: { 'weft.io/mesh': 'enabled' },
      podIPs: ['10.1.0.5', 'fd00::5'], nodeName: 'node1', phase: 'Running', hostNetwork: false, qosClass: 'Burstable',
    };
    assert.deepEqual(ok(parseInventory('pods.json', text)).pods, [expected]);
  });

  it('fills what a manifest may leave out: namespace default, podIP alone, no labels', () => {
    const pods = ok(parseInventory('pods.json', list([podObject({ name: 'bare', ip: '10.1.0.9', hostNetwork: true })]))).pods;
    assert.deepEqual(pods, [{ namespace: 'default', name: 'bare', labels: {}, annotations: {}, podIPs: ['10.1.0.9'], hostNetwork: true }]);
  });

  it('reads namespaces with their annotations, and ignores kinds that belong to discovery', () => {
    const snapshot = ok(parseInventory('all.yaml', [
      stringify(namespaceObject('quiet', { 'weft.io/mesh': 'disabled' })),
      stringify({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'quiet', name: 's' }, spec: { clusterIP: 'not checked here' } }),
      stringify(podObject({ namespace: 'quiet', name: 'p', uid: UID_A })),
    ].join('---\n')));
    assert.deepEqual(snapshot.namespaces, [{ name: 'quiet', labels: {}, annotations: { 'weft.io/mesh': 'disabled' } }]);
    assert.deepEqual(snapshot.pods.map((pod) => pod.name), ['p']);
  });

  it('keeps only this node\'s pods when a node name is set; pods without a node stay', () => {
    const text = list([
      podObject({ name: 'here', uid: UID_A, nodeName: 'n1' }),
      podObject({ name: 'there', uid: UID_B, nodeName: 'n2' }),
      podObject({ name: 'unscheduled', uid: UID_C }),
    ]);
    const parsed = parseInventory('pods.json', text, { nodeName: 'n1' });
    assert.deepEqual(ok(parsed).pods.map((pod) => pod.name), ['here', 'unscheduled']);
    assert.equal(parsed.kind === 'ok' ? parsed.otherNodePods : -1, 1);
    assert.equal(ok(parseInventory('pods.json', text)).pods.length, 3, 'no node name: every pod');
  });

  it('a malformed UID names the file, the item and the field', () => {
    const e = failure(parseInventory('/etc/weft/pods.json', list([podObject({ name: 'ok', uid: UID_A }), podObject({ namespace: 'demo', name: 'bad', uid: '../../etc' })])));
    assert.equal(e.code, 'WEFT_E_INVENTORY_FILE_OBJECT');
    assert.match(e.message, /^\/etc\/weft\/pods\.json items\[1\]: Pod demo\/bad: metadata\.uid: expected a UUID/);
  });

  it('a bad pod IP and a bad phase are reported with their paths', () => {
    const ipError = failure(parseInventory('p.yaml', stringify(podObject({ name: 'x', ips: ['10.0.0.1', '10.0.0.999'] }))));
    assert.match(ipError.message, /^p\.yaml \(line 1\): Pod x: status\.podIPs\[1\]\.ip: expected an IPv4 or IPv6 address/);
    const phaseError = failure(parseInventory('p.json', list([podObject({ name: 'x', phase: 'Runing' })])));
    assert.match(phaseError.message, /status\.phase: expected one of Pending, Running, Succeeded, Failed, Unknown/);
  });

  it('a pod without a name is an error; a label that is not a string is an error', () => {
    assert.match(failure(parseInventory('p.json', JSON.stringify([{ kind: 'Pod', metadata: {} }]))).message, /metadata\.name: /);
    const labels = failure(parseInventory('p.json', JSON.stringify([{ kind: 'Pod', metadata: { name: 'x', labels: { tier: 3 } } }])));
    assert.match(labels.message, /metadata\.labels\.tier: /);
  });

  it('a pod listed twice (same UID, or same namespace/name) is an error naming both places', () => {
    const sameUid = failure(parseInventory('p.json', list([podObject({ name: 'a', uid: UID_A }), podObject({ name: 'b', uid: UID_A })])));
    assert.equal(sameUid.code, 'WEFT_E_INVENTORY_FILE_DUPLICATE');
    assert.match(sameUid.message, /^p\.json items\[1\]: pod default\/b is listed twice \(first at p\.json items\[0\]\)/);
    const sameName = failure(parseInventory('p.json', list([podObject({ name: 'a', uid: UID_A }), podObject({ name: 'a', uid: UID_B })])));
    assert.equal(sameName.code, 'WEFT_E_INVENTORY_FILE_DUPLICATE');
  });
});

describe('diffInventory', () => {
  const pod = (name: string, uid: string | undefined, labels: Record<string, string> = {}): PodInfo => ({
    namespace: 'demo', name, ...(uid === undefined ? {} : { uid }), labels, annotations: {}, podIPs: [], hostNetwork: false,
  });

  it('upserts new and changed pods, removes gone ones by key, and leaves unchanged ones out', () => {
    const prev = { pods: [pod('a', UID_A), pod('b', UID_B), pod('nouid', undefined)], namespaces: [{ name: 'demo', labels: {}, annotations: {} }] };
    const next = { pods: [pod('a', UID_A), pod('b', UID_B, { v: '2' }), pod('c', UID_C)], namespaces: [] };
    assert.deepEqual(diffInventory(prev, next), [
      { kind: 'upsert', pod: pod('b', UID_B, { v: '2' }) },
      { kind: 'upsert', pod: pod('c', UID_C) },
      { kind: 'remove', key: 'demo/nouid' },
      { kind: 'namespace-remove', name: 'demo' },
    ]);
  });

  it('property: applying the diff to a view of the old set gives exactly the new set', () => {
    const uid = fc.constantFrom(UID_A, UID_B, UID_C, undefined);
    const arbPod = fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd'), uid, label: fc.constantFrom('1', '2') }).map((p) => pod(p.name, p.uid, { v: p.label }));
    const arbSnapshot = fc.record({
      pods: fc.uniqueArray(arbPod, { selector: (p) => podKey(p), maxLength: 6 }),
      namespaces: fc.uniqueArray(fc.constantFrom('demo', 'other').map((name) => ({ name, labels: {}, annotations: {} })), { selector: (n) => n.name }),
    });
    fc.assert(
      fc.property(arbSnapshot, arbSnapshot, (prev, next) => {
        const view = new InventoryView();
        view.apply({ kind: 'reset', pods: prev.pods, namespaces: prev.namespaces });
        for (const update of diffInventory(prev, next)) view.apply(update);
        const byKey = (pods: readonly PodInfo[]): PodInfo[] => [...pods].sort((x, y) => podKey(x).localeCompare(podKey(y)));
        assert.deepEqual(byKey(view.pods()), byKey(next.pods));
        for (const ns of next.namespaces) assert.deepEqual(view.namespace(ns.name), ns);
        for (const ns of prev.namespaces) if (!next.namespaces.some((n) => n.name === ns.name)) assert.equal(view.namespace(ns.name), undefined);
      }),
    );
  });
});

describe('InventoryFileSource follows the file', () => {
  const dir = new TempDir();
  after(() => dir.remove());
  // Events drive these tests: the poll is slow enough that it cannot be what delivered an update.
  const params: FileWatchParams = { debounceMs: 20, maxDelayMs: 200, pollMs: 60_000, maxBytes: 1024 * 1024 };

  function open(name: string, options: { nodeName?: string } = {}): { source: InventoryFileSource; updates: InventoryUpdate[]; path: string } {
    const path = dir.file(name);
    const source = new InventoryFileSource({ path, ...options }, params, { clock: systemClock, wallClock: () => new Date() });
    const updates: InventoryUpdate[] = [];
    source.start((update) => updates.push(update));
    return { source, updates, path };
  }

  const kinds = (updates: readonly InventoryUpdate[]): string[] =>
    updates.map((u) => (u.kind === 'upsert' ? `upsert ${u.pod.name}` : u.kind === 'remove' ? `remove ${u.key}` : u.kind));

  it('delivers a reset first, then upserts and removes as the file is rewritten in place and replaced by rename', async () => {
    dir.write('a.json', list([podObject({ name: 'web', uid: UID_A }), podObject({ name: 'db', uid: UID_B })]));
    const { source, updates } = open('a.json');
    try {
      await waitFor(() => updates.length >= 1, { what: 'the first reset' });
      assert.equal(updates[0]?.kind, 'reset');
      assert.equal(updates[0]?.kind === 'reset' ? updates[0].pods.length : -1, 2);
      assert.equal(source.synced, true);

      dir.write('a.json', list([podObject({ name: 'web', uid: UID_A, labels: { v: '2' } }), podObject({ name: 'db', uid: UID_B })]));
      await waitFor(() => updates.length >= 2, { what: 'the in-place write' });
      assert.deepEqual(kinds(updates.slice(1)), ['upsert web']);

      dir.replace('a.json', list([podObject({ name: 'web', uid: UID_A, labels: { v: '2' } }), podObject({ name: 'cache', uid: UID_C })]));
      await waitFor(() => updates.length >= 4, { what: 'the rename-replace' });
      assert.deepEqual(kinds(updates.slice(2)), ['upsert cache', `remove ${UID_B}`]);
      assert.equal(source.status().pods, 2);
    } finally {
      await source.close();
    }
  });

  it('a malformed file is an error update; the last good set stays; a fixed file resumes with a diff', async () => {
    dir.write('b.yaml', stringify({ kind: 'List', items: [podObject({ name: 'web', uid: UID_A })] }));
    const { source, updates, path } = open('b.yaml');
    try {
      await waitFor(() => updates.length >= 1, { what: 'the first reset' });
      dir.replace('b.yaml', 'kind: List\nitems:\n- kind: Pod\n  metadata: {name: web, uid: nope}\n');
      await waitFor(() => updates.length >= 2, { what: 'the error update' });
      const update = updates[1];
      assert.equal(update?.kind, 'error');
      assert.match(update?.kind === 'error' ? update.error.message : '', new RegExp(`^${path.replaceAll('.', '\\.')} items\\[0\\] \\(line 3\\): Pod web: metadata\\.uid: `));
      const status = source.status();
      assert.equal(status.pods, 1, 'the last good set is kept');
      assert.equal(status.synced, true);
      assert.equal(status.error?.code, 'WEFT_E_INVENTORY_FILE_OBJECT');

      dir.replace('b.yaml', stringify({ kind: 'List', items: [podObject({ name: 'web', uid: UID_A }), podObject({ name: 'db', uid: UID_B })] }));
      await waitFor(() => updates.length >= 3, { what: 'the recovery' });
      assert.deepEqual(kinds(updates.slice(2)), ['upsert db'], 'diffed against the last good set, not a reset');
      assert.equal(source.status().error, undefined);
    } finally {
      await source.close();
    }
  });

  it('a deleted file is an error update (the set stays); the file coming back is diffed', async () => {
    dir.write('c.json', list([podObject({ name: 'web', uid: UID_A })]));
    const { source, updates, path } = open('c.json');
    try {
      await waitFor(() => updates.length >= 1, { what: 'the first reset' });
      unlinkSync(path);
      await waitFor(() => updates.length >= 2, { what: 'the missing-file error' });
      const update = updates[1];
      assert.equal(update?.kind === 'error' ? update.error.code : update?.kind, 'WEFT_E_INVENTORY_FILE_MISSING');
      assert.equal(source.status().pods, 1);
      dir.replace('c.json', list([]));
      await waitFor(() => updates.length >= 3, { what: 'the file coming back' });
      assert.deepEqual(kinds(updates.slice(2)), [`remove ${UID_A}`]);
    } finally {
      await source.close();
    }
  });

  it('a file missing at start is an error and the source is not synced until it appears', async () => {
    const { source, updates } = open('later.json');
    try {
      await waitFor(() => updates.length >= 1, { what: 'the missing-file error' });
      assert.equal(updates[0]?.kind, 'error');
      assert.equal(source.synced, false);
      dir.replace('later.json', list([podObject({ name: 'web', uid: UID_A })]));
      await waitFor(() => updates.length >= 2, { what: 'the reset' });
      assert.equal(updates[1]?.kind, 'reset');
      assert.equal(source.synced, true);
    } finally {
      await source.close();
    }
  });

  it('rewriting the same content delivers nothing; a node name filters other nodes\' pods', async () => {
    const text = list([podObject({ name: 'here', uid: UID_A, nodeName: 'n1' }), podObject({ name: 'there', uid: UID_B, nodeName: 'n2' })]);
    dir.write('d.json', text);
    const { source, updates } = open('d.json', { nodeName: 'n1' });
    try {
      await waitFor(() => updates.length >= 1, { what: 'the first reset' });
      assert.deepEqual(updates[0]?.kind === 'reset' ? updates[0].pods.map((p) => p.name) : [], ['here']);
      assert.equal(source.status().otherNodePods, 1);
      dir.replace('d.json', text);
      dir.write('d.json', text);
      // A later, different write proves the watcher was live while the identical ones were ignored.
      dir.replace('d.json', list([podObject({ name: 'here', uid: UID_A, nodeName: 'n1', labels: { v: '2' } })]));
      await waitFor(() => updates.length >= 2, { what: 'the changed write' });
      assert.deepEqual(kinds(updates.slice(1)), ['upsert here']);
    } finally {
      await source.close();
    }
  });

  it('after close, nothing more is delivered', async () => {
    dir.write('e.json', list([]));
    const { source, updates } = open('e.json');
    await waitFor(() => updates.length >= 1, { what: 'the first reset' });
    await source.close();
    dir.replace('e.json', list([podObject({ name: 'web', uid: UID_A })]));
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(updates.length, 1);
  });
});
