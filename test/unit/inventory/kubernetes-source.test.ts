// The Kubernetes inventory source driving the real @kubernetes/client-node against the fixture API
// server: sync, changes, 410 relists, 5xx, dropped and silent watches, malformed objects.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { KubernetesInventoryStatus } from '../../../agent/inventory/kubernetes-source.ts';
import { KubernetesInventorySource } from '../../../agent/inventory/kubernetes-source.ts';
import { loadKubeConfig } from '../../../agent/inventory/kubernetes-config.ts';
import type { KubernetesWatchParams } from '../../../agent/inventory/kubernetes-informer.ts';
import type { InventoryUpdate, PodInfo } from '../../../agent/inventory/types.ts';
import { podKey } from '../../../agent/inventory/types.ts';
import { systemClock } from '../../../agent/time/clock.ts';
import { kubeConfigFor, writeKubeconfig } from '../../support/kube-api/kubeconfig.ts';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import { waitFor } from '../../support/wait.ts';
import { namespaceObject, podObject, UID_A, UID_B, UID_C } from './fixtures.ts';

const UID_D = '3e819e7f-4c5d-4a61-8f1e-0d9c8b7a6f5e';

const params: KubernetesWatchParams = { silentWatchMs: 400, listTimeoutMs: 400, backoffInitialMs: 20, backoffMaxMs: 100 };

/** Folds updates the way a consumer does, and keeps them for assertions. */
class Recorder {
  readonly updates: InventoryUpdate[] = [];
  readonly pods = new Map<string, PodInfo>();
  readonly namespaces = new Set<string>();
  readonly listener = (update: InventoryUpdate): void => {
    this.updates.push(update);
    switch (update.kind) {
      case 'reset':
        this.pods.clear();
        this.namespaces.clear();
        for (const pod of update.pods) this.pods.set(podKey(pod), pod);
        for (const ns of update.namespaces) this.namespaces.add(ns.name);
        break;
      case 'upsert':
        this.pods.set(podKey(update.pod), update.pod);
        break;
      case 'remove':
        this.pods.delete(update.key);
        break;
      case 'namespace-upsert':
        this.namespaces.add(update.namespace.name);
        break;
      case 'namespace-remove':
        this.namespaces.delete(update.name);
        break;
      case 'error':
        break;
    }
  };

  names(): string[] {
    return [...this.pods.values()].map((pod) => `${pod.namespace}/${pod.name}`).sort();
  }

  count(kind: InventoryUpdate['kind']): number {
    return this.updates.filter((u) => u.kind === kind).length;
  }
}

