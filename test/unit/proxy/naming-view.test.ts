// The proxy's reading of bound names: Services from the table, addresses passed through, DNS names
// from the DNS source — with endpoint arrays that keep their identity while their content does not
// change (a route's balancer is reset only on a real change).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DnsTarget } from '../../../agent/discovery/dns-target.ts';
import { ServiceTable } from '../../../agent/discovery/service-table.ts';
import type { DiscoveryResult, Endpoint } from '../../../agent/discovery/types.ts';
import { WeftError } from '../../../agent/errors.ts';
import { namingView, PassthroughEndpoints, StableEndpoints } from '../../../agent/proxy/naming-view.ts';
import { pathOf } from '../../../agent/naming/path.ts';
import { parseConfig } from '../../../agent/config/load.ts';

const ep = (address: string, port = 80): Endpoint => ({ address, port, ready: true, serving: true, terminating: false });

describe('namingView', () => {
  it('reads /#/dns names from the DNS source, keeping the array while the answer is the same, and the last good set on errors', () => {
    let answer: DiscoveryResult = { kind: 'ok', endpoints: [ep('10.1.0.1'), ep('10.1.0.2')] };
    const asked: DnsTarget[] = [];
    const view = namingView(ServiceTable.empty, new PassthroughEndpoints(), {
      source: { resolve: (t) => (asked.push(t), answer) },
      stable: new StableEndpoints(),
    });
    const bound = { id: pathOf('#', 'dns', 'web.example.com', '80'), residual: [] };
    const first = view.backend(bound);
    assert.equal(first?.name, 'dns/web.example.com:80');
    assert.deepEqual(first?.endpoints.map((e) => e.address), ['10.1.0.1', '10.1.0.2']);
    assert.deepEqual(asked[0], { kind: 'dns', name: 'web.example.com', port: 80 });
    answer = { kind: 'ok', endpoints: [ep('10.1.0.1'), ep('10.1.0.2')] };
    assert.equal(view.backend(bound)?.endpoints, first?.endpoints, 'same content, same array');
    answer = { kind: 'error', error: new WeftError('WEFT_E_DISCOVERY_DNS_SERVFAIL', 'servfail'), lastGood: [ep('10.1.0.1'), ep('10.1.0.2')] };
    assert.equal(view.backend(bound)?.endpoints, first?.endpoints, 'an error keeps serving the last good set');
    answer = { kind: 'ok', endpoints: [ep('10.1.0.3')] };
    assert.deepEqual(view.backend(bound)?.endpoints.map((e) => e.address), ['10.1.0.3']);
  });

  it('passes an IP through with one array per address, and has nothing for a host name under /$/inet', () => {
    const view = namingView(ServiceTable.empty, new PassthroughEndpoints());
    const a = view.backend({ id: pathOf('$', 'inet', '10.0.0.9', '9000'), residual: [] });
    assert.equal(a?.authority, 'passthrough');
    assert.equal(view.backend({ id: pathOf('$', 'inet', '10.0.0.9', '9000'), residual: [] })?.endpoints, a?.endpoints);
    assert.equal(view.backend({ id: pathOf('$', 'inet', 'example.com', '80'), residual: [] }), undefined);
  });
});

describe('naming.dtab configuration', () => {
  it('accepts a dtab and refuses a malformed one at load, with the parser’s reason', () => {
    assert.equal(parseConfig({ naming: { dtab: '/svc/shop/web => /svc/shop/web-v2;' } }, { env: {} }).naming.dtab, '/svc/shop/web => /svc/shop/web-v2;');
    assert.throws(() => parseConfig({ naming: { dtab: '/svc => (((' } }, { env: {} }), /naming\.dtab: is not a dtab/);
  });
});
