// The Kubernetes discovery source driving the real @kubernetes/client-node against the fixture API
// server: the same ServiceTable as the file source, watchers told of scale up / down, advisory errors.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { KubernetesDiscoverySource } from '../../../agent/discovery/kubernetes-source.ts';
import type { DiscoveryTarget, DiscoveryUpdate, Endpoint } from '../../../agent/discovery/types.ts';
import type { KubernetesWatchParams } from '../../../agent/inventory/kubernetes-informer.ts';
import { kubeConfigFor } from '../../support/kube-api/kubeconfig.ts';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import { waitFor } from '../../support/wait.ts';
import type { EndpointSpec } from './fixtures.ts';
import { serviceObject, sliceObject } from './fixtures.ts';

const params: KubernetesWatchParams = { silentWatchMs: 400, listTimeoutMs: 400, backoffInitialMs: 20, backoffMaxMs: 100 };

const WEB: DiscoveryTarget = { kind: 'service', service: { namespace: 'demo', name: 'web' }, port: 'http' };
const WEB_IP: DiscoveryTarget = { kind: 'address', address: '10.96.0.10', port: 80 };

function webSlice(name: string, endpoints: readonly EndpointSpec[]): Record<string, unknown> {
  return sliceObject('demo', name, 'web', 'IPv4', endpoints, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
}

/** Folds a watcher's updates into the endpoint set a balancer would hold. */
class Balancer {
  readonly updates: DiscoveryUpdate[] = [];
  readonly endpoints = new Map<string, Endpoint>();
  readonly listener = (update: DiscoveryUpdate): void => {
    this.updates.push(update);
    if (update.kind === 'reset') this.endpoints.clear();
    for (const endpoint of update.endpoints) {
      if (update.kind === 'remove') this.endpoints.delete(endpoint.address);
      else this.endpoints.set(endpoint.address, endpoint);
    }
  };

  addresses(): string[] {
    return [...this.endpoints.keys()].sort();
  }
}

describe('KubernetesDiscoverySource', () => {
  let api: FakeKubeApi;
  let source: KubernetesDiscoverySource;

  beforeEach(async () => {
    api = new FakeKubeApi();
    await api.start();
    api.apply('services', serviceObject('demo', 'web', ['10.96.0.10'], [{ name: 'http', port: 80, targetPort: 'http' }]));
    api.apply('endpointslices', webSlice('web-a', [{ ip: '10.1.0.1', pod: 'web-1' }, { ip: '10.1.0.2', pod: 'web-2' }]));
    source = new KubernetesDiscoverySource({ kubeConfig: kubeConfigFor(api.url) }, params);
  });

  afterEach(async () => {
    await source.close();
    await api.close();
  });

  async function synced(): Promise<void> {
    source.start();
    await waitFor(() => source.synced, { what: 'the first sync' });
    await waitFor(() => api.openWatches() === 2, { what: 'both watches open' });
  }

  it('resolves by name and by cluster IP from Services and EndpointSlices', async () => {
    assert.equal(source.resolve(WEB).kind, 'unknown', 'nothing before the sync');
    await synced();
    const byName = source.resolve(WEB);
    assert.equal(byName.kind, 'ok');
    assert.deepEqual(byName.kind === 'ok' ? byName.endpoints.map((e) => `${e.address}:${e.port} ${e.podName}`) : [], ['10.1.0.1:8080 web-1', '10.1.0.2:8080 web-2']);
    const byIp = source.resolve(WEB_IP);
    assert.deepEqual(byIp.kind === 'ok' ? byIp.endpoints.map((e) => e.address) : [], ['10.1.0.1', '10.1.0.2']);
    assert.equal(source.resolve({ kind: 'address', address: '10.96.0.99', port: 80 }).kind, 'unknown');
    assert.equal(source.status().services, 1);
    assert.equal(source.status().endpointSlices, 1);
  });

  it('watchers get a reset, then adds on scale up and removes on scale down, delete and unreadiness', async () => {
    await synced();
    const balancer = new Balancer();
    source.watch(WEB, balancer.listener);
    await waitFor(() => balancer.updates.length === 1, { what: 'the reset' });
    assert.equal(balancer.updates[0]?.kind, 'reset');
    assert.deepEqual(balancer.addresses(), ['10.1.0.1', '10.1.0.2']);

    // Scale up: a new endpoint in the slice, and a second slice.
    api.apply('endpointslices', webSlice('web-a', [{ ip: '10.1.0.1', pod: 'web-1' }, { ip: '10.1.0.2', pod: 'web-2' }, { ip: '10.1.0.3', pod: 'web-3' }]));
    api.apply('endpointslices', webSlice('web-b', [{ ip: '10.1.0.4', pod: 'web-4' }]));
    await waitFor(() => balancer.addresses().join() === '10.1.0.1,10.1.0.2,10.1.0.3,10.1.0.4', { what: 'scale up' });
    assert.ok(balancer.updates.slice(1).every((u) => u.kind === 'add'), 'only adds on scale up');

    // Scale down: one endpoint not ready any more, one gone from its slice, one slice deleted.
    const addsBefore = balancer.updates.length;
    api.apply('endpointslices', webSlice('web-a', [{ ip: '10.1.0.1', pod: 'web-1' }, { ip: '10.1.0.2', pod: 'web-2', ready: false }]));
    api.delete('endpointslices', 'demo', 'web-b');
    await waitFor(() => balancer.addresses().join() === '10.1.0.1', { what: 'scale down' });
    const after = balancer.updates.slice(addsBefore);
    assert.ok(after.some((u) => u.kind === 'remove'), 'removes on scale down');
    assert.ok(after.every((u) => u.kind === 'remove' || u.kind === 'add'), 'no reset after the first');

    // The Service deleted: its endpoints are removed (a good answer set without it).
    api.delete('services', 'demo', 'web');
    await waitFor(() => balancer.endpoints.size === 0, { what: 'the service gone' });
    assert.equal(source.resolve(WEB).kind, 'unknown');
  });

  it('is advisory: while the API fails, answers are errors with the last good endpoints and watchers hear nothing', async () => {
    await synced();
    const balancer = new Balancer();
    source.watch(WEB, balancer.listener);
    await waitFor(() => balancer.endpoints.size === 2, { what: 'the reset' });
    api.failNext(8, 503);
    api.dropWatches({ abrupt: true });
    await waitFor(() => source.resolve(WEB).kind === 'error', { what: 'an error answer' });
    const answer = source.resolve(WEB);
    assert.ok(answer.kind === 'error');
    assert.match(answer.error.code, /^WEFT_E_DISCOVERY_K8S_(WATCH|LIST)$/);
    assert.deepEqual(answer.lastGood?.map((e) => e.address), ['10.1.0.1', '10.1.0.2']);
    assert.deepEqual(balancer.addresses(), ['10.1.0.1', '10.1.0.2'], 'the balancer keeps its set');
    await waitFor(() => source.resolve(WEB).kind === 'ok', { what: 'recovery', timeoutMs: 8000 });
    api.apply('endpointslices', webSlice('web-a', [{ ip: '10.1.0.9', pod: 'web-9' }]));
    await waitFor(() => balancer.addresses().join() === '10.1.0.9', { what: 'changes after recovery' });
  });

  it('converges after a 410 relist: a slice deleted while the client was away is removed', async () => {
    await synced();
    const balancer = new Balancer();
    source.watch(WEB_IP, balancer.listener);
    await waitFor(() => balancer.endpoints.size === 2, { what: 'the reset' });
    api.silenceWatches(true);
    api.dropWatches();
    await waitFor(() => api.openWatches() === 2, { what: 'silent watches' });
    api.delete('endpointslices', 'demo', 'web-a');
    api.apply('endpointslices', webSlice('web-c', [{ ip: '10.1.0.5', pod: 'web-5' }]));
    api.compactHistory();
    api.silenceWatches(false);
    api.dropWatches();
    await waitFor(() => balancer.addresses().join() === '10.1.0.5', { what: 'convergence', timeoutMs: 8000 });
    assert.ok(api.requests.some((r) => r.gone === true));
  });

  it('skips and counts malformed Services and slices; a slice turning bad keeps its last good version', async () => {
    api.apply('services', { kind: 'Service', metadata: { namespace: 'demo', name: 'broken' }, spec: { ports: [{ port: 70000 }] } });
    api.apply('endpointslices', { kind: 'EndpointSlice', addressType: 'IPv4' });
    await synced();
    assert.ok(source.status().malformed >= 2, `listed bad objects counted, got ${source.status().malformed}`);
    api.apply('endpointslices', sliceObject('demo', 'web-a', 'web', 'IPv4', [{ ip: 'not-an-ip' }], [{ name: 'http', port: 8080 }]));
    api.apply('services', serviceObject('demo', 'api', ['10.96.0.11'], [{ name: 'http', port: 80, targetPort: 8080 }]));
    await waitFor(() => source.resolve({ kind: 'address', address: '10.96.0.11', port: 80 }).kind === 'ok', { what: 'the good service after the bad slice' });
    const web = source.resolve(WEB);
    assert.deepEqual(web.kind === 'ok' ? web.endpoints.map((e) => e.address) : [], ['10.1.0.1', '10.1.0.2']);
    assert.match(source.status().lastMalformed ?? '', /EndpointSlice demo\/web-a: endpoints\[0\]\.addresses\[0\]/);
  });
});