describe('KubernetesInventorySource', () => {
  let api: FakeKubeApi;
  let source: KubernetesInventorySource;
  let seen: Recorder;

  beforeEach(async () => {
    api = new FakeKubeApi({ bookmarkIntervalMs: 100 });
    await api.start();
    api.apply('namespaces', namespaceObject('demo'));
    api.apply('namespaces', namespaceObject('quiet', { 'weft.io/mesh': 'disabled' }));
    api.apply('pods', podObject({ namespace: 'demo', name: 'web', uid: UID_A, nodeName: 'n1', ip: '10.1.0.5', phase: 'Running' }));
    api.apply('pods', podObject({ namespace: 'demo', name: 'elsewhere', uid: UID_B, nodeName: 'n2' }));
    source = new KubernetesInventorySource({ nodeName: 'n1', kubeConfig: kubeConfigFor(api.url) }, params);
    seen = new Recorder();
  });

  afterEach(async () => {
    await source.close();
    await api.close();
  });

  async function synced(): Promise<void> {
    source.start(seen.listener);
    await waitFor(() => source.synced, { what: 'the first sync' });
    await waitFor(() => api.openWatches('pods') === 1 && api.openWatches('namespaces') === 1, { what: 'both watches open' });
  }

  it('syncs once: one reset with this node\'s pods and every namespace', async () => {
    await synced();
    const reset = seen.updates.find((u) => u.kind === 'reset');
    assert.ok(reset !== undefined && reset.kind === 'reset');
    assert.deepEqual(reset.pods, [
      { namespace: 'demo', name: 'web', uid: UID_A, labels: {}, annotations: {}, podIPs: ['10.1.0.5'], nodeName: 'n1', phase: 'Running', hostNetwork: false },
    ]);
    assert.deepEqual(reset.namespaces.map((ns) => ns.name).sort(), ['demo', 'quiet']);
    assert.equal(seen.count('reset'), 1);
    const list = api.requestsOf('list', '/api/v1/pods')[0];
    assert.equal(list?.query['fieldSelector'], 'spec.nodeName=n1', 'the node filter is asked of the server');
    const watch = api.requestsOf('watch', '/api/v1/pods')[0];
    assert.equal(watch?.query['allowWatchBookmarks'], 'true');
    assert.equal(source.status().pods, 1);
    assert.equal(source.status().error, undefined);
  });

  it('delivers adds, updates and deletes of pods and namespaces as they happen', async () => {
    await synced();
    api.apply('pods', podObject({ namespace: 'demo', name: 'api', uid: UID_C, nodeName: 'n1' }));
    api.apply('pods', podObject({ namespace: 'demo', name: 'other-node', uid: UID_D, nodeName: 'n2' }));
    await waitFor(() => seen.pods.has(UID_C), { what: 'the added pod' });
    api.apply('pods', podObject({ namespace: 'demo', name: 'api', uid: UID_C, nodeName: 'n1', ip: '10.1.0.7', phase: 'Running' }));
    await waitFor(() => seen.pods.get(UID_C)?.podIPs[0] === '10.1.0.7', { what: 'the updated pod' });
    api.delete('pods', 'demo', 'web');
    await waitFor(() => !seen.pods.has(UID_A), { what: 'the deleted pod' });
    api.apply('namespaces', namespaceObject('new'));
    api.delete('namespaces', undefined, 'quiet');
    await waitFor(() => seen.namespaces.has('new') && !seen.namespaces.has('quiet'), { what: 'namespace changes' });
    assert.deepEqual(seen.names(), ['demo/api']);
    assert.ok(!seen.updates.some((u) => u.kind === 'upsert' && u.pod.name === 'other-node'), 'another node\'s pod never arrives');
  });

  it('a watch answered 410 Gone relists and converges: changes missed meanwhile arrive as upserts and removes', async () => {
    await synced();
    const listsBefore = api.requestsOf('list', '/api/v1/pods').length;
    // Keep the client from seeing the changes: its next watch stays silent; then forget the history.
    api.silenceWatches(true);
    api.dropWatches();
    await waitFor(() => api.openWatches('pods') === 1, { what: 'a silent watch' });
    api.delete('pods', 'demo', 'web');
    api.apply('pods', podObject({ namespace: 'demo', name: 'late', uid: UID_C, nodeName: 'n1' }));
    api.compactHistory();
    api.silenceWatches(false);
    api.dropWatches();
    await waitFor(() => seen.names().join() === 'demo/late', { what: 'the set to converge after the relist', timeoutMs: 8000 });
    assert.ok(api.requests.some((r) => r.gone === true), 'a watch was answered 410');
    assert.ok(api.requestsOf('list', '/api/v1/pods').length > listsBefore, 'the pods were listed again');
    assert.equal(seen.count('reset'), 1, 'a relist is delivered as changes, not a second reset');
  });

  it('a plain HTTP 410 on the watch request relists too', async () => {
    await source.close();
    await api.close();
    api = new FakeKubeApi({ goneAs: 'status' });
    await api.start();
    api.apply('pods', podObject({ namespace: 'demo', name: 'web', uid: UID_A, nodeName: 'n1' }));
    api.apply('namespaces', namespaceObject('demo'));
    source = new KubernetesInventorySource({ nodeName: 'n1', kubeConfig: kubeConfigFor(api.url) }, params);
    await synced();
    api.silenceWatches(true);
    api.dropWatches();
    await waitFor(() => api.openWatches('pods') === 1, { what: 'a silent watch' });
    // Recreated under the same name (a StatefulSet pod): a new UID.
    api.delete('pods', 'demo', 'web');
    api.apply('pods', podObject({ namespace: 'demo', name: 'web', uid: UID_C, nodeName: 'n1' }));
    api.compactHistory();
    api.silenceWatches(false);
    api.dropWatches();
    await waitFor(() => [...seen.pods.keys()].join() === UID_C, { what: 'the recreated pod alone', timeoutMs: 8000 });
    assert.ok(api.requests.some((r) => r.gone === true && r.status === 410), 'a watch was refused with HTTP 410');
    assert.ok(seen.updates.some((u) => u.kind === 'remove' && u.key === UID_A), 'the old UID is removed');
  });

  it('bookmarks keep a quiet watch from being cut as silent', async () => {
    await synced();
    await waitFor(() => (source.status().informers[0]?.bookmarks ?? 0) >= 6, { what: 'bookmarks', timeoutMs: 8000 });
    // Six bookmarks 100 ms apart outlast the 400 ms silence limit: only bookmarks kept the watch alive.
    assert.equal(api.requestsOf('watch', '/api/v1/pods').length, 1, 'the first watch is still the only one');
  });

  it('the API answering 500s: an error update, the last good set kept, then recovery', async () => {
    await synced();
    api.failNext(6, 500);
    api.dropWatches({ abrupt: true });
    await waitFor(() => source.status().error !== undefined, { what: 'the error in status' });
    const status: KubernetesInventoryStatus = source.status();
    assert.match(status.error?.code ?? '', /^WEFT_E_INVENTORY_K8S_(WATCH|LIST)$/);
    assert.ok(seen.count('error') >= 1, 'an error update');
    assert.equal(status.pods, 1, 'the last good set stays');
    assert.deepEqual(seen.names(), ['demo/web']);
    await waitFor(() => source.status().error === undefined, { what: 'recovery', timeoutMs: 8000 });
    api.apply('pods', podObject({ namespace: 'demo', name: 'after', uid: UID_C, nodeName: 'n1' }));
    await waitFor(() => seen.pods.has(UID_C), { what: 'changes flowing again' });
    assert.ok(source.status().informers.some((i) => i.restarts > 0), 'the informer was restarted');
  });

  it('a dropped watch is resumed from its resourceVersion without a relist', async () => {
    await synced();
    const lists = api.requestsOf('list').length;
    const watches = api.requestsOf('watch', '/api/v1/pods').length;
    api.dropWatches();
    await waitFor(() => api.requestsOf('watch', '/api/v1/pods').length > watches, { what: 'a new watch' });
    api.apply('pods', podObject({ namespace: 'demo', name: 'resumed', uid: UID_C, nodeName: 'n1' }));
    await waitFor(() => seen.pods.has(UID_C), { what: 'the change on the resumed watch' });
    const resumed = api.requestsOf('watch', '/api/v1/pods').at(-1);
    assert.notEqual(resumed?.query['resourceVersion'], undefined);
    assert.notEqual(resumed?.query['resourceVersion'], '');
    assert.equal(api.requestsOf('list').length, lists, 'no relist');
  });

  it('close() during the client\'s reconnect delay leaves no watch open', async () => {
    // A long reconnect delay (the client's, capped at backoffMaxMs) so close() surely lands inside it,
    // and no bookmarks (any event resets the client's delay).
    await source.close();
    await api.close();
    api = new FakeKubeApi();
    await api.start();
    source = new KubernetesInventorySource({ nodeName: 'n1', kubeConfig: kubeConfigFor(api.url) }, { ...params, backoffMaxMs: 1500 });
    await synced();
    const watches = api.requestsOf('watch').length;
    api.dropWatches();
    await waitFor(() => api.requestsOf('watch').length >= watches + 2 && api.openWatches() === 2, { what: 'resumed watches' });
    // A second drop with no event in between: now the client waits before resuming.
    api.dropWatches();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(api.requestsOf('watch').length, watches + 2, 'the client is waiting to reconnect');
    await source.close();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(api.openWatches(), 0, 'no watch opened after close');
    assert.equal(api.requestsOf('watch').length, watches + 2, 'no watch requested after close');
  });

  it('a silent watch is cut after the timeout and resumed', async () => {
    await synced();
    api.silenceWatches(true);
    api.dropWatches();
    await waitFor(() => api.openWatches('pods') === 1, { what: 'a silent watch' });
    api.apply('pods', podObject({ namespace: 'demo', name: 'unheard', uid: UID_C, nodeName: 'n1' }));
    api.silenceWatches(false);
    // Nothing drops the silent watch but the source's own timeout.
    await waitFor(() => seen.pods.has(UID_C), { what: 'the change after the silent watch was cut', timeoutMs: 8000 });
  });

  it('a watch whose answer never comes is abandoned after the timeout and opened again', async () => {
    await synced();
    // Longer than the wait below: only the source's own timeout gets past it.
    api.delayNext(1, 60_000, 'watch', '/api/v1/pods');
    api.dropWatches();
    await waitFor(() => api.requestsOf('watch', '/api/v1/pods').length >= 2, { what: 'the stuck watch request' });
    api.apply('pods', podObject({ namespace: 'demo', name: 'after-stuck', uid: UID_C, nodeName: 'n1' }));
    await waitFor(() => seen.pods.has(UID_C), { what: 'the change on the next watch', timeoutMs: 5000 });
  });

  it('an unreachable API server before the first sync: error updates, no reset, retries', async () => {
    const url = api.url;
    await api.close();
    source = new KubernetesInventorySource({ nodeName: 'n1', kubeConfig: kubeConfigFor(url) }, params);
    source.start(seen.listener);
    await waitFor(() => seen.count('error') >= 2, { what: 'repeated error updates' });
    assert.equal(source.synced, false);
    assert.equal(seen.count('reset'), 0);
    assert.equal(source.status().error?.code, 'WEFT_E_INVENTORY_K8S_LIST');
    assert.match(source.status().error?.message ?? '', /kubernetes (pods|namespaces) list failed: .*retrying in \d+ ms/);
    // afterEach closes the server again; give it one that is running.
    api = new FakeKubeApi();
    await api.start();
  });

  it('a list that hangs past its deadline is retried', async () => {
    api.delayNext(1, 3000, 'list');
    source.start(seen.listener);
    await waitFor(() => source.synced, { what: 'the sync after a retried list', timeoutMs: 8000 });
    assert.ok(source.status().informers.some((i) => i.restarts > 0));
  });

  it('skips and counts malformed objects, keeps the good ones, and never stops', async () => {
    api.apply('pods', podObject({ namespace: 'demo', name: 'bad-uid', uid: '../../etc', nodeName: 'n1' }));
    api.apply('pods', { kind: 'Pod', spec: { nodeName: 'n1' } });
    await synced();
    assert.deepEqual(seen.names(), ['demo/web']);
    const before = source.status().malformed;
    assert.ok(before >= 2, `both listed bad pods are counted, got ${before}`);
    api.apply('pods', podObject({ namespace: 'demo', name: 'bad-phase', uid: UID_C, nodeName: 'n1', phase: 'Runing' }));
    api.apply('pods', { kind: 'Pod', metadata: 7, spec: { nodeName: 'n1' } });
    // A good version turning bad keeps its last good version.
    api.apply('pods', podObject({ namespace: 'demo', name: 'web', uid: UID_A, nodeName: 'n1', ips: ['999.1.1.1'] }));
    api.apply('pods', podObject({ namespace: 'demo', name: 'good', uid: UID_D, nodeName: 'n1' }));
    await waitFor(() => seen.pods.has(UID_D), { what: 'the good pod after the bad ones' });
    assert.deepEqual(seen.names(), ['demo/good', 'demo/web']);
    assert.equal(seen.pods.get(UID_A)?.podIPs[0], '10.1.0.5');
    assert.ok(source.status().malformed >= before + 3, `the watched bad pods are counted, got ${source.status().malformed}`);
    assert.match(source.status().lastMalformed ?? '', /Pod demo\/web: status\.podIPs\[0\]\.ip: expected an IPv4 or IPv6 address/);
  });
});

