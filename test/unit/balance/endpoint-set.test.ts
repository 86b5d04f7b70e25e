import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { EndpointAddress, EndpointUpdate } from '../../../agent/balance/endpoint-set.ts';
import { EndpointSet, endpointKey } from '../../../agent/balance/endpoint-set.ts';

interface Ep extends EndpointAddress {
  readonly zone?: string;
}

class Node {
  readonly key: string;
  index = -1;
  endpoint: Ep;
  /** Stands for per-endpoint state (load, EWMA, breaker) that must survive updates. */
  state = 0;
  constructor(key: string, endpoint: Ep) {
    this.key = key;
    this.endpoint = endpoint;
  }
}

function harness() {
  const journal: string[] = [];
  const set = new EndpointSet<Ep, Node>({
    create: (endpoint, key) => {
      journal.push(`create ${key}`);
      return new Node(key, endpoint);
    },
    changed: (node, endpoint) => {
      journal.push(`changed ${node.key}`);
      node.endpoint = endpoint;
    },
    removed: (node) => journal.push(`removed ${node.key}`),
  });
  return { set, journal };
}

const ep = (last: number, port = 80, zone?: string): Ep => (zone === undefined ? { address: `10.0.0.${last}`, port } : { address: `10.0.0.${last}`, port, zone });

describe('endpointKey', () => {
  it('spells IPv4 as address:port and brackets IPv6', () => {
    assert.equal(endpointKey({ address: '10.1.2.3', port: 8080 }), '10.1.2.3:8080');
    assert.equal(endpointKey({ address: 'fd00::1', port: 80 }), '[fd00::1]:80');
  });
});

describe('EndpointSet', () => {
  it('reset keeps the node (and its state) of an endpoint that stays, adds new ones and removes the rest', () => {
    const { set, journal } = harness();
    set.apply({ kind: 'reset', endpoints: [ep(1), ep(2)] });
    const kept = set.get('10.0.0.1:80');
    assert.ok(kept);
    kept.state = 42;
    journal.length = 0;
    const summary = set.apply({ kind: 'reset', endpoints: [ep(1, 80, 'zone-b'), ep(3)] });
    assert.deepEqual(summary, { added: 1, removed: 1, kept: 1 });
    assert.deepEqual(journal, ['removed 10.0.0.2:80', 'changed 10.0.0.1:80', 'create 10.0.0.3:80']);
    assert.equal(set.get('10.0.0.1:80'), kept);
    assert.equal(kept.state, 42);
    assert.equal(kept.endpoint.zone, 'zone-b');
    assert.equal(set.get('10.0.0.2:80'), undefined);
    assert.equal(set.size, 2);
  });

  it('add of a known endpoint updates it without a new node; remove of an unknown one is a no-op', () => {
    const { set, journal } = harness();
    set.apply({ kind: 'add', endpoints: [ep(1)] });
    assert.deepEqual(set.apply({ kind: 'add', endpoints: [ep(1), ep(2)] }), { added: 1, removed: 0, kept: 1 });
    assert.deepEqual(set.apply({ kind: 'remove', endpoints: [ep(9)] }), { added: 0, removed: 0, kept: 2 });
    assert.deepEqual(journal, ['create 10.0.0.1:80', 'changed 10.0.0.1:80', 'create 10.0.0.2:80']);
  });

  it('treats the same address on another port as another endpoint', () => {
    const { set } = harness();
    set.apply({ kind: 'reset', endpoints: [ep(1, 80), ep(1, 81)] });
    assert.equal(set.size, 2);
    set.apply({ kind: 'remove', endpoints: [ep(1, 81)] });
    assert.ok(set.get('10.0.0.1:80'));
    assert.equal(set.get('10.0.0.1:81'), undefined);
  });

  it('clear removes every node through the removed hook', () => {
    const { set, journal } = harness();
    set.apply({ kind: 'reset', endpoints: [ep(1), ep(2), ep(3)] });
    journal.length = 0;
    set.clear();
    assert.equal(set.size, 0);
    assert.equal(journal.filter((line) => line.startsWith('removed')).length, 3);
  });

  it('matches a model under any sequence of updates, keeps indices dense and never rebuilds a surviving node', () => {
    const endpoint = fc.record({ address: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3', 'fd00::4'), port: fc.constantFrom(80, 81) });
    const update: fc.Arbitrary<EndpointUpdate<Ep>> = fc.oneof(
      fc.record({ kind: fc.constant('reset' as const), endpoints: fc.array(endpoint, { maxLength: 6 }) }),
      fc.record({ kind: fc.constant('add' as const), endpoints: fc.array(endpoint, { maxLength: 4 }) }),
      fc.record({ kind: fc.constant('remove' as const), endpoints: fc.array(endpoint, { maxLength: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(update, { maxLength: 25 }), (updates) => {
        const { set } = harness();
        const model = new Set<string>();
        const identity = new Map<string, Node>();
        for (const u of updates) {
          const keys = u.endpoints.map(endpointKey);
          if (u.kind === 'reset') {
            for (const key of [...model]) if (!keys.includes(key)) model.delete(key);
            for (const key of keys) model.add(key);
          } else if (u.kind === 'add') {
            for (const key of keys) model.add(key);
          } else {
            for (const key of keys) model.delete(key);
          }
          set.apply(u);
          for (const key of identity.keys()) if (!model.has(key)) identity.delete(key);
          assert.deepEqual(new Set(set.nodes.map((n) => n.key)), model);
          assert.equal(set.size, model.size);
          set.nodes.forEach((node, i) => assert.equal(node.index, i));
          for (const node of set.nodes) {
            const before = identity.get(node.key);
            if (before !== undefined) assert.equal(node, before, `node for ${node.key} was rebuilt`);
            identity.set(node.key, node);
          }
        }
      }),
    );
  });
});
