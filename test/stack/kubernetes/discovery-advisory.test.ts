// Advisory discovery end to end with the real @kubernetes/client-node source against the fixture
// API server, read the way the outbound proxy reads it (serviceRouter.route per connection): an API
// server that fails for a while, or an answer that empties a service, keeps the last good endpoints
// (marked stale, the same array so the balancer is not reset) until the source recovers or the
// answer is confirmed; an ordinary scale-down is served at once. And requests through a real HTTP
// route keep flowing while the API server is down.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { advisoryParams } from '../../../agent/discovery/advisory.ts';
import type { StaleService } from '../../../agent/discovery/advisory.ts';
import { KubernetesDiscoverySource } from '../../../agent/discovery/kubernetes-source.ts';
import { endpointKey } from '../../../agent/discovery/service-table.ts';
import type { ServiceRouter, ServiceRouterStatus } from '../../../agent/runtime/service-router.ts';
import { serviceRouter } from '../../../agent/runtime/service-router.ts';
import type { UpstreamTarget } from '../../../agent/proxy/outbound.ts';
import { kubeConfigFor } from '../../support/kube-api/kubeconfig.ts';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import { waitFor } from '../../support/wait.ts';
import { AUTHORITY, Cleanups, routeParams, send } from '../proxy/outbound/harness.ts';
import type { EndpointSpec } from '../../unit/discovery/fixtures.ts';
import { serviceObject, sliceObject } from '../../unit/discovery/fixtures.ts';

const DST = { address: '10.96.0.10', port: 80, family: 4 } as const;
const WATCH = { silentWatchMs: 300, listTimeoutMs: 400, backoffInitialMs: 10, backoffMaxMs: 50 };

interface Setup {
  readonly api: FakeKubeApi;
  readonly source: KubernetesDiscoverySource;
  readonly router: ServiceRouter;
  readonly logs: string[];
  readonly errors: string[];
  readonly staleReported: (readonly StaleService[])[];
  endpoints(): readonly UpstreamTarget[];
  served(): string[];
  status(): ServiceRouterStatus;
  /** What the source's own table answers now (before the advisory layer). */
  answered(): number | undefined;
}

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

const slice = (name: string, endpoints: readonly EndpointSpec[], port = 8080): Record<string, unknown> =>
  sliceObject('demo', name, 'web', 'IPv4', endpoints, [{ name: 'http', port }]);
const ready = (...ns: number[]): EndpointSpec[] => ns.map((n) => ({ ip: `10.1.0.${n}` }));
const keys = (...ns: number[]): string[] => ns.map((n) => `10.1.0.${n}:8080`);

async function setup(slices: readonly Record<string, unknown>[], confirmEmptyMs: number): Promise<Setup> {
  const api = new FakeKubeApi({ bookmarkIntervalMs: 100 });
  await api.start();
  api.apply('services', serviceObject('demo', 'web', [DST.address], [{ name: 'http', port: 80, targetPort: 8080 }]));
  for (const object of slices) api.apply('endpointslices', object);
  const source = new KubernetesDiscoverySource({ kubeConfig: kubeConfigFor(api.url) }, WATCH);
  const logs: string[] = [];
  const errors: string[] = [];
  const staleReported: (readonly StaleService[])[] = [];
  const router = serviceRouter(source, (level, message) => logs.push(`${level} ${message}`), {
    advisory: { ...advisoryParams, confirmEmptyMs },
    metrics: { tableUpdated: () => undefined, sourceError: (_s, code) => errors.push(code), stale: (_s, services) => staleReported.push(services) },
  });
  cleanups.add(async () => {
    await router.close();
    await api.close();
  });
  const endpoints = (): readonly UpstreamTarget[] => {
    const decision = router.route(DST);
    return decision.kind === 'service' ? decision.endpoints : [];
  };
  const s: Setup = {
    api, source, router, logs, errors, staleReported, endpoints,
    served: () => endpoints().map(endpointKey),
    status: () => router.status() as ServiceRouterStatus,
    answered: () => source.table().byAddress(DST.address, DST.port)?.endpoints.length,
  };
  await waitFor(() => source.synced && s.answered() !== undefined, { what: 'the first sync' });
  return s;
}

