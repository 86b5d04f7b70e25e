// Per-request naming: Host → /svc name → dtab → backend; the override header honoured only from a
// caller in the Service's own namespace, stripped otherwise, and a malformed one is a 400.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { seededRandom } from '../../../agent/balance/random.ts';
import { ServiceTable } from '../../../agent/discovery/service-table.ts';
import { defaultDtab } from '../../../agent/naming/default-dtab.ts';
import { k8sNamers } from '../../../agent/naming/k8s-namers.ts';
import { parseDtab } from '../../../agent/naming/parse.ts';
import { systemNamers } from '../../../agent/naming/system-namers.ts';
import { errorStatus } from '../../../agent/proxy/http/error-response.ts';
import { HttpHeaders } from '../../../agent/proxy/http/headers.ts';
import { HttpRequest } from '../../../agent/proxy/http/message.ts';
import { namingView, PassthroughEndpoints } from '../../../agent/proxy/naming-view.ts';
import type { OverrideOutcome } from '../../../agent/proxy/request-router.ts';
import { RequestRouter } from '../../../agent/proxy/request-router.ts';

function table(): ServiceTable {
  const svc = (name: string, ip: string) => ({ namespace: 'shop', name, clusterIPs: [ip], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' as const }] });
  const slice = (name: string, address: string) => ({
    namespace: 'shop', name: `${name}-1`, serviceName: name, addressType: 'IPv4' as const,
    endpoints: [{ addresses: [address], ready: true, serving: true, terminating: false }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' as const }],
  });
  return new ServiceTable([svc('web', '10.96.0.10'), svc('web-staging', '10.96.0.11')], [slice('web', '10.0.0.1'), slice('web-staging', '10.0.0.2')]);
}

function router(outcomes: OverrideOutcome[] = []) {
  const current = table();
  const passthrough = new PassthroughEndpoints();
  const view = namingView(current, passthrough);
  return new RequestRouter({ dtab: defaultDtab, namers: [...systemNamers, ...k8sNamers(() => current)], view: () => view, random: seededRandom(3), onOverride: (o) => outcomes.push(o) });
}

function request(authority: string, source: string, headers: Array<[string, string]> = []): HttpRequest {
  const req = new HttpRequest('GET', 'http', authority, '/', new HttpHeaders(headers.flat()));
  req.origin = { source, clientAddress: '', connect: (address, port) => connect(port, address), poolKey: 'p' };
  return req;
}

const toWeb = { address: '10.96.0.10', port: 80 };

describe('RequestRouter', () => {
  it('names a request by its Host as the Service, with the Service’s endpoints', () => {
    const backend = router().backendFor(request('web.shop.svc.cluster.local', 'shop/client'), toWeb);
    assert.equal(backend.name, 'shop/web:http');
    assert.deepEqual(backend.endpoints.map((e) => `${e.address}:${e.port}`), ['10.0.0.1:8080']);
  });

  it('falls back to the cluster IP the pod dialled when the Host is no Service', () => {
    assert.equal(router().backendFor(request('10.96.0.10', 'shop/client'), toWeb).name, 'shop/web:http');
    assert.equal(router().backendFor(request('example.com', 'shop/client'), toWeb).name, 'shop/web:http');
  });

  it('passes an address that is no Service through, under the "passthrough" label', () => {
    const backend = router().backendFor(request('10.0.0.9:9000', 'shop/client'), { address: '10.0.0.9', port: 9000 });
    assert.equal(backend.name, '10.0.0.9:9000');
    assert.equal(backend.authority, 'passthrough');
  });

  it('honours an override from a caller in the Service’s namespace, for that request only', () => {
    const outcomes: OverrideOutcome[] = [];
    const r = router(outcomes);
    const header: [string, string] = ['l5d-dtab', '/svc/shop/web => /svc/shop/web-staging'];
    assert.equal(r.backendFor(request('web', 'shop/client', [header]), toWeb).name, 'shop/web-staging:http');
    assert.equal(r.backendFor(request('web', 'shop/client'), toWeb).name, 'shop/web:http', 'the next request is unaffected');
    assert.equal(r.backendFor(request('web', 'shop/client', [['weft-dtab', header[1]]]), toWeb).name, 'shop/web-staging:http');
    assert.deepEqual(outcomes, ['honoured', 'honoured']);
  });

  it('strips an override from a caller of another namespace and routes as if it were not there', () => {
    const outcomes: OverrideOutcome[] = [];
    const req = request('web.shop', 'other/intruder', [['l5d-dtab', '/svc/shop/web => /svc/shop/web-staging'], ['x-keep', '1']]);
    assert.equal(router(outcomes).backendFor(req, toWeb).name, 'shop/web:http');
    assert.equal(req.headers.get('l5d-dtab'), undefined, 'not forwarded');
    assert.equal(req.headers.get('x-keep'), '1');
    assert.deepEqual(outcomes, ['stripped-untrusted']);
  });

  it('answers a malformed override with a 400 that says why, never a crash', () => {
    const outcomes: OverrideOutcome[] = [];
    assert.throws(() => router(outcomes).backendFor(request('web', 'shop/client', [['l5d-dtab', '/svc/shop/web => (((']]), toWeb), (error: unknown) => {
      const { status, code } = errorStatus(error);
      assert.equal(status, 400);
      assert.equal(code, 'WEFT_E_NAMING_BAD_OVERRIDE');
      assert.match(String(error), /not a dtab/);
      return true;
    });
    assert.deepEqual(outcomes, ['invalid']);
  });

  it('fails with a reason when the override says ! (fail)', () => {
    assert.throws(() => router().backendFor(request('web', 'shop/client', [['l5d-dtab', '/svc/shop/web => !']]), toWeb), /WEFT_E_NAMING_FAILED|binding web failed/);
  });

  it('binds through a configured base dtab (a weighted canary split)', () => {
    const current = table();
    const view = namingView(current, new PassthroughEndpoints());
    const dtab = [...defaultDtab, ...parseDtab('/svc/shop/web => 0.5*/svc/shop/web-staging & 0.5*/#/k8s/shop/web/80')];
    const r = new RequestRouter({ dtab, namers: [...systemNamers, ...k8sNamers(() => current)], view: () => view, random: seededRandom(9) });
    const names = new Set<string>();
    for (let i = 0; i < 50; i++) names.add(r.backendFor(request('web', 'shop/client'), toWeb).name);
    assert.deepEqual([...names].sort(), ['shop/web-staging:http', 'shop/web:http']);
  });
});
