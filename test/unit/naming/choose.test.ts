import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../../agent/balance/random.ts';
import type { BoundName } from '../../../agent/naming/bind.ts';
import { chooseBound } from '../../../agent/naming/choose.ts';
import { alt, empty, fail, leaf, neg, union, weighted } from '../../../agent/naming/name-tree.ts';
import { pathOf, showPath } from '../../../agent/naming/path.ts';

const b = (...segments: string[]): BoundName => ({ id: pathOf(...segments), residual: [] });

describe('chooseBound', () => {
  it('splits a weighted union by its weights (a 9:1 canary)', () => {
    const tree = union(weighted(0.9, leaf(b('#', 'k8s', 'shop', 'web', '80'))), weighted(0.1, leaf(b('#', 'k8s', 'shop', 'web-canary', '80'))));
    const random = seededRandom(7);
    let canary = 0;
    for (let i = 0; i < 10_000; i++) {
      const choice = chooseBound(tree, random);
      assert.equal(choice.kind, 'bound');
      if (choice.kind === 'bound' && showPath(choice.name.id).includes('canary')) canary++;
    }
    assert.ok(canary > 850 && canary < 1150, `canary got ${canary} of 10000`);
  });

  it('gives a failed or negative branch’s share to the others', () => {
    const tree = union<BoundName>(weighted<BoundName>(0.5, fail('down')), weighted<BoundName>(0.5, neg), weighted(0.5, leaf(b('a'))));
    const random = seededRandom(1);
    for (let i = 0; i < 100; i++) assert.deepEqual(chooseBound(tree, random), { kind: 'bound', name: b('a') });
  });

  it('takes the first non-negative alternative, and a Fail stops an Alt', () => {
    const random = seededRandom(1);
    assert.deepEqual(chooseBound(alt(neg, leaf(b('x')), leaf(b('y'))), random), { kind: 'bound', name: b('x') });
    assert.deepEqual(chooseBound(alt(fail('no'), leaf(b('x'))), random), { kind: 'fail', reason: 'no' });
    assert.deepEqual(chooseBound(alt(neg, neg), random), { kind: 'neg' });
    assert.deepEqual(chooseBound(empty, random), { kind: 'empty' });
  });
});
