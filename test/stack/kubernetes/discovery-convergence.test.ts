// Property: a discovery watcher's folded endpoints converge to what the store's Services and
// EndpointSlices say, whatever the API did meanwhile (drops, missed changes + 410, 5xx), and the
// watcher never sees a second reset.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KubernetesDiscoverySource } from '../../../agent/discovery/kubernetes-source.ts';
import type { DiscoveryTarget, DiscoveryUpdate } from '../../../agent/discovery/types.ts';
import { endpointKey } from '../../../agent/discovery/service-table.ts';
import { kubeConfigFor } from '../../support/kube-api/kubeconfig.ts';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import { waitFor } from '../../support/wait.ts';
import { serviceObject, sliceObject } from '../../unit/discovery/fixtures.ts';

type Op =
  | { readonly op: 'slice'; readonly k: number; readonly ips: readonly number[]; readonly notReady: readonly number[] }
  | { readonly op: 'unslice'; readonly k: number }
  | { readonly op: 'drop' }
  | { readonly op: 'gap' }
  | { readonly op: 'heal' }
  | { readonly op: 'fail'; readonly n: number }
  | { readonly op: 'sleep'; readonly ms: number };

const ipSet = fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 4 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('slice' as const), k: fc.nat(2), ips: ipSet, notReady: ipSet }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unslice' as const), k: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('gap' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('heal' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fail' as const), n: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sleep' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
);

const TARGET: DiscoveryTarget = { kind: 'service', service: { namespace: 'demo', name: 'web' }, port: 'http' };

describe('Kubernetes discovery convergence', () => {
  it('a watcher\'s endpoints converge to the store\'s ready endpoints', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), async (ops) => {
        const api = new FakeKubeApi({ bookmarkIntervalMs: 100 });
        await api.start();
        api.apply('services', serviceObject('demo', 'web', ['10.96.0.10'], [{ name: 'http', port: 80, targetPort: 8080 }]));
        const source = new KubernetesDiscoverySource(
          { kubeConfig: kubeConfigFor(api.url) },
          { silentWatchMs: 300, listTimeoutMs: 400, backoffInitialMs: 10, backoffMaxMs: 50 },
        );
        const held = new Set<string>();
        let resets = 0;
        source.start();
        source.watch(TARGET, (update: DiscoveryUpdate) => {
          if (update.kind === 'reset') {
            resets += 1;
            held.clear();
          }
          for (const endpoint of update.endpoints) {
            if (update.kind === 'remove') held.delete(endpointKey(endpoint));
            else held.add(endpointKey(endpoint));
          }
        });
        // Ready endpoints per slice, as the store holds them now.
        const slices = new Map<number, { ips: readonly number[]; notReady: readonly number[] }>();
        try {
          for (const op of ops) {
            switch (op.op) {
              case 'slice':
                slices.set(op.k, op);
                api.apply(
                  'endpointslices',
                  sliceObject('demo', `web-${op.k}`, 'web', 'IPv4', op.ips.map((ip) => ({ ip: `10.1.${op.k}.${ip}`, ready: !op.notReady.includes(ip) })), [
                    { name: 'http', port: 8080 },
                  ]),
                );
                break;
              case 'unslice':
                slices.delete(op.k);
                api.delete('endpointslices', 'demo', `web-${op.k}`);
                break;
              case 'drop':
                api.dropWatches();
                break;
              case 'gap':
                api.silenceWatches(true);
                api.dropWatches();
                break;
              case 'heal':
                api.compactHistory();
                api.silenceWatches(false);
                api.dropWatches();
                break;
              case 'fail':
                api.failNext(op.n, 503);
                break;
              case 'sleep':
                await sleep(op.ms);
                break;
            }
          }
          api.silenceWatches(false);
          const all = [...slices.entries()].flatMap(([k, s]) => s.ips.map((ip) => ({ key: `10.1.${k}.${ip}:8080`, ready: !s.notReady.includes(ip) })));
          const ready = all.filter((e) => e.ready);
          // No ready endpoint: the ones terminating would serve, and here none is terminating: empty.
          const expected = ready.map((e) => e.key).sort().join();
          const actual = (): string => [...held].sort().join();
          await waitFor(() => source.synced && resets === 1 && actual() === expected, { what: 'convergence', timeoutMs: 8000 }).catch(() => undefined);
          assert.equal(resets, 1, 'exactly one reset');
          assert.equal(actual(), expected, 'the watcher holds the store\'s ready endpoints');
        } finally {
          await source.close();
          await api.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
