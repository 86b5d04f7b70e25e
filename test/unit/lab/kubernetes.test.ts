import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubernetesPod } from '../../../agent/lab/kubernetes.ts';

describe('lab pod as a Kubernetes object', () => {
  it('carries the metadata, node, IPs, QoS class and containerd container ID of the pod', () => {
    const pod = kubernetesPod({
      namespace: 'shop',
      name: 'cart-1',
      uid: '0b5e6b4c-1f2a-4d3e-9c8b-7a6f5e4d3c2b',
      labels: { app: 'cart' },
      annotations: { 'weft.io/inject': 'enabled' },
      createdAt: new Date('2025-01-02T03:04:05.678Z'),
      nodeName: 'node-a',
      hostIP: '198.18.1.1',
      podIP: '198.18.1.7',
      qos: 'Burstable',
      containerName: 'app',
      containerId: 'b'.repeat(64),
    });
    assert.equal(pod.kind, 'Pod');
    assert.deepEqual(pod.metadata, {
      namespace: 'shop',
      name: 'cart-1',
      uid: '0b5e6b4c-1f2a-4d3e-9c8b-7a6f5e4d3c2b',
      labels: { app: 'cart' },
      annotations: { 'weft.io/inject': 'enabled' },
      creationTimestamp: '2025-01-02T03:04:05Z',
    });
    assert.equal(pod.spec.nodeName, 'node-a');
    assert.equal(pod.status.phase, 'Running');
    assert.equal(pod.status.podIP, '198.18.1.7');
    assert.deepEqual(pod.status.podIPs, [{ ip: '198.18.1.7' }]);
    assert.equal(pod.status.qosClass, 'Burstable');
    assert.equal(pod.status.containerStatuses[0]?.containerID, `containerd://${'b'.repeat(64)}`);
  });
});
