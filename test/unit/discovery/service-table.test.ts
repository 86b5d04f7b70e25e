import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { endpointSliceFromObject, serviceFromObject } from '../../../agent/discovery/objects.ts';
import { canonicalAddress, endpointKey, ServiceTable } from '../../../agent/discovery/service-table.ts';
import type { ServiceMatch } from '../../../agent/discovery/service-table.ts';
import type { EndpointSliceInfo, ServiceInfo } from '../../../agent/discovery/types.ts';
import type { EndpointSpec, PortSpec } from './fixtures.ts';
import { serviceObject, sliceObject } from './fixtures.ts';

function service(namespace: string, name: string, ips: readonly string[], ports: readonly PortSpec[]): ServiceInfo {
  const parsed = serviceFromObject(serviceObject(namespace, name, ips, ports));
  if (parsed.kind !== 'ok') assert.fail('bad service fixture');
  return parsed.value;
}

function slice(
  namespace: string,
  name: string,
  svc: string,
  type: 'IPv4' | 'IPv6' | 'FQDN',
  endpoints: readonly EndpointSpec[],
  ports?: ReadonlyArray<{ name?: string; port?: number | null; protocol?: string }>,
): EndpointSliceInfo {
  const parsed = endpointSliceFromObject(sliceObject(namespace, name, svc, type, endpoints, ports));
  if (parsed.kind !== 'ok') assert.fail('bad slice fixture');
  return parsed.value;
}

function found(match: ServiceMatch | undefined): ServiceMatch {
  if (match === undefined) assert.fail('expected a service match');
  return match;
}

const keys = (match: ServiceMatch | undefined): string[] => found(match).endpoints.map(endpointKey);

describe('ServiceTable lookups', () => {
  const web = service('demo', 'web', ['10.96.0.10', 'fd00:96::a'], [
    { name: 'http', port: 80, targetPort: 'web-http' },
    { name: 'admin', port: 9000, targetPort: 9901 },
  ]);
  const table = new ServiceTable([web], [
    slice('demo', 'web-v4', 'web', 'IPv4', [{ ip: '10.1.0.1', pod: 'web-a', node: 'n1' }, { ip: '10.1.0.2', pod: 'web-b' }], [{ name: 'http', port: 8080 }, { name: 'admin', port: 9901 }]),
    // A second v4 slice whose pods name their container port differently: same Service port, other number.
    slice('demo', 'web-v4-canary', 'web', 'IPv4', [{ ip: '10.1.0.3' }], [{ name: 'http', port: 8081 }]),
    slice('demo', 'web-v6', 'web', 'IPv6', [{ ip: 'fd00:1::1' }], [{ name: 'http', port: 8080 }, { name: 'admin', port: 9901 }]),
  ]);

  it('by cluster IP and port: the Service port, with the targetPort name resolved per slice', () => {
    const match = found(table.byAddress('10.96.0.10', 80));
    assert.deepEqual(match.service, { namespace: 'demo', name: 'web' });
    assert.equal(match.portName, 'http');
    assert.equal(match.port, 80);
    assert.equal(match.selection, 'ready');
    assert.deepEqual(keys(match), ['10.1.0.1:8080', '10.1.0.2:8080', '10.1.0.3:8081']);
    assert.deepEqual(match.endpoints[0], { address: '10.1.0.1', port: 8080, ready: true, serving: true, terminating: false, podName: 'web-a', podNamespace: 'demo', nodeName: 'n1' });
  });

  it('dual stack: a v4 cluster IP gives v4 endpoints, a v6 cluster IP v6 endpoints, in any IPv6 spelling', () => {
    assert.deepEqual(keys(table.byAddress('fd00:96::a', 80)), ['[fd00:1::1]:8080']);
    assert.deepEqual(keys(table.byAddress('FD00:0096:0::000a', 80)), ['[fd00:1::1]:8080']);
    assert.deepEqual(keys(table.byAddress('10.96.0.10', 9000)), ['10.1.0.1:9901', '10.1.0.2:9901'], 'the canary slice has no admin port');
  });

  it('by name: port name or number, both families unless one is asked for', () => {
    assert.deepEqual(keys(table.byName({ namespace: 'demo', name: 'web' }, 'http')), ['10.1.0.1:8080', '10.1.0.2:8080', '10.1.0.3:8081', '[fd00:1::1]:8080']);
    assert.deepEqual(keys(table.byName({ namespace: 'demo', name: 'web' }, 80, { family: 6 })), ['[fd00:1::1]:8080']);
    assert.deepEqual(keys(table.byName({ namespace: 'demo', name: 'web' }, 9000, { family: 4 })), ['10.1.0.1:9901', '10.1.0.2:9901']);
  });

  it('unknown address, port, protocol, service or port name: undefined', () => {
    assert.equal(table.byAddress('10.96.0.11', 80), undefined);
    assert.equal(table.byAddress('10.96.0.10', 81), undefined);
    assert.equal(table.byAddress('10.96.0.10', 80, 'UDP'), undefined);
    assert.equal(table.byName({ namespace: 'other', name: 'web' }, 'http'), undefined);
    assert.equal(table.byName({ namespace: 'demo', name: 'web' }, 'grpc'), undefined);
  });

  it('answers are memoised: the same object for the same question (no allocation per connection)', () => {
    assert.equal(table.byAddress('10.96.0.10', 80), table.byAddress('10.96.0.10', 80));
  });
});

