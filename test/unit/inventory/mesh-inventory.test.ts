import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WeftError } from '../../../agent/errors.ts';
import { InventoryView } from '../../../agent/inventory/inventory-view.ts';
import type { ExcludedPod, MeshPod } from '../../../agent/inventory/mesh-inventory.ts';
import { MeshInventory } from '../../../agent/inventory/mesh-inventory.ts';
import type { InventoryListener, InventorySource, InventorySourceStatus, PodInfo } from '../../../agent/inventory/types.ts';
import { UID_A, UID_B, UID_C } from './fixtures.ts';

function pod(name: string, uid: string | undefined, annotations: Record<string, string> = {}): PodInfo {
  return { namespace: 'demo', name, ...(uid === undefined ? {} : { uid }), labels: {}, annotations, podIPs: [], hostNetwork: false, qosClass: 'Burstable' };
}

class FakeSource implements InventorySource {
  readonly id = 'fake:';
  listener: InventoryListener | undefined;
  closed = false;
  synced = false;
  start(listener: InventoryListener): void {
    this.listener = listener;
  }
  status(): InventorySourceStatus {
    return { source: this.id, synced: this.synced, pods: 0, namespaces: 0, lastGoodAt: undefined, error: undefined, otherNodePods: 0 };
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  send(...updates: Parameters<InventoryListener>[0][]): void {
    for (const update of updates) this.listener?.(update);
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('InventoryView', () => {
  it('folds updates; an error keeps the set and is remembered until the next change', () => {
    const view = new InventoryView();
    assert.equal(view.synced, false);
    assert.equal(view.apply({ kind: 'reset', pods: [pod('a', UID_A)], namespaces: [] }), true);
    assert.equal(view.synced, true);
    const error = new WeftError('WEFT_E_INVENTORY_FILE_SYNTAX', 'bad');
    assert.equal(view.apply({ kind: 'error', error }), false);
    assert.equal(view.error, error);
    assert.deepEqual(view.pods().map((p) => p.name), ['a']);
    assert.equal(view.apply({ kind: 'remove', key: 'nope' }), false, 'removing what is not there changes nothing');
    assert.equal(view.apply({ kind: 'upsert', pod: pod('b', UID_B) }), true);
    assert.equal(view.error, undefined);
    assert.equal(view.size, 2);
  });

  it('decides every pod against its namespace, in namespace/name order', () => {
    const view = new InventoryView();
    view.apply({ kind: 'reset', pods: [pod('z', UID_A), pod('a', UID_B, { 'weft.io/mesh': 'disabled' })], namespaces: [] });
    assert.deepEqual(view.decisions().map((d) => [d.pod.name, d.decision.meshed]), [['a', false], ['z', true]]);
    view.apply({ kind: 'namespace-upsert', namespace: { name: 'demo', labels: {}, annotations: { 'weft.io/mesh': 'disabled' } } });
    assert.deepEqual(view.decisions().map((d) => d.decision.meshed), [false, false]);
    view.apply({ kind: 'namespace-remove', name: 'demo' });
    assert.deepEqual(view.decisions().map((d) => d.decision.meshed), [false, true]);
  });
});

describe('MeshInventory', () => {
  it('says nothing before the source syncs, then one call per burst of updates with wanted and excluded pods', async () => {
    const source = new FakeSource();
    const inventory = new MeshInventory(source);
    const calls: Array<{ wanted: MeshPod[]; excluded: ExcludedPod[] }> = [];
    inventory.start((wanted, excluded) => calls.push({ wanted, excluded }));
    source.send({ kind: 'error', error: new WeftError('WEFT_E_INVENTORY_FILE_MISSING', 'missing') });
    await flush();
    assert.equal(calls.length, 0);
    assert.equal(inventory.synced, false);

    source.send(
      { kind: 'reset', pods: [pod('web', UID_A)], namespaces: [] },
      { kind: 'upsert', pod: pod('db', UID_B) },
      { kind: 'upsert', pod: pod('off', UID_C, { 'weft.io/mesh': 'disabled' }) },
      { kind: 'upsert', pod: pod('nouid', undefined) },
    );
    await flush();
    assert.equal(calls.length, 1, 'coalesced');
    assert.deepEqual(calls[0]?.wanted, [
      { uid: UID_B, namespace: 'demo', name: 'db', podIPs: [], qosClass: 'Burstable' },
      { uid: UID_A, namespace: 'demo', name: 'web', podIPs: [], qosClass: 'Burstable' },
    ]);
    assert.deepEqual(calls[0]?.excluded.map((e) => [e.pod.uid, e.reason]), [
      ['demo/nouid', 'pod has no metadata.uid, so its cgroup cannot be found'],
      [UID_C, 'pod annotation weft.io/mesh: disabled'],
    ]);

    source.send({ kind: 'error', error: new WeftError('WEFT_E_INVENTORY_FILE_SYNTAX', 'bad') });
    await flush();
    assert.equal(calls.length, 1, 'an error changes nothing: the capture keeps the last good set');

    source.send({ kind: 'remove', key: UID_B });
    await flush();
    assert.deepEqual(calls[1]?.wanted.map((p) => p.name), ['web']);
    assert.equal(inventory.status().meshed, 1);
    assert.equal(inventory.status().excluded.length, 2);

    await inventory.close();
    assert.equal(source.closed, true);
    source.send({ kind: 'upsert', pod: pod('late', UID_B) });
    await flush();
    assert.equal(calls.length, 2, 'nothing after close');
  });
});
