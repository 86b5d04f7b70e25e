import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { panicParams } from '../../../agent/balance/pick.ts';
import { seededRandom } from '../../../agent/balance/random.ts';
import { RoundRobinPicker } from '../../../agent/balance/round-robin.ts';
import { exclusion, nodes, tally, TestNode } from './nodes.ts';

describe('RoundRobinPicker', () => {
  it('visits every endpoint in turn, whatever the load', () => {
    const set = nodes(3);
    set[0]!.pending = 100;
    const picker = new RoundRobinPicker<TestNode>(seededRandom(1));
    const first = [0, 1, 2].map(() => picker.pick(set, undefined, 0)?.key);
    assert.equal(new Set(first).size, 3);
    const next = [0, 1, 2].map(() => picker.pick(set, undefined, 0)?.key);
    assert.deepEqual(next, first);
  });

  it('steps over ejected endpoints and ones this request tried', () => {
    const set = nodes(4);
    set[1]!.up = false;
    const picker = new RoundRobinPicker<TestNode>(seededRandom(2));
    const counts = tally(300, () => picker.pick(set, exclusion(['10.0.0.3:80']), 0));
    assert.deepEqual([...counts.entries()].sort(), [['10.0.0.1:80', 150], ['10.0.0.4:80', 150]]);
  });

  it('cycles over all of them in panic, and finds none when panic is off and all are ejected', () => {
    const set = nodes(3);
    for (const node of set) node.up = false;
    const picker = new RoundRobinPicker<TestNode>(seededRandom(3));
    assert.equal(tally(300, () => picker.pick(set, undefined, 0)).size, 3);
    const strict = new RoundRobinPicker<TestNode>(seededRandom(3), { ...panicParams, panicThresholdPercent: 100 });
    assert.equal(strict.pick(set, undefined, 0), undefined);
  });

  it('gives every preferred endpoint an equal share (±1) over whole cycles', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.integer(), (ups, seed) => {
        const set = ups.map((up, i) => Object.assign(new TestNode(`10.0.3.${i}:80`), { up }));
        const picker = new RoundRobinPicker<TestNode>(seededRandom(seed));
        const healthy = set.filter((n) => n.up);
        if (healthy.length * 2 < set.length) return; // panic: covered above
        const counts = tally(healthy.length * 7, () => picker.pick(set, undefined, 0));
        for (const node of healthy) assert.equal(counts.get(node.key), 7);
      }),
    );
  });
});