describe('ServiceTable endpoint selection', () => {
  const svc = service('demo', 'api', ['10.96.0.20'], [{ name: 'http', port: 80, targetPort: 8080 }]);
  const at = (endpoints: readonly EndpointSpec[]): ServiceMatch =>
    found(new ServiceTable([svc], [slice('demo', 'api-1', 'api', 'IPv4', endpoints, [{ name: 'http', port: 8080 }])]).byAddress('10.96.0.20', 80));

  it('only ready endpoints while any is ready', () => {
    const match = at([{ ip: '10.1.0.1' }, { ip: '10.1.0.2', ready: false, serving: true, terminating: true }, { ip: '10.1.0.3', ready: false }]);
    assert.equal(match.selection, 'ready');
    assert.deepEqual(keys(match), ['10.1.0.1:8080']);
  });

  it('none ready: falls back to the ones serving while terminating (a rollout\'s last pods)', () => {
    const match = at([{ ip: '10.1.0.2', ready: false, serving: true, terminating: true }, { ip: '10.1.0.3', ready: false }, { ip: '10.1.0.4', ready: false, serving: false, terminating: true }]);
    assert.equal(match.selection, 'terminating-fallback');
    assert.deepEqual(keys(match), ['10.1.0.2:8080']);
  });

  it('none ready, none serving: empty, and says so', () => {
    const match = at([{ ip: '10.1.0.3', ready: false }]);
    assert.equal(match.selection, 'none');
    assert.deepEqual(match.endpoints, []);
  });

  it('a known Service without slices: known, empty', () => {
    const match = found(new ServiceTable([svc], []).byAddress('10.96.0.20', 80));
    assert.deepEqual([match.selection, match.endpoints.length], ['none', 0]);
  });

  it('the same endpoint in two slices counts once, the readier copy wins', () => {
    const table = new ServiceTable([svc], [
      slice('demo', 'api-1', 'api', 'IPv4', [{ ip: '10.1.0.1', ready: false }], [{ name: 'http', port: 8080 }]),
      slice('demo', 'api-2', 'api', 'IPv4', [{ ip: '10.1.0.1', ready: true }], [{ name: 'http', port: 8080 }]),
    ]);
    const match = found(table.byAddress('10.96.0.20', 80));
    assert.deepEqual(match.endpoints.map((e) => [endpointKey(e), e.ready]), [['10.1.0.1:8080', true]]);
  });

  it('a slice without ports, or with a port left open, uses a numeric targetPort; a named one it cannot resolve is counted', () => {
    const numeric = service('demo', 'n', ['10.96.0.30'], [{ port: 80, targetPort: 8080 }]);
    const named = service('demo', 'm', ['10.96.0.31'], [{ name: 'http', port: 80, targetPort: 'http' }]);
    const table = new ServiceTable([numeric, named], [
      slice('demo', 'n-1', 'n', 'IPv4', [{ ip: '10.1.0.1' }]),
      slice('demo', 'n-2', 'n', 'IPv4', [{ ip: '10.1.0.2' }], [{ port: null }]),
      slice('demo', 'm-1', 'm', 'IPv4', [{ ip: '10.1.0.3' }, { ip: '10.1.0.4' }]),
    ]);
    assert.deepEqual(keys(table.byAddress('10.96.0.30', 80)), ['10.1.0.1:8080', '10.1.0.2:8080']);
    const unresolved = found(table.byAddress('10.96.0.31', 80));
    assert.deepEqual([unresolved.endpoints.length, unresolved.unresolved], [0, 2]);
  });

  it('slices of another Service, namespace or family, and FQDN slices are not used', () => {
    const table = new ServiceTable([svc], [
      slice('demo', 'other', 'other', 'IPv4', [{ ip: '10.1.0.9' }], [{ name: 'http', port: 8080 }]),
      slice('prod', 'api-1', 'api', 'IPv4', [{ ip: '10.1.0.8' }], [{ name: 'http', port: 8080 }]),
      slice('demo', 'api-6', 'api', 'IPv6', [{ ip: 'fd00::7' }], [{ name: 'http', port: 8080 }]),
      slice('demo', 'api-f', 'api', 'FQDN', [{ ip: 'db.example.com' }], [{ name: 'http', port: 8080 }]),
    ]);
    assert.deepEqual(keys(table.byAddress('10.96.0.20', 80)), []);
  });

  it('property: answers are ready endpoints, or serving-terminating ones only when none is ready, each from a slice', () => {
    const endpoint = fc.record({
      ip: fc.integer({ min: 1, max: 30 }).map((n) => `10.1.0.${n}`),
      ready: fc.constantFrom(true, false, null),
      serving: fc.constantFrom(true, false, null),
      terminating: fc.constantFrom(true, false, null),
    });
    fc.assert(
      fc.property(fc.array(fc.array(endpoint, { maxLength: 6 }), { maxLength: 4 }), (slices) => {
        const infos = slices.map((endpoints, i) => slice('demo', `api-${i}`, 'api', 'IPv4', endpoints, [{ name: 'http', port: 8080 }]));
        const match = found(new ServiceTable([svc], infos).byAddress('10.96.0.20', 80));
        const all = infos.flatMap((s) => s.endpoints);
        const anyReady = all.some((e) => e.ready);
        for (const e of match.endpoints) {
          assert.ok(all.some((s) => s.addresses[0] === e.address), 'from a slice');
          if (anyReady) assert.equal(e.ready, true);
          else assert.ok(e.serving && e.terminating);
        }
        assert.equal(match.selection === 'ready', anyReady);
        const distinct = new Set(match.endpoints.map(endpointKey));
        assert.equal(distinct.size, match.endpoints.length, 'no duplicates');
        const expectedReady = new Set(all.filter((e) => e.ready).map((e) => e.addresses[0]));
        if (anyReady) assert.equal(match.endpoints.length, expectedReady.size, 'every ready address is there');
      }),
    );
  });
});

describe('canonicalAddress', () => {
  it('spells IPv6 as inet_ntop does and leaves IPv4 alone', () => {
    assert.equal(canonicalAddress('FD00:0:0:0::0001'), 'fd00::1');
    assert.equal(canonicalAddress('10.0.0.1'), '10.0.0.1');
  });
});
