// The Kubernetes inventory source under the consumer pod capture uses (MeshInventory): the wanted
// set follows the API server, a namespace opt-out arriving by watch unmeshes its pods, and an API
// outage changes nothing that is meshed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ExcludedPod, MeshPod } from '../../../agent/inventory/mesh-inventory.ts';
import { MeshInventory } from '../../../agent/inventory/mesh-inventory.ts';
import { KubernetesInventorySource } from '../../../agent/inventory/kubernetes-source.ts';
import { kubeConfigFor } from '../../support/kube-api/kubeconfig.ts';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import { waitFor } from '../../support/wait.ts';
import { namespaceObject, podObject, UID_A, UID_B, UID_C } from '../../unit/inventory/fixtures.ts';

describe('MeshInventory over the Kubernetes inventory source', () => {
  const api = new FakeKubeApi({ bookmarkIntervalMs: 100 });
  let mesh: MeshInventory;
  let source: KubernetesInventorySource;
  let last: { wanted: MeshPod[]; excluded: ExcludedPod[] } | undefined;
  let calls = 0;

  before(async () => {
    await api.start();
    api.apply('namespaces', namespaceObject('demo'));
    api.apply('namespaces', namespaceObject('batch'));
    api.apply('pods', podObject({ namespace: 'demo', name: 'web', uid: UID_A, nodeName: 'n1', ip: '10.1.0.5', phase: 'Running' }));
    api.apply('pods', podObject({ namespace: 'batch', name: 'job', uid: UID_B, nodeName: 'n1', ip: '10.1.0.6', phase: 'Running' }));
    api.apply('pods', podObject({ namespace: 'demo', name: 'host', uid: UID_C, nodeName: 'n1', hostNetwork: true, phase: 'Running' }));
    source = new KubernetesInventorySource(
      { nodeName: 'n1', kubeConfig: kubeConfigFor(api.url) },
      { silentWatchMs: 400, listTimeoutMs: 400, backoffInitialMs: 20, backoffMaxMs: 100 },
    );
    mesh = new MeshInventory(source);
    mesh.start((wanted, excluded) => {
      calls += 1;
      last = { wanted, excluded };
    });
  });

  after(async () => {
    await source.close();
    await api.close();
  });

  const wantedNames = (): string => (last?.wanted ?? []).map((pod) => `${pod.namespace}/${pod.name}`).sort().join();

  it('meshes this node\'s pods once synced, leaving host-network pods out with a reason', async () => {
    await waitFor(() => last !== undefined, { what: 'the first desired set' });
    assert.equal(wantedNames(), 'batch/job,demo/web');
    assert.deepEqual(last?.excluded.map((e) => e.pod.name), ['host']);
  });

  it('a namespace opting out by watch unmeshes its pods', async () => {
    api.apply('namespaces', namespaceObject('batch', { 'weft.io/mesh': 'disabled' }));
    await waitFor(() => wantedNames() === 'demo/web', { what: 'batch unmeshed' });
    assert.ok(last?.excluded.some((e) => e.pod.name === 'job'));
  });

  it('an API outage keeps what is meshed; recovery brings changes', async () => {
    const before = calls;
    api.failNext(6, 500);
    api.dropWatches({ abrupt: true });
    await waitFor(() => source.status().error !== undefined, { what: 'the outage seen' });
    assert.equal(mesh.synced, true);
    assert.equal(wantedNames(), 'demo/web', 'nothing unmeshed by the outage');
    assert.equal(calls, before, 'no new desired set from an error');
    await waitFor(() => source.status().error === undefined, { what: 'recovery', timeoutMs: 8000 });
    api.delete('pods', 'demo', 'web');
    await waitFor(() => wantedNames() === '', { what: 'the deleted pod unmeshed' });
  });
});
