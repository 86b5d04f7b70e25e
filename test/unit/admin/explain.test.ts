// /explain: the delegation of a request name step by step and the endpoints it ends on; bad input
// (no authority, a malformed dtab or dst) is a 400 with the reason.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainHandler } from '../../../agent/admin/explain.ts';
import type { AdminResponse } from '../../../agent/admin/router.ts';
import { seededRandom } from '../../../agent/balance/random.ts';
import { ServiceTable } from '../../../agent/discovery/service-table.ts';
import { defaultDtab } from '../../../agent/naming/default-dtab.ts';
import { k8sNamers } from '../../../agent/naming/k8s-namers.ts';
import { systemNamers } from '../../../agent/naming/system-namers.ts';
import { namingView, PassthroughEndpoints } from '../../../agent/proxy/naming-view.ts';
import { RequestRouter } from '../../../agent/proxy/request-router.ts';

const table = new ServiceTable(
  [
    { namespace: 'shop', name: 'web', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    { namespace: 'shop', name: 'web-v2', clusterIPs: ['10.96.0.11'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  ],
  [
    { namespace: 'shop', name: 'web-1', serviceName: 'web', addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], ready: true, serving: true, terminating: false }, { addresses: ['10.0.0.2'], ready: true, serving: true, terminating: false }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
    { namespace: 'shop', name: 'web-v2-1', serviceName: 'web-v2', addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.3'], ready: true, serving: true, terminating: false }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  ],
);
const view = namingView(table, new PassthroughEndpoints());
const router = new RequestRouter({ dtab: defaultDtab, namers: [...systemNamers, ...k8sNamers(() => table)], view: () => view, random: seededRandom(1) });
const handler = explainHandler((q) => router.explain(q));

async function ask(query: Record<string, string>, accept = 'application/json'): Promise<AdminResponse> {
  return handler({ method: 'GET', path: '/explain', query: new URLSearchParams(query), headers: { accept } });
}

describe('GET /explain', () => {
  it('shows the delegation to the Service and its endpoints', async () => {
    const res = await ask({ authority: 'web.shop.svc.cluster.local:80' });
    assert.equal(res.status, 200);
    const answer = JSON.parse(String(res.body)) as { names: string; result: string; steps: string; backends: Array<{ bound: string; route: string; endpoints: string[] }> };
    assert.match(answer.names, /\/svc\/shop\/web\/80/);
    assert.match(answer.steps, /dentry #0 \/svc=>\/#\/k8s/);
    assert.equal(answer.result, '/#/k8s/shop/80/web');
    assert.deepEqual(answer.backends, [{ bound: '/#/k8s/shop/80/web', share: 1, route: 'shop/web:http', endpoints: ['10.0.0.1:8080', '10.0.0.2:8080'] }]);
  });

  it('applies an override dtab and shows the weighted split with each share', async () => {
    const res = await ask({ authority: 'web', namespace: 'shop', dst: '10.96.0.10:80', dtab: '/svc/shop/web => 3*/#/k8s/shop/web & 1*/svc/shop/web-v2' }, 'text/plain');
    assert.equal(res.status, 200);
    const text = String(res.body);
    assert.match(text, /\/#\/k8s\/shop\/80\/web \(75 %\) → shop\/web:http: 10\.0\.0\.1:8080, 10\.0\.0\.2:8080/);
    assert.match(text, /\/#\/k8s\/shop\/80\/web-v2 \(25 %\) → shop\/web-v2:http: 10\.0\.0\.3:8080/);
  });

  it('falls back to the dialled cluster IP, and passes through an address that is no Service', async () => {
    const byIp = JSON.parse(String((await ask({ authority: 'example.com', dst: '10.96.0.10:80' })).body)) as { backends: Array<{ route: string }> };
    assert.equal(byIp.backends[0]?.route, 'shop/web:http');
    const direct = JSON.parse(String((await ask({ authority: '10.9.9.9:7000', dst: '10.9.9.9:7000' })).body)) as { backends: Array<{ route: string; endpoints: string[] }> };
    assert.deepEqual(direct.backends, [{ bound: '/$/inet/10.9.9.9/7000', share: 1, route: '10.9.9.9:7000', endpoints: ['10.9.9.9:7000'] }]);
  });

  it('answers bad input with 400 and the reason', async () => {
    for (const [query, reason] of [
      [{}, /authority is required/],
      [{ authority: 'web', dtab: '/svc => (((' }, /dtab/],
      [{ authority: 'web', dst: 'nope' }, /dst must be ip:port/],
    ] as const) {
      const res = await ask(query);
      assert.equal(res.status, 400);
      assert.match(String(res.body), reason);
    }
  });
});
