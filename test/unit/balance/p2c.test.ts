import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { P2cPicker } from '../../../agent/balance/p2c.ts';
import { collectCandidates, isPreferred, panicParams } from '../../../agent/balance/pick.ts';
import { seededRandom } from '../../../agent/balance/random.ts';
import { isWeftError } from '../../../agent/errors.ts';
import { exclusion, nodes, tally, TestNode } from './nodes.ts';

describe('P2cPicker (peak-EWMA)', () => {
  it('sends less traffic to an endpoint with a higher latency estimate', () => {
    const set = nodes(3);
    set[0]?.ewma.observe(300, 0); // 10× slower than the others' 30 ms default
    const picker = new P2cPicker<TestNode>('peak-ewma', seededRandom(1));
    const counts = tally(3_000, () => picker.pick(set, undefined, 0));
    const slow = counts.get('10.0.0.1:80') ?? 0;
    // The slow one wins only when drawn against... nothing: with 3 nodes it never wins a pair.
    assert.equal(slow, 0);
    assert.ok((counts.get('10.0.0.2:80') ?? 0) > 1_200 && (counts.get('10.0.0.3:80') ?? 0) > 1_200);
  });

  it('weighs pending requests: latency × (pending + 1)', () => {
    const [a, b] = nodes(2);
    assert.ok(a && b);
    b.pending = 1; // cost 60 vs 30
    const picker = new P2cPicker<TestNode>('peak-ewma', seededRandom(2));
    assert.equal(picker.pick([a, b], undefined, 0), a);
    a.ewma.observe(100, 0); // a costs 100 now, b 60
    assert.equal(picker.pick([a, b], undefined, 0), b);
  });
});

describe('P2cPicker (least-loaded)', () => {
  it('never picks the unique most loaded endpoint', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 20 }), { minLength: 2, maxLength: 12 }), fc.integer(), (loads, seed) => {
        const set = loads.map((pending, i) => Object.assign(new TestNode(`10.0.1.${i}:80`), { pending }));
        const max = Math.max(...loads);
        const unique = loads.filter((l) => l === max).length === 1;
        const picker = new P2cPicker<TestNode>('least-loaded', seededRandom(seed));
        const chosen = picker.pick(set, undefined, 0);
        assert.ok(chosen);
        if (unique) assert.notEqual(chosen.pending, max);
      }),
    );
  });

  it('spreads evenly over idle endpoints', () => {
    const set = nodes(4);
    const picker = new P2cPicker<TestNode>('least-loaded', seededRandom(3));
    const counts = tally(4_000, () => picker.pick(set, undefined, 0));
    for (const node of set) assert.ok((counts.get(node.key) ?? 0) > 850, `${node.key}: ${counts.get(node.key)}`);
  });
});

describe('P2C ejection, panic and exclusion', () => {
  it('skips ejected endpoints while at most half are ejected', () => {
    const set = nodes(4);
    set[0]!.up = false;
    set[1]!.up = false;
    const picker = new P2cPicker<TestNode>('peak-ewma', seededRandom(4));
    const counts = tally(500, () => picker.pick(set, undefined, 0));
    assert.deepEqual([...counts.keys()].sort(), ['10.0.0.3:80', '10.0.0.4:80']);
  });

  it('uses all endpoints once more than the panic threshold are ejected, rather than none', () => {
    const set = nodes(4);
    for (const node of set.slice(0, 3)) node.up = false;
    const picker = new P2cPicker<TestNode>('least-loaded', seededRandom(5));
    const counts = tally(2_000, () => picker.pick(set, undefined, 0));
    assert.equal(counts.size, 4, 'every endpoint, ejected or not, takes traffic in panic');
    const single = [new TestNode('10.0.0.9:80')];
    single[0]!.up = false;
    assert.equal(picker.pick(single, undefined, 0), single[0], 'a lone ejected endpoint is 100 % ejected: panic uses it');
  });

  it('returns nothing when everything is ejected and panic is disabled', () => {
    const set = nodes(3);
    for (const node of set) node.up = false;
    const picker = new P2cPicker<TestNode>('peak-ewma', seededRandom(6), { ...panicParams, panicThresholdPercent: 100 });
    assert.equal(picker.pick(set, undefined, 0), undefined);
    assert.equal(picker.pick([], undefined, 0), undefined);
  });

  it('avoids an endpoint this request already tried while another is available', () => {
    const set = nodes(2);
    const tried = exclusion(['10.0.0.1:80']);
    const picker = new P2cPicker<TestNode>('peak-ewma', seededRandom(7));
    for (let i = 0; i < 200; i++) assert.equal(picker.pick(set, tried, 0)?.key, '10.0.0.2:80');
  });

  it('goes back to a tried endpoint when it is the only one left, but not to an ejected one', () => {
    const set = nodes(3);
    set[2]!.up = false;
    const picker = new P2cPicker<TestNode>('peak-ewma', seededRandom(8));
    const tried = exclusion(['10.0.0.1:80', '10.0.0.2:80']);
    const counts = tally(300, () => picker.pick(set, tried, 0));
    assert.deepEqual([...counts.keys()].sort(), ['10.0.0.1:80', '10.0.0.2:80']);
  });

  it('picks a preferred endpoint whenever one exists and the balancer is not in panic', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ up: fc.boolean(), tried: fc.boolean(), pending: fc.nat({ max: 5 }) }), { minLength: 1, maxLength: 10 }),
        fc.integer(),
        fc.constantFrom('peak-ewma' as const, 'least-loaded' as const),
        (specs, seed, metric) => {
          const set = specs.map((s, i) => Object.assign(new TestNode(`10.0.2.${i}:80`), { up: s.up, pending: s.pending }));
          const tried = exclusion(set.filter((_, i) => specs[i]?.tried).map((n) => n.key));
          const picker = new P2cPicker<TestNode>(metric, seededRandom(seed));
          const chosen = picker.pick(set, tried, 0);
          const panic = collectCandidates(set, tried, panicParams.panicThresholdPercent, []);
          assert.ok(chosen, 'with panic at 50 % some endpoint is always usable');
          assert.ok(set.includes(chosen));
          if (!panic && set.some((n) => isPreferred(n, tried))) assert.ok(isPreferred(chosen, tried));
          if (!panic) assert.ok(chosen.up, 'an ejected endpoint only outside panic');
          if (set.some((n) => (panic || n.up) && !tried.has(n.key))) assert.ok(!tried.has(chosen.key));
        },
      ),
    );
  });

  it('rejects nonsense panic params', () => {
    assert.throws(() => new P2cPicker('peak-ewma', seededRandom(1), { panicThresholdPercent: 150, maxEffort: 5 }), isWeftError);
    assert.throws(() => new P2cPicker('peak-ewma', seededRandom(1), { panicThresholdPercent: 50, maxEffort: 0 }), isWeftError);
  });
});

describe('collectCandidates', () => {
  it('enters panic only strictly above the threshold', () => {
    const set = nodes(4);
    set[0]!.up = false;
    set[1]!.up = false;
    const out: TestNode[] = [];
    assert.equal(collectCandidates(set, undefined, 50, out), false);
    assert.equal(out.length, 2);
    set[2]!.up = false;
    assert.equal(collectCandidates(set, undefined, 50, out), true);
    assert.equal(out.length, 4);
    assert.equal(collectCandidates(set, undefined, 100, out), false);
    assert.equal(out.length, 1);
  });
});