describe('loadKubeConfig', () => {
  it('loads the file KUBECONFIG names; in-cluster uses the kubelet\'s variables and refuses without them', async () => {
    const api = new FakeKubeApi();
    await api.start();
    const written = writeKubeconfig(api.url);
    const saved = process.env['KUBECONFIG'];
    try {
      process.env['KUBECONFIG'] = written.path;
      const config = loadKubeConfig();
      assert.equal(config.getCurrentCluster()?.server, api.url);
      assert.equal(loadKubeConfig({ kubeconfigPath: written.path }).getCurrentCluster()?.server, api.url);
      const source = new KubernetesInventorySource({ nodeName: 'n1', kubeConfig: config }, params, { clock: systemClock, wallClock: () => new Date() });
      assert.equal(source.id, `kubernetes:${api.url}`);
      const savedHost = process.env['KUBERNETES_SERVICE_HOST'];
      const savedPort = process.env['KUBERNETES_SERVICE_PORT'];
      try {
        delete process.env['KUBERNETES_SERVICE_HOST'];
        assert.throws(() => loadKubeConfig({ inCluster: true }), { code: 'WEFT_E_INVENTORY_K8S_CONFIG', message: /KUBERNETES_SERVICE_HOST/ });
        // In a pod: the service's address from the kubelet's variables, the service account's token and CA.
        process.env['KUBERNETES_SERVICE_HOST'] = '10.96.0.1';
        process.env['KUBERNETES_SERVICE_PORT'] = '443';
        const inCluster = loadKubeConfig({ inCluster: true });
        assert.equal(inCluster.getCurrentCluster()?.server, 'https://10.96.0.1:443');
        assert.equal(inCluster.getCurrentCluster()?.caFile, '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt');
      } finally {
        if (savedHost === undefined) delete process.env['KUBERNETES_SERVICE_HOST'];
        else process.env['KUBERNETES_SERVICE_HOST'] = savedHost;
        if (savedPort === undefined) delete process.env['KUBERNETES_SERVICE_PORT'];
        else process.env['KUBERNETES_SERVICE_PORT'] = savedPort;
      }
    } finally {
      if (saved === undefined) delete process.env['KUBECONFIG'];
      else process.env['KUBECONFIG'] = saved;
      written.remove();
      await api.close();
    }
  });
});