describe('advisory discovery with the Kubernetes source', () => {
  it('keeps a service\'s endpoints, marked stale, while the API server fails, and serves the new state (not stale) after', async () => {
    const s = await setup([slice('web-1', ready(1, 2))], 30_000);
    const before = s.endpoints();
    assert.deepEqual(s.served(), keys(1, 2));

    s.api.failNext(40, 503);
    s.api.dropWatches({ abrupt: true });
    // A change the agent cannot see until the API answers again.
    s.api.apply('endpointslices', slice('web-1', ready(1, 2, 3)));
    await waitFor(() => s.logs.some((l) => l.startsWith('warn discovery source error')), { what: 'the error logged when it happened' });
    const failing = s.status();
    assert.ok(failing.error !== undefined, 'the source reports its failure');
    assert.deepEqual(failing.stale.map((x) => [x.service, x.reason, x.served]), [['demo/web:http', 'source-error', 2]]);
    assert.equal(s.endpoints(), before, 'the same endpoints array: the balancer keeps its state');
    assert.ok(s.errors.length >= 1 && s.errors.every((code) => code.startsWith('WEFT_E_DISCOVERY_K8S_')), `errors counted: ${s.errors.join()}`);

    await waitFor(() => s.status().error === undefined && s.served().length === 3, { what: 'recovery', timeoutMs: 8000 });
    assert.deepEqual(s.served(), keys(1, 2, 3));
    assert.deepEqual(s.status().stale, []);
    assert.ok(s.logs.includes('info discovery source recovered'));
    await waitFor(() => s.staleReported.at(-1)?.length === 0, { what: 'the stale gauge back to none' });
  });

  it('keeps the last 2 endpoints, stale, when an EndpointSlice update empties the service, until the answer is confirmed by time', async () => {
    const confirmEmptyMs = 600;
    const s = await setup([slice('web-1', ready(1, 2))], confirmEmptyMs);
    const before = s.endpoints();
    const emptiedAt = performance.now();
    s.api.apply('endpointslices', slice('web-1', []));
    await waitFor(() => s.answered() === 0, { what: 'the source to see the empty slice' });
    assert.equal(s.endpoints(), before, 'the last good set, the same array');
    assert.deepEqual(s.status().stale.map((x) => [x.service, x.reason, x.served, x.answered]), [['demo/web:http', 'empty-unconfirmed', 2, 0]]);

    await waitFor(() => s.served().length === 0, { what: 'the confirmation', timeoutMs: 5000 });
    assert.ok(performance.now() - emptiedAt >= confirmEmptyMs - 5, 'not emptied before confirmEmptyMs');
    assert.deepEqual(s.status().stale, []);
    assert.ok(s.logs.some((l) => l.startsWith('info discovery answer confirmed')));
  });

  it('serves the endpoints that come back during a hold at once, not stale', async () => {
    const s = await setup([slice('web-1', ready(1, 2))], 30_000);
    s.endpoints();
    s.api.apply('endpointslices', slice('web-1', []));
    await waitFor(() => s.answered() === 0, { what: 'the empty slice' });
    assert.deepEqual(s.served(), keys(1, 2));
    s.api.apply('endpointslices', slice('web-1', ready(2, 4)));
    await waitFor(() => s.served().join() === keys(2, 4).join(), { what: 'the endpoints back' });
    assert.deepEqual(s.status().stale, []);
  });

  it('serves a scale-down from 3 to 2 at once, not stale', async () => {
    const s = await setup([slice('web-1', ready(1, 2, 3))], 30_000);
    const before = s.endpoints();
    assert.equal(before.length, 3);
    // Another service changes: a new table, but this service's array stays (no balancer reset).
    s.api.apply('services', serviceObject('demo', 'api', ['10.96.0.11'], [{ port: 80, targetPort: 9090 }]));
    await waitFor(() => s.source.table().service({ namespace: 'demo', name: 'api' }) !== undefined, { what: 'the other service' });
    assert.equal(s.endpoints(), before, 'an unrelated change keeps the array');
    const at = performance.now();
    s.api.apply('endpointslices', slice('web-1', ready(1, 3)));
    await waitFor(() => s.served().length === 2, { what: 'the scale-down served', timeoutMs: 2000 });
    assert.ok(performance.now() - at < 2000);
    assert.deepEqual(s.served(), keys(1, 3));
    assert.notEqual(s.endpoints(), before, 'a new array: the balancer learns the change');
    assert.deepEqual(s.status().stale, []);
  });

  it('keeps requests flowing through an HTTP route while the API server is down', async () => {
    const a = await cleanups.upstream();
    const b = await cleanups.upstream();
    const s = await setup([
      sliceObject('demo', 'web-a', 'web', 'IPv4', [{ ip: '127.0.0.1' }], [{ name: 'http', port: a.port }]),
      sliceObject('demo', 'web-b', 'web', 'IPv4', [{ ip: '127.0.0.1' }], [{ name: 'http', port: b.port }]),
    ], 30_000);
    // Round robin, so "both endpoints kept serving" does not depend on latencies.
    const proxy = await cleanups.proxy(s.endpoints().map((e) => ({ address: e.address, port: e.port })), routeParams({ balance: { algorithm: 'round-robin' } }));
    const arrays = new Set<readonly UpstreamTarget[]>();
    /** One request as the outbound handler makes it: route the connection, feed the route, send. */
    const request = async (): Promise<number> => {
      const endpoints = s.endpoints();
      arrays.add(endpoints);
      proxy.routes.route(AUTHORITY, endpoints);
      return (await send(proxy.port)).status;
    };
    assert.equal(await request(), 200);

    s.api.failNext(1_000_000, 503);
    s.api.dropWatches({ abrupt: true });
    await waitFor(() => s.status().error !== undefined, { what: 'the API server seen down' });
    const statuses: number[] = [];
    const until = performance.now() + 1000;
    while (performance.now() < until) statuses.push(await request());
    assert.ok(statuses.length > 20, `only ${statuses.length} requests`);
    assert.deepEqual([...new Set(statuses)], [200], 'every request answered while the API server is down');
    assert.ok(a.seen.length > 3 && b.seen.length > 3, `both endpoints used: ${a.seen.length}, ${b.seen.length}`);
    assert.equal(arrays.size, 1, 'one endpoints array throughout: the balancer was never reset');
    assert.deepEqual(s.status().stale.map((x) => x.reason), ['source-error']);
    assert.ok(s.api.requestsOf('any').slice(-5).every((r) => r.status === 503), 'the API server is still failing');
  });
});
