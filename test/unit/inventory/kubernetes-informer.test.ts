// KubernetesInformer on its own, against the fixture API server with the real client: a handler
// that throws is contained, and the informer keeps delivering.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { CoreV1Api } from '@kubernetes/client-node';
import { KubernetesInformer } from '../../../agent/inventory/kubernetes-informer.ts';
import type { WeftError } from '../../../agent/errors.ts';
import { systemClock } from '../../../agent/time/clock.ts';
import { kubeConfigFor } from '../../support/kube-api/kubeconfig.ts';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import { waitFor } from '../../support/wait.ts';
import { podObject } from './fixtures.ts';

describe('KubernetesInformer', () => {
  const api = new FakeKubeApi();
  before(async () => {
    await api.start();
  });
  after(async () => {
    await api.close();
  });

  it('contains a throwing handler, counts it, and keeps delivering', async () => {
    api.apply('pods', podObject({ namespace: 'demo', name: 'boom' }));
    api.apply('pods', podObject({ namespace: 'demo', name: 'fine' }));
    const kubeConfig = kubeConfigFor(api.url);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const seen: string[] = [];
    const errors: WeftError[] = [];
    let listed = 0;
    const informer = new KubernetesInformer<V1Pod>(
      kubeConfig,
      { what: 'pods', area: 'INVENTORY', path: '/api/v1/pods', list: (options) => core.listPodForAllNamespaces({}, options) },
      { silentWatchMs: 1000, listTimeoutMs: 1000, backoffInitialMs: 10, backoffMaxMs: 50 },
      systemClock,
      {
        upsert: (object) => {
          const name = (object as V1Pod).metadata?.name ?? '?';
          if (name.startsWith('boom')) throw new Error(`handler bug on ${name}`);
          seen.push(name);
        },
        remove: () => undefined,
        listed: () => {
          listed += 1;
        },
        malformed: () => undefined,
        failed: (error) => errors.push(error),
        healthy: () => undefined,
      },
    );
    informer.start();
    try {
      await waitFor(() => listed === 1 && informer.status().watching, { what: 'listed and watching' });
      api.apply('pods', podObject({ namespace: 'demo', name: 'boom-again' }));
      api.apply('pods', podObject({ namespace: 'demo', name: 'later' }));
      await waitFor(() => seen.includes('later'), { what: 'delivery after a throw on the watch' });
      assert.deepEqual(seen, ['fine', 'later']);
      const status = informer.status();
      assert.equal(status.handlerErrors, 2);
      assert.match(status.lastHandlerError ?? '', /handler bug on boom-again/);
      assert.deepEqual(errors, [], 'a handler bug is not an API failure');
    } finally {
      await informer.close();
    }
  });
});
