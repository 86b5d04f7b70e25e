// The fixture API server against the real @kubernetes/client-node: if these fail, every Kubernetes
// source test that uses the fixture says nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { CoreV1Api, makeInformer } from '@kubernetes/client-node';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import { kubeConfigFor } from '../../support/kube-api/kubeconfig.ts';
import { waitFor } from '../../support/wait.ts';

function pod(name: string, nodeName: string): Record<string, unknown> {
  return { metadata: { namespace: 'demo', name }, spec: { nodeName, containers: [] } };
}

describe('fake Kubernetes API server with the real client', () => {
  const api = new FakeKubeApi();
  before(async () => {
    await api.start();
  });
  after(async () => {
    await api.close();
  });

  it('lists with a field selector and a resourceVersion', async () => {
    api.apply('pods', pod('a', 'n1'));
    api.apply('pods', pod('b', 'n2'));
    const core = kubeConfigFor(api.url).makeApiClient(CoreV1Api);
    const list = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1' });
    assert.deepEqual(list.items.map((p) => p.metadata?.name), ['a']);
    assert.equal(list.metadata?.resourceVersion, api.resourceVersion);
    const namespaced = await core.listNamespacedPod({ namespace: 'other' });
    assert.equal(namespaced.items.length, 0);
  });

  it('an informer sees adds, updates and deletes, and relists after a 410', async () => {
    const kc = kubeConfigFor(api.url);
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
    const seen: string[] = [];
    informer.on('add', (p) => seen.push(`add ${p.metadata?.name}`));
    informer.on('update', (p) => seen.push(`update ${p.metadata?.name}`));
    informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`));
    await informer.start();
    await waitFor(() => api.openWatches('pods') === 1, { what: 'a watch' });
    api.apply('pods', pod('c', 'n1'));
    api.apply('pods', { ...pod('c', 'n1'), status: { phase: 'Running' } });
    api.delete('pods', 'demo', 'a');
    await waitFor(() => seen.includes('delete a'), { what: 'the delete' });
    const listsBefore = api.requestsOf('list').length;
    api.silenceWatches(true);
    api.dropWatches();
    await waitFor(() => api.openWatches('pods') === 1, { what: 'a silent watch' });
    api.delete('pods', 'demo', 'b');
    api.compactHistory();
    api.silenceWatches(false);
    api.dropWatches();
    await waitFor(() => seen.includes('delete b'), { what: 'the relist to see b gone' });
    assert.ok(api.requests.some((r) => r.gone === true), 'a watch was answered 410');
    assert.ok(api.requestsOf('list').length > listsBefore, 'relisted');
    await informer.stop();
  });
});
