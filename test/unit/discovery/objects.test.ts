import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointSliceFromObject, serviceFromObject } from '../../../agent/discovery/objects.ts';
import type { ObjectParse } from '../../../agent/inventory/object-file.ts';
import { formatPath } from '../../../agent/inventory/object-file.ts';
import { serviceObject, sliceObject } from './fixtures.ts';

function ok<T>(result: ObjectParse<T>): T {
  if (result.kind === 'invalid') assert.fail(`expected a value, got ${result.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')}`);
  return result.value;
}

function problems<T>(result: ObjectParse<T>): string[] {
  if (result.kind === 'ok') assert.fail('expected field problems');
  return result.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}

describe('Service objects', () => {
  it('applies the API defaults: namespace default, protocol TCP, targetPort = port, unnamed port ""', () => {
    const service = ok(serviceFromObject({ kind: 'Service', metadata: { name: 'web' }, spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] } }));
    assert.deepEqual(service, { namespace: 'default', name: 'web', clusterIPs: ['10.96.0.10'], ports: [{ name: '', port: 80, targetPort: 80, protocol: 'TCP' }] });
  });

  it('merges clusterIP and clusterIPs, drops None, and spells IPv6 one way', () => {
    const dual = ok(serviceFromObject(serviceObject('demo', 'web', ['10.96.0.10', 'fd00:10:96:0:0::a'], [{ port: 80 }])));
    assert.deepEqual(dual.clusterIPs, ['10.96.0.10', 'fd00:10:96::a']);
    const headless = ok(serviceFromObject({ kind: 'Service', metadata: { name: 'h' }, spec: { clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 80 }] } }));
    assert.deepEqual(headless.clusterIPs, []);
  });

  it('keeps a named targetPort as a name', () => {
    const service = ok(serviceFromObject(serviceObject('demo', 'web', ['10.96.0.10'], [{ name: 'http', port: 80, targetPort: 'web-http' }])));
    assert.equal(service.ports[0]?.targetPort, 'web-http');
  });

  it('names the field of each problem', () => {
    assert.deepEqual(problems(serviceFromObject(serviceObject('demo', 'web', ['10.96.0.300'], [{ port: 80 }]))), [
      'spec.clusterIP: expected an IPv4 or IPv6 address, or None',
      'spec.clusterIPs[0]: expected an IPv4 or IPv6 address, or None',
    ]);
    assert.match(problems(serviceFromObject(serviceObject('d', 'w', [], [{ port: 70000 }])))[0] ?? '', /^spec\.ports\[0\]\.port: /);
    const expected = 'spec.ports[0].targetPort: expected a port number (1-65535) or a container port name (a-z, 0-9 and -, up to 15)';
    assert.deepEqual(problems(serviceFromObject(serviceObject('d', 'w', [], [{ port: 80, targetPort: 'Not_A_Name' }]))), [expected]);
    assert.deepEqual(problems(serviceFromObject(serviceObject('d', 'w', [], [{ port: 80, targetPort: 0 }]))), [expected]);
    assert.deepEqual(problems(serviceFromObject(serviceObject('d', 'w', [], [{ port: 80, protocol: 'HTTP' }]))), ['spec.ports[0].protocol: expected TCP, UDP or SCTP']);
  });

  it('refuses two ports with one name, or one port number twice', () => {
    assert.deepEqual(problems(serviceFromObject(serviceObject('d', 'w', [], [{ port: 80 }, { port: 81 }]))), [
      'spec.ports[1].name: port name "" is also used by ports[0]; give each port its own name',
    ]);
    assert.deepEqual(problems(serviceFromObject(serviceObject('d', 'w', [], [{ name: 'a', port: 80 }, { name: 'b', port: 80 }]))), [
      'spec.ports[1].port: 80/TCP is also ports[0]',
    ]);
    assert.equal(serviceFromObject(serviceObject('d', 'w', [], [{ name: 'a', port: 53 }, { name: 'b', port: 53, protocol: 'UDP' }])).kind, 'ok');
  });
});

describe('EndpointSlice objects', () => {
  it('reads conditions with the API\'s nil meanings: ready nil = ready, serving nil = ready, terminating nil = false', () => {
    const slice = ok(
      endpointSliceFromObject(
        sliceObject('demo', 'web-1', 'web', 'IPv4', [
          { ip: '10.1.0.1' },
          { ip: '10.1.0.2', ready: false },
          { ip: '10.1.0.3', ready: false, serving: true, terminating: true, pod: 'web-3', node: 'n1' },
          { ip: '10.1.0.4', ready: null, serving: null, terminating: null },
        ], [{ name: 'http', port: 8080 }]),
      ),
    );
    assert.deepEqual(slice.endpoints, [
      { addresses: ['10.1.0.1'], ready: true, serving: true, terminating: false },
      { addresses: ['10.1.0.2'], ready: false, serving: false, terminating: false },
      { addresses: ['10.1.0.3'], ready: false, serving: true, terminating: true, podName: 'web-3', podNamespace: 'demo', nodeName: 'n1' },
      { addresses: ['10.1.0.4'], ready: true, serving: true, terminating: false },
    ]);
    assert.equal(slice.serviceName, 'web');
    assert.deepEqual(slice.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  });

  it('a slice without ports, and a port left open (nil = all ports)', () => {
    assert.equal(ok(endpointSliceFromObject(sliceObject('d', 's', 'w', 'IPv4', [], undefined))).ports, undefined);
    assert.deepEqual(ok(endpointSliceFromObject(sliceObject('d', 's', 'w', 'IPv4', [], [{ port: null }]))).ports, [{ name: '', port: undefined, protocol: 'TCP' }]);
  });

  it('requires the service-name label, and addresses of the slice\'s family', () => {
    const unlabeled = { kind: 'EndpointSlice', metadata: { name: 's', labels: {} }, addressType: 'IPv4', endpoints: [] };
    assert.deepEqual(problems(endpointSliceFromObject(unlabeled)), [
      'metadata.labels["kubernetes.io/service-name"]: required: the name of the Service this slice belongs to',
    ]);
    assert.deepEqual(problems(endpointSliceFromObject(sliceObject('d', 's', 'w', 'IPv4', [{ ip: 'fd00::1' }], undefined))), [
      'endpoints[0].addresses[0]: "fd00::1" is not an IPv4 address (addressType)',
    ]);
    assert.deepEqual(problems(endpointSliceFromObject(sliceObject('d', 's', 'w', 'IPv6', [{ ip: '10.0.0.1' }], undefined))), [
      'endpoints[0].addresses[0]: "10.0.0.1" is not an IPv6 address (addressType)',
    ]);
    assert.equal(endpointSliceFromObject(sliceObject('d', 's', 'w', 'FQDN', [{ ip: 'db.example.com' }], undefined)).kind, 'ok');
  });

  it('an endpoint with no address is a problem', () => {
    const slice = { kind: 'EndpointSlice', metadata: { name: 's', labels: { 'kubernetes.io/service-name': 'w' } }, addressType: 'IPv4', endpoints: [{ addresses: [] }] };
    assert.deepEqual(problems(endpointSliceFromObject(slice)), ['endpoints[0].addresses: an endpoint needs at least one address']);
  });
});
