// serviceRouter (agent/runtime/service-router.ts), kept beside the discovery tests it extends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advisoryParams } from '../../../agent/discovery/advisory.ts';
import type { StaleService } from '../../../agent/discovery/advisory.ts';
import type { DiscoveryMetrics } from '../../../agent/discovery/metrics.ts';
import { endpointSliceFromObject, serviceFromObject } from '../../../agent/discovery/objects.ts';
import { ServiceTable } from '../../../agent/discovery/service-table.ts';
import { TableWatchers } from '../../../agent/discovery/table-watchers.ts';
import type { DiscoverySourceStatus, SourceHealthListener } from '../../../agent/discovery/types.ts';
import { WeftError } from '../../../agent/errors.ts';
import type { ServiceRouterStatus, TableSource } from '../../../agent/runtime/service-router.ts';
import { serviceRouter } from '../../../agent/runtime/service-router.ts';
import { FakeClock } from '../balance/fake-clock.ts';
import { serviceObject, sliceObject } from '../discovery/fixtures.ts';

function table(ips: readonly number[]): ServiceTable {
  const service = serviceFromObject(serviceObject('demo', 'web', ['10.96.0.10'], [{ name: 'http', port: 80, targetPort: 8080 }]));
  const slice = endpointSliceFromObject(sliceObject('demo', 'web-1', 'web', 'IPv4', ips.map((n) => ({ ip: `10.1.0.${n}` })), [{ name: 'http', port: 8080 }]));
  assert.ok(service.kind === 'ok' && slice.kind === 'ok');
  return new ServiceTable([service.value], [slice.value]);
}

/** A source driven by the test through the same TableWatchers the real sources use. */
class ScriptedSource implements TableSource {
  readonly id = 'scripted';
  readonly watchers = new TableWatchers();
  current = ServiceTable.empty;
  start(): void {}
  table(): ServiceTable {
    return this.current;
  }
  onTable(listener: (table: ServiceTable) => void): () => void {
    return this.watchers.onTable(listener);
  }
  onHealth(listener: SourceHealthListener): () => void {
    return this.watchers.onHealth(listener);
  }
  publish(next: ServiceTable): void {
    this.current = next;
    this.watchers.publish(next);
  }
  status(): DiscoverySourceStatus {
    return { source: this.id, synced: true, services: 1, endpointSlices: 1, lastGoodAt: undefined, error: undefined, watchers: 0 };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const DST = { address: '10.96.0.10', port: 80, family: 4 } as const;
const failure = new WeftError('WEFT_E_DISCOVERY_K8S_LIST', 'kubernetes endpointslices list failed: HTTP 503');

describe('serviceRouter', () => {
  it('routes through the advisory layer: an empty answer keeps the same endpoints array, shown stale on status, logged and counted when it happens', async () => {
    const clock = new FakeClock();
    const source = new ScriptedSource();
    const logs: string[] = [];
    const counted: string[] = [];
    let stale: readonly StaleService[] = [];
    const metrics: DiscoveryMetrics = {
      tableUpdated: (s) => counted.push(`table ${s}`),
      sourceError: (s, code) => counted.push(`error ${s} ${code}`),
      stale: (_s, services) => {
        stale = services;
      },
    };
    const router = serviceRouter(source, (level, message) => logs.push(`${level} ${message}`), {
      clock, wallClock: () => new Date(Date.UTC(2026, 0, 1) + clock.now()), metrics, advisory: { ...advisoryParams, confirmEmptyMs: 1_000 },
    });
    const pushed: number[] = [];
    router.onChange((decision) => pushed.push(decision.endpoints.length));
    source.publish(table([1, 2]));
    const first = router.route(DST);
    assert.ok(first.kind === 'service');
    assert.equal(first.name, 'demo/web:http');
    assert.equal(first.endpoints.length, 2);

    source.watchers.failed(failure, new Date(Date.UTC(2026, 0, 1)));
    source.watchers.failed(failure, new Date(Date.UTC(2026, 0, 1)));
    assert.equal(logs.filter((l) => l.startsWith('warn discovery source error')).length, 1, 'logged once, when it happened');
    assert.deepEqual(counted.filter((c) => c.startsWith('error')), ['error scripted WEFT_E_DISCOVERY_K8S_LIST', 'error scripted WEFT_E_DISCOVERY_K8S_LIST']);
    await Promise.resolve();
    assert.deepEqual(stale.map((s) => s.reason), ['source-error']);
    source.watchers.recovered();

    source.publish(table([]));
    const held = router.route(DST);
    assert.ok(held.kind === 'service');
    assert.equal(held.endpoints, first.endpoints, 'the same array: HttpRoute.sync does not reset the balancer');
    const status = router.status() as ServiceRouterStatus;
    assert.deepEqual(status.stale.map((s) => [s.service, s.reason]), [['demo/web:http', 'empty-unconfirmed']]);
    assert.equal(status.advisory.confirmEmptyMs, 1_000);
    await Promise.resolve();
    assert.deepEqual(stale.map((s) => s.reason), ['empty-unconfirmed']);

    clock.advance(1_000);
    const confirmed = router.route(DST);
    assert.ok(confirmed.kind === 'service');
    assert.equal(confirmed.endpoints.length, 0);
    await Promise.resolve();
    assert.deepEqual(stale, []);
    assert.equal(counted.filter((c) => c.startsWith('table')).length, 2);
    assert.ok(logs.some((l) => l.startsWith('warn discovery answer held')));
    assert.ok(logs.some((l) => l.startsWith('info discovery answer confirmed')));
    assert.deepEqual(pushed, [0], 'pushed once: when the empty answer was confirmed (the hold changed nothing)');
    await router.close();
  });

  it('passes through what is not a Service address', () => {
    const source = new ScriptedSource();
    const router = serviceRouter(source, () => undefined);
    source.publish(table([1]));
    assert.deepEqual(router.route({ address: '192.0.2.1', port: 80, family: 4 }), { kind: 'passthrough' });
  });
});
