// Property: whatever happens between the API server and the source (changes, dropped watches,
// watches that miss changes and then hit a compacted history, 5xx answers), once the API is healthy
// again the inventory a consumer folds from the updates equals this node's pods in the store.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KubernetesInventorySource } from '../../../agent/inventory/kubernetes-source.ts';
import type { InventoryUpdate, PodInfo } from '../../../agent/inventory/types.ts';
import { podKey } from '../../../agent/inventory/types.ts';
import { kubeConfigFor } from '../../support/kube-api/kubeconfig.ts';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import { waitFor } from '../../support/wait.ts';
import { podObject } from '../../unit/inventory/fixtures.ts';

type Op =
  | { readonly op: 'apply'; readonly i: number; readonly gen: number; readonly node: 'n1' | 'n2'; readonly ip: number }
  | { readonly op: 'delete'; readonly i: number }
  | { readonly op: 'drop'; readonly abrupt: boolean }
  | { readonly op: 'gap' }
  | { readonly op: 'heal' }
  | { readonly op: 'fail'; readonly n: number }
  | { readonly op: 'sleep'; readonly ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('apply' as const), i: fc.nat(4), gen: fc.nat(1), node: fc.constantFrom('n1' as const, 'n2' as const), ip: fc.integer({ min: 1, max: 9 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), i: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), abrupt: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('gap' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('heal' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fail' as const), n: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sleep' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
);

const uid = (i: number, gen: number): string => `0000000${i}-0000-4000-8000-00000000000${gen}`;

describe('Kubernetes inventory convergence', () => {
  it('the folded updates converge to this node\'s pods in the store, whatever the API did meanwhile', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), async (ops) => {
        const api = new FakeKubeApi({ bookmarkIntervalMs: 100 });
        await api.start();
        const source = new KubernetesInventorySource(
          { nodeName: 'n1', kubeConfig: kubeConfigFor(api.url) },
          { silentWatchMs: 300, listTimeoutMs: 400, backoffInitialMs: 10, backoffMaxMs: 50 },
        );
        const pods = new Map<string, PodInfo>();
        source.start((update: InventoryUpdate) => {
          if (update.kind === 'reset') {
            pods.clear();
            for (const pod of update.pods) pods.set(podKey(pod), pod);
          } else if (update.kind === 'upsert') pods.set(podKey(update.pod), update.pod);
          else if (update.kind === 'remove') pods.delete(update.key);
        });
        try {
          for (const op of ops) {
            switch (op.op) {
              case 'apply':
                api.apply('pods', podObject({ namespace: 'demo', name: `p${op.i}`, uid: uid(op.i, op.gen), nodeName: op.node, ip: `10.1.0.${op.ip}` }));
                break;
              case 'delete':
                api.delete('pods', 'demo', `p${op.i}`);
                break;
              case 'drop':
                api.dropWatches({ abrupt: op.abrupt });
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
                api.failNext(op.n, 500);
                break;
              case 'sleep':
                await sleep(op.ms);
                break;
            }
          }
          api.silenceWatches(false);
          const expected = (): string =>
            api
              .list('pods')
              .filter((object) => (object['spec'] as { nodeName?: string }).nodeName === 'n1')
              .map((object) => {
                const metadata = object['metadata'] as { uid: string };
                const status = object['status'] as { podIP: string };
                return `${metadata.uid} ${status.podIP}`;
              })
              .sort()
              .join();
          const actual = (): string => [...pods.values()].map((pod) => `${pod.uid ?? '?'} ${pod.podIPs.join('/')}`).sort().join();
          // On a timeout, the assertions below say what differs.
          await waitFor(() => source.synced && actual() === expected(), { what: 'convergence', timeoutMs: 8000 }).catch(() => undefined);
          assert.ok(source.synced, 'synced');
          assert.equal(actual(), expected(), 'the folded inventory equals this node\'s pods in the store');
        } finally {
          await source.close();
          await api.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
